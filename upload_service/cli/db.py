"""`upload-service db upgrade` and `upload-service sweep`."""

from __future__ import annotations

import click

from upload_service.cli.context import open_database
from upload_service.db import Database
from upload_service.models import utcnow
from upload_service.runtime import Runtime
from upload_service.settings import load_settings
from upload_service.storage import open_blob_store
from upload_service.sweeper import sweep_once


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
@click.option(
    "--full",
    is_flag=True,
    help="Also list the storage for stray objects now (normally at most once an hour).",
)
def sweep(full: bool) -> None:
    """Run one sweep (expire temporary uploads and abandoned sessions, collect garbage)."""
    with open_database() as (settings, database):
        runtime = Runtime(settings=settings, db=database, store=open_blob_store(settings))
        report = sweep_once(runtime, utcnow(), full_scan=full)
    click.echo(report.summary())
