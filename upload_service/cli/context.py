"""What the admin commands (``token``, ``user``) share: settings and a migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from upload_service.db import Database
from upload_service.settings import Settings, load_settings


@contextmanager
def open_database() -> Iterator[tuple[Settings, Database]]:
    """Settings from the environment and ``.env``, and the database (migrated if AUTO_MIGRATE)."""
    settings = load_settings()
    database = Database(settings.database_url)
    try:
        if settings.AUTO_MIGRATE:
            database.upgrade()
        yield settings, database
    finally:
        database.dispose()
