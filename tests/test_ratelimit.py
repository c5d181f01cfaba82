"""Rate limits: per user, per client IP when anonymous, 429 in the API's error shape."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.fixtures.users import Account
from upload_service.app import create_app
from upload_service.settings import SettingsError

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PUBLIC = "/api/openapi.json"  # rate limited, needs no credentials


@pytest.fixture
def three_per_minute(app_overrides: dict[str, Any]) -> dict[str, Any]:
    """A budget of three requests; list it before ``app``."""
    app_overrides.update(RATELIMIT_DEFAULT="3 per minute")
    return app_overrides


@pytest.fixture
def build_app(app_overrides: dict[str, Any]) -> Iterator[Callable[..., Flask]]:
    """Build (more) apps from ``app_overrides`` plus changes; they are disposed of afterwards."""
    built: list[Flask] = []

    def build(**changes: Any) -> Flask:
        app = create_app({**app_overrides, **changes})
        built.append(app)
        return app

    yield build
    for app in built:
        app.extensions["upload_service"].db.dispose()


def spend_budget(client: FlaskClient, path: str, **kwargs: Any) -> None:
    for _ in range(3):
        response = client.get(path, **kwargs)
        assert response.status_code != 429, response.json


def assert_rate_limited(response: TestResponse) -> None:
    assert response.status_code == 429
    assert response.json is not None
    assert response.json["success"] is False
    assert response.json["code"] == "rate_limited"
    assert "3 per minute" in response.json["error"]
    assert response.json["details"] == []
    assert 0 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_fourth_request_is_refused_with_json_and_retry_after(
    three_per_minute: dict[str, Any], client: FlaskClient, alice: Account
) -> None:
    first = client.get("/api/files", headers=alice.headers)
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Remaining"] == "2"
    assert "Retry-After" not in first.headers  # only a refusal says when to retry
    client.get("/api/me", headers=alice.headers)  # one budget, shared by every route
    client.get("/api/files", headers=alice.headers)
    assert_rate_limited(client.get("/api/files", headers=alice.headers))


def test_users_have_separate_budgets(
    three_per_minute: dict[str, Any], client: FlaskClient, alice: Account, bob: Account
) -> None:
    spend_budget(client, "/api/files", headers=alice.headers)
    assert_rate_limited(client.get("/api/files", headers=alice.headers))
    assert client.get("/api/files", headers=bob.headers).status_code == 200
    # Anonymous requests from the same address have their own budget too.
    assert client.get(PUBLIC).status_code == 200


def test_anonymous_requests_are_keyed_by_address(
    three_per_minute: dict[str, Any], client: FlaskClient
) -> None:
    here, there = {"REMOTE_ADDR": "192.0.2.10"}, {"REMOTE_ADDR": "192.0.2.11"}
    spend_budget(client, PUBLIC, environ_base=here)
    assert_rate_limited(client.get(PUBLIC, environ_base=here))
    assert client.get(PUBLIC, environ_base=there).status_code == 200


def test_forged_forwarded_for_is_ignored_without_trusted_proxies(
    three_per_minute: dict[str, Any], client: FlaskClient
) -> None:
    for n in range(3):
        client.get(PUBLIC, headers={"X-Forwarded-For": f"198.51.100.{n}"})
    forged = client.get(PUBLIC, headers={"X-Forwarded-For": "198.51.100.99"})
    assert_rate_limited(forged)


def test_forwarded_for_names_the_client_behind_one_trusted_proxy(
    three_per_minute: dict[str, Any], build_app: Callable[..., Flask]
) -> None:
    client = build_app(TRUSTED_PROXIES=1).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    behind = {"X-Forwarded-For": "203.0.113.7"}
    spend_budget(client, PUBLIC, headers=behind, environ_base=proxy)
    assert_rate_limited(client.get(PUBLIC, headers=behind, environ_base=proxy))
    # What the client itself put in the header comes before the proxy's entry: not trusted.
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    assert_rate_limited(client.get(PUBLIC, headers=spoofed, environ_base=proxy))
    other = {"X-Forwarded-For": "203.0.113.8"}
    assert client.get(PUBLIC, headers=other, environ_base=proxy).status_code == 200


def test_invalid_bearer_token_falls_back_to_the_address(
    three_per_minute: dict[str, Any], client: FlaskClient
) -> None:
    for token in ("us_not-a-real-token", "ghp_unknown", "x" * 600):
        response = client.get("/api/files", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, response.json
    assert_rate_limited(client.get(PUBLIC))  # the same address's budget


def test_probes_and_metrics_are_never_limited(
    three_per_minute: dict[str, Any], client: FlaskClient
) -> None:
    for _ in range(5):
        for path in ("/healthz", "/readyz", "/metrics"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert "X-RateLimit-Limit" not in response.headers
    spend_budget(client, PUBLIC)  # the probes took nothing from the budget


def test_rate_limits_can_be_turned_off(
    three_per_minute: dict[str, Any], build_app: Callable[..., Flask]
) -> None:
    client = build_app(RATELIMIT_ENABLED=False).test_client()
    for _ in range(5):
        response = client.get(PUBLIC)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers


def test_a_bad_limit_stops_start_up(build_app: Callable[..., Flask]) -> None:
    with pytest.raises(SettingsError, match="RATELIMIT_DEFAULT"):
        build_app(RATELIMIT_DEFAULT="lots")


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis at {REDIS_URL} is not reachable ({exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield client
    client.close()


def test_redis_storage_shares_the_budget_between_instances(
    three_per_minute: dict[str, Any], build_app: Callable[..., Flask], redis_client: redis.Redis
) -> None:
    prefix = f"upload-service-test-{secrets.token_hex(8)}"  # runs never share counters
    settings = {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix}
    first, second = build_app(**settings), build_app(**settings)
    try:
        assert first.test_client().get(PUBLIC).status_code == 200
        assert second.test_client().get(PUBLIC).status_code == 200
        assert first.test_client().get(PUBLIC).status_code == 200
        assert_rate_limited(second.test_client().get(PUBLIC))
        # The counters are in Redis, not in a per-process fallback.
        assert list(redis_client.scan_iter(match=f"*{prefix}*"))
    finally:
        for key in redis_client.scan_iter(match=f"*{prefix}*"):
            redis_client.delete(key)
