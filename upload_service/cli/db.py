"""`upload-service db upgrade` and `upload-service sweep`."""

from __future__ import annotations

import click

from upload_service.db import Database
from upload_service.settings import load_settings


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
def upgrade() -> None:
    """Apply the database migrations."""
    settings = load_settings()
    database = Database(settings.database_url)
    database.upgrade()
    click.echo("database is up to date")


@click.command()
def sweep() -> None:
    """Run one sweep (expire temporary uploads and abandoned sessions, collect garbage)."""
    click.echo("nothing to sweep yet")
