"""The one central object handed to views, commands and the sweeper (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from upload_service.db import Database
from upload_service.settings import Settings
from upload_service.storage.base import BlobStore


@dataclass
class Runtime:
    settings: Settings
    db: Database
    store: BlobStore


def get_runtime() -> Runtime:
    """The runtime of the current Flask app."""
    runtime: Runtime = current_app.extensions["upload_service"]
    return runtime
