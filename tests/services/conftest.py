"""The services called directly: a real Runtime (no Flask app) on SQLite and PostgreSQL, with
local-disk storage under ``tmp_path``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.services.helpers import make_user
from upload_service.db import Database, make_engine, upgrade_database
from upload_service.models import User
from upload_service.runtime import Runtime
from upload_service.settings import load_settings
from upload_service.storage import open_blob_store


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test instead of migrating each time."""
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()  # the last connection closing folds the WAL into the file
    return path


@pytest.fixture
def runtime(database_url: str, tmp_path: Path, migrated_sqlite: Path) -> Iterator[Runtime]:
    """What ``create_app`` builds, minus Flask; a test may change ``runtime.settings``."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        shutil.copyfile(migrated_sqlite, url.database)
    settings = load_settings(
        {
            "DATA_DIR": tmp_path / "data",
            "DATABASE_URL": database_url,
            "SWEEP_INTERVAL": 0,
            "SECRET_KEY": "test-secret-key",
        },
        env_file=None,
    )
    built = Runtime(
        settings=settings, db=Database(settings.database_url), store=open_blob_store(settings)
    )
    built.db.upgrade()  # a no-op on the copy and on the session's PostgreSQL database
    yield built
    built.db.dispose()


@pytest.fixture
def owner(runtime: Runtime) -> User:
    return make_user(runtime, "olivia")


@pytest.fixture
def stranger(runtime: Runtime) -> User:
    return make_user(runtime, "sam")
