"""``@pytest.mark.settings(NAME=value, ...)``: settings for the app of one test."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**values): settings overrides for the app")


@pytest.fixture
def app_overrides(
    app_overrides: dict[str, Any], database_url: str, request: pytest.FixtureRequest
) -> dict[str, Any]:
    # database_url is named here so that pytest still runs each test on every backend: it
    # does not look into the dependencies of a fixture that this one overrides.
    for marker in reversed(list(request.node.iter_markers("settings"))):
        app_overrides.update(marker.kwargs)
    return app_overrides
