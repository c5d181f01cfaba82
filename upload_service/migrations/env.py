"""Alembic environment: runs against the engine handed over by ``upload_service.db``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from upload_service.models import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    engine = context.config.attributes.get("engine")
    if engine is None:  # plain `alembic` invocation (e.g. autogenerate while developing)
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        context.run_migrations()


run_migrations()
