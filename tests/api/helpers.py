"""Small helpers shared by the API tests."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.fixtures.users import Account


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_file(
    client: FlaskClient, who: Account, path: str, data: bytes, **kwargs: object
) -> TestResponse:
    headers = {**who.headers, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return client.put(f"/api/fs/{path}", data=data, headers=headers, **kwargs)  # type: ignore[arg-type]


def stored_objects(app: Flask) -> list[Path]:
    """Every object in the local blob store (temp files included)."""
    root = Path(app.extensions["upload_service"].store.root)
    return sorted(path for path in root.rglob("*") if path.is_file())
