"""Property-based tests of the HTTP contract: schemathesis against ``/api/openapi.json``.

Every operation of the document gets generated requests (valid and invalid ones), sent through
WSGI with Alice's bearer token; every response must not be a 5xx, must have a documented status
and must match the documented schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.helpers import put_file
from tests.fixtures.users import Account

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# tus chunks are raw bytes like application/octet-stream
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: this test is about the HTTP contract, not the database (the other API
    tests cover both backends), and one run already takes most of its time budget."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any]) -> dict[str, Any]:
    # Hundreds of requests a minute from one user would end in 429s and hide everything else.
    return {**app_overrides, "RATELIMIT_ENABLED": False}


@pytest.fixture
def api_schema(app: Flask, client: FlaskClient, alice: Account) -> Any:
    # The document's examples name these, so the explicit examples reach real objects.
    assert put_file(client, alice, "docs/report.pdf", b"%PDF-1.4 test").status_code == 201
    assert client.put("/api/folders/docs/2024", headers=alice.headers).status_code == 201
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,  # no .hypothesis/ in the checkout; a failure prints a curl command
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_contract(case: schemathesis.Case, alice: Account) -> None:
    case.call_and_validate(headers=alice.headers, checks=CHECKS)


# Found by the test above: the router answers before the view, so paths the view would
# normalise (a leading ``/``) or reject as bad input (a control character) get a 308 redirect
# with an HTML body, or a routing 404. Werkzeug merges the slashes after ``/api/fs/`` with a
# redirect, and the ``.`` in its ``path`` converter does not match a newline.
@pytest.mark.parametrize(
    ("method", "url", "status", "code"),
    [
        ("PUT", "/api/fs/a%0Ab.txt", 400, "invalid_path"),
        ("PUT", "/api/folders/%2Fp", 201, None),
        ("PUT", "/api/fs/docs//a.txt", 201, None),
        ("DELETE", "/api/fs/%2Fmissing", 404, "not_found"),
    ],
)
def test_odd_paths_reach_the_view(
    client: FlaskClient,
    alice: Account,
    method: str,
    url: str,
    status: int,
    code: str | None,
) -> None:
    response = client.open(url, method=method, data=b"x", headers=alice.headers)
    assert response.status_code == status, response.get_data(as_text=True)[:200]
    assert response.is_json
    if code is not None:
        assert response.json["code"] == code
