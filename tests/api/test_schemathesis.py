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
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_contract(case: schemathesis.Case, alice: Account) -> None:
    case.call_and_validate(headers=alice.headers, checks=CHECKS)
