"""The totals behind /metrics, read straight from the service on SQLite and PostgreSQL."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.api.helpers import put_file
from tests.fixtures.users import Account
from upload_service.services.stats import stored_totals


def test_stored_totals_count_files_and_bytes_by_state_and_users(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    put_file(client, alice, "a.txt", b"a" * 10)
    put_file(client, alice, "b.txt", b"b" * 32)
    temporary = client.put(
        "/api/upload_temporary",
        json=[{"filename": "t.txt", "content": "dGVtcA=="}],  # "temp"
        headers=alice.headers,
    )
    assert temporary.status_code == 201, temporary.json

    with app.extensions["upload_service"].db.session() as session:
        totals = stored_totals(session)

    assert totals.files_by_state == {"complete": (2, 42), "temporary": (1, 4)}
    assert totals.users == 1
