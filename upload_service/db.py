"""Database engine, sessions and migrations."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, bindparam, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

ModelT = TypeVar("ModelT")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Database:
    """The engine and a session factory, created once per app."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time and its busy handler waits by sleeping (up to 100 ms
        # a try); queueing this process's writers on a lock instead keeps hot writes fast.
        self.write_lock: AbstractContextManager[object] = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session for work that reads, decides and writes, and must do so atomically.

        On SQLite it takes the database's write lock before the first read (``BEGIN
        IMMEDIATE``), so no other writer, in this process or another, can change what the
        decision was based on; it waits in this process's writer queue first. On PostgreSQL
        (READ COMMITTED) the caller locks the rows it decides on (``SELECT ... FOR UPDATE``).
        """
        with self.write_lock, self.session() as session:
            if self.engine.dialect.name == "sqlite":
                session.execute(text("BEGIN IMMEDIATE"))
            yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def upgrade(self) -> None:
        upgrade_database(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.drivername == "postgresql":  # prefer psycopg 3, which we ship
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations shipped inside the package."""
    command.upgrade(alembic_config(engine), revision)


def upsert_returning(
    session: Session,
    model: type[ModelT],
    row: dict[str, Any],
    conflict_columns: tuple[str, ...],
    update: tuple[str, ...],
) -> ModelT:
    """``INSERT ... ON CONFLICT (...) DO UPDATE SET ... RETURNING``: the row, new or existing.

    ``update`` names the columns an existing row takes from ``row``. One statement on SQLite and
    PostgreSQL alike; on PostgreSQL the conflicting row stays locked until the transaction ends,
    as ``SELECT ... FOR UPDATE`` would lock it.
    """
    dialect = session.get_bind().dialect.name
    shape = (tuple(row), conflict_columns, update)
    statement = _upsert_statement(model, dialect, *shape)  # type: ignore[arg-type]
    found: ModelT = session.scalars(statement, row).one()
    return found


@functools.cache
def _upsert_statement(
    model: type[Any],
    dialect: str,
    columns: tuple[str, ...],
    conflict_columns: tuple[str, ...],
    update: tuple[str, ...],
) -> Any:
    """Built once per shape: building a statement costs more than running it."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(model).values({name: bindparam(name) for name in columns})
    return (
        statement.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={name: statement.excluded[name] for name in update},
        )
        .returning(model)
        .execution_options(populate_existing=True)
    )


def insert_ignoring_conflicts(
    session: Session,
    model: type[Any],
    rows: list[dict[str, Any]],
    conflict_columns: list[str] | None = None,
) -> None:
    """``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL alike.

    With ``conflict_columns`` only a clash on that unique index is ignored; without, a clash on
    any unique index is. Rows that already exist (or that a concurrent transaction commits
    first) are left as they are: re-select them afterwards.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(model).values(rows)
    session.execute(statement.on_conflict_do_nothing(index_elements=conflict_columns))
