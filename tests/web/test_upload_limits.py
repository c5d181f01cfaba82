"""Errors on one file of an upload are shown on that file, with a way forward.

A second server with small limits: 1 MiB per file, 1.5 MiB of quota per user.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, expect

from tests.fixtures.github import FakeGitHub, _Certificate
from tests.fixtures.server import RunningServer
from tests.web.conftest import github_mode_server, new_account
from tests.web.helpers import SignedIn, api_get, csrf_token, expect_rows, sign_in, write_file

KIB = 1024


@pytest.fixture(scope="module")
def small_server(
    tmp_path_factory: pytest.TempPathFactory,
    fake_github_server: FakeGitHub,
    fake_github_certificate: _Certificate,
) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("small-server")
    with github_mode_server(
        directory,
        fake_github_server,
        fake_github_certificate,
        MAX_FILE_SIZE="1MiB",
        USER_QUOTA="1536KiB",
    ) as server:
        yield server


@pytest.fixture
def user(
    new_context: Callable[..., BrowserContext],
    small_server: RunningServer,
    fake_github_server: FakeGitHub,
) -> Iterator[SignedIn]:
    page = new_context(base_url=small_server.url).new_page()
    signed_in = sign_in(page, fake_github_server, new_account("limited"), small_server.url)
    yield signed_in
    signed_in.assert_no_page_errors()


def item(user: SignedIn, name: str) -> Locator:
    page = user.page
    return page.locator(".upload-item", has=page.locator(".upload-name", has_text=name))


def test_a_too_large_file_fails_alone_and_inline(user: SignedIn, tmp_path: Path) -> None:
    page = user.page
    expect(page.locator(".upload-panel")).to_contain_text("up to 1.0 MiB per file")
    big = write_file(tmp_path, "huge.bin", os.urandom(2 * 1024 * KIB))
    small = write_file(tmp_path, "small.txt", "fits\n")

    page.set_input_files("#upload-input", [big, small])

    failed = item(user, "huge.bin")
    expect(failed).to_have_attribute("data-state", "error")
    expect(failed.locator(".upload-message")).to_have_text(
        "Too large: 2.0 MiB, the limit is 1.0 MiB per file."
    )
    expect(failed.get_by_role("button", name="Retry")).to_have_count(0)
    expect(item(user, "small.txt")).to_have_attribute("data-state", "done")
    expect_rows(page, ["small.txt"])
    expect(page.locator("[data-upload-summary]")).to_have_text("1 upload needs attention")

    # A page older than the server's limit (or a tampered one) sends the file anyway: the
    # server refuses it and the refusal shows on the file the same way.
    page.locator("[data-uploader]").evaluate("panel => panel.removeAttribute('data-max-file-size')")
    page.set_input_files("#upload-input", big)
    refused = item(user, "huge.bin").first
    expect(refused).to_have_attribute("data-state", "error")
    expect(refused).to_have_attribute("data-code", "too_large")
    expect(refused.locator(".upload-message")).to_have_text(
        "Too large: the limit is 1.0 MiB per file."
    )


def test_over_quota_is_shown_inline_and_can_be_retried(user: SignedIn, tmp_path: Path) -> None:
    page = user.page
    first = write_file(tmp_path, "first.bin", os.urandom(900 * KIB))
    second = write_file(tmp_path, "second.bin", os.urandom(900 * KIB))
    page.set_input_files("#upload-input", first)
    expect(item(user, "first.bin")).to_have_attribute("data-state", "done")

    page.set_input_files("#upload-input", second)

    failed = item(user, "second.bin")
    expect(failed).to_have_attribute("data-state", "error")
    expect(failed).to_have_attribute("data-code", "quota_exceeded")
    expect(failed.locator(".upload-message")).to_have_text(
        "This would exceed your storage quota (636.0 KiB left)."
    )
    expect(failed.locator(".upload-message")).to_have_attribute("role", "alert")

    [stored] = api_get(page, "/api/files")["items"]  # make room, then retry the same file
    response = page.request.delete(
        f"/api/files/{stored['id']}",
        headers={"X-CSRFToken": csrf_token(page)},
    )
    assert response.status == 204
    failed.get_by_role("button", name="Retry").click()
    expect(failed).to_have_attribute("data-state", "done")
    expect_rows(page, ["second.bin"])
