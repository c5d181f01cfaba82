"""Browser tests: Playwright driving Debian's Chromium against the real server.

The server is ``upload-service serve`` in a subprocess (tests.fixtures.server), in GitHub mode
against the fake GitHub, which it trusts through ``REQUESTS_CA_BUNDLE``; the browser accepts
the fake's self-signed certificate (``ignore_https_errors``). One browser and one server serve
the whole session; every test signs in as a GitHub account of its own, so it starts with an
empty file browser. Chromium is never downloaded: ``./dev test`` installs Debian's package.
"""

from __future__ import annotations

import itertools
import os
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.fixtures.github import FakeAccount, FakeGitHub, _Certificate
from tests.fixtures.server import RunningServer, running_server
from tests.web.helpers import SignedIn, sign_in

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
_account_ids = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/web/" in item.nodeid and "test_routes" not in item.nodeid:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `./dev test` installs it (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def fake_github_server(fake_github_certificate: _Certificate) -> Iterator[FakeGitHub]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(fake_github_certificate.cert_file, fake_github_certificate.key_file)
    fake = FakeGitHub()
    fake.start(context)
    yield fake
    fake.go_down()


@contextmanager
def github_mode_server(
    directory: Path, github: FakeGitHub, certificate: _Certificate, **settings: str
) -> Iterator[RunningServer]:
    """The real server in GitHub mode, trusting the fake GitHub's certificate."""
    values = {name: str(value) for name, value in github.settings().items()}
    values.update(
        REQUESTS_CA_BUNDLE=str(certificate.bundle_file),
        SECRET_KEY="web-tests-secret-key",
        WORKERS="1",  # two cores: one worker with threads is plenty
        THREADS="16",
        SWEEP_INTERVAL="0",
        RATELIMIT_ENABLED="false",
    )
    values.update(settings)
    with running_server(directory, **values) as server:
        yield server


@pytest.fixture(scope="session")
def web_server(
    tmp_path_factory: pytest.TempPathFactory,
    fake_github_server: FakeGitHub,
    fake_github_certificate: _Certificate,
) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("web-server")
    with github_mode_server(
        directory, fake_github_server, fake_github_certificate, MAX_FILE_SIZE="256MiB"
    ) as server:
        yield server


def new_account(label: str = "tester") -> FakeAccount:
    """A GitHub account nobody has used yet (so its file browser starts empty)."""
    number = next(_account_ids)
    login = f"{label}-{number}"
    return FakeAccount(
        id=900_000 + number,
        login=login,
        name=f"{label.title()} {number}",
        email=f"{login}@example.com",
        avatar_url=avatar_data_url(label[:1].upper()),
    )


def avatar_data_url(letter: str) -> str:
    """A tiny avatar (data: URLs are allowed by the page's img-src); no network needed."""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40">'
        '<rect width="40" height="40" fill="#7c5cff"/>'
        f'<text x="20" y="27" font-size="20" font-family="sans-serif" fill="#fff" '
        f'text-anchor="middle">{letter}</text></svg>'
    )
    return "data:image/svg+xml," + quote(svg)


@pytest.fixture
def new_context(
    chromium: Browser, web_server: RunningServer
) -> Iterator[Callable[..., BrowserContext]]:
    """Browser contexts for this test (closed afterwards), aimed at the web server."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        options.setdefault("base_url", web_server.url)
        context = chromium.new_context(ignore_https_errors=True, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def signed_in(
    new_context: Callable[..., BrowserContext],
    web_server: RunningServer,
    fake_github_server: FakeGitHub,
) -> Iterator[SignedIn]:
    """A new user, signed in through the fake GitHub, on an empty file browser."""
    context = new_context()
    page = context.new_page()
    user = sign_in(page, fake_github_server, new_account(), web_server.url)
    yield user
    user.assert_no_page_errors()


@pytest.fixture
def page(signed_in: SignedIn) -> Page:
    return signed_in.page
