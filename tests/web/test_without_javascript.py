"""Plain upload and listing work with JavaScript switched off (plain forms and links)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.fixtures.github import FakeGitHub
from tests.fixtures.server import RunningServer
from tests.web.conftest import new_account
from tests.web.helpers import SignedIn, row_names, screenshot, sign_in, write_file


@pytest.fixture
def no_js(
    new_context: Callable[..., BrowserContext],
    web_server: RunningServer,
    fake_github_server: FakeGitHub,
) -> Iterator[SignedIn]:
    page = new_context(java_script_enabled=False).new_page()
    user = sign_in(page, fake_github_server, new_account("plain"), web_server.url)
    yield user
    user.assert_no_page_errors()


def upload(page: Page, *files: Path, on_conflict: str = "error") -> None:
    page.set_input_files("#upload-input", list(files))
    page.get_by_label("If a name is taken").select_option(on_conflict)
    page.locator(".dropzone").get_by_role("button", name="Upload").click()


def test_upload_and_list_without_javascript(no_js: SignedIn, tmp_path: Path) -> None:
    page = no_js.page
    expect(page.locator("#upload-input")).to_be_visible()  # the browser's own file control
    expect(page.get_by_role("button", name="Apply")).to_be_visible()

    upload(page, write_file(tmp_path, "a.txt", "A\n"), write_file(tmp_path, "b.md", "# B\n"))

    expect(page.get_by_role("status")).to_have_text("Uploaded 2 files: a.txt, b.md.")
    assert row_names(page) == ["a.txt", "b.md"]
    screenshot(page, "browser-no-javascript", phone=False)

    upload(page, write_file(tmp_path, "a.txt", "A again\n"))
    expect(page.locator(".dropzone .error")).to_have_text("A file already exists at a.txt.")
    upload(page, write_file(tmp_path, "a.txt", "A again\n"), on_conflict="rename")
    expect(page.get_by_role("status")).to_have_text("Uploaded 1 file: a (1).txt.")

    page.get_by_label("Search files").fill("a")
    page.get_by_label("File type").select_option("code")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"q=a&category=code"))
    page.get_by_label("File type").select_option("")
    page.get_by_label("Search files").fill(".txt")
    page.get_by_role("button", name="Apply").click()
    assert row_names(page) == ["a (1).txt", "a.txt"]


def test_pages_of_files_are_plain_links(no_js: SignedIn, tmp_path: Path) -> None:
    page = no_js.page
    upload(page, *[write_file(tmp_path, f"file-{n:02}.txt", f"{n}\n") for n in range(55)])
    assert len(row_names(page)) == 50

    page.get_by_role("link", name="More files").click()

    assert row_names(page) == [f"file-{n:02}.txt" for n in range(50, 55)]
    page.get_by_role("link", name="Back to the first page").click()
    assert len(row_names(page)) == 50


def test_attach_form_without_javascript(no_js: SignedIn, tmp_path: Path) -> None:
    page = no_js.page
    page.goto("/attach")
    page.set_input_files("#attach-input", write_file(tmp_path, "receipt.txt", "12 EUR\n"))
    page.get_by_role("textbox", name="Folder").fill("receipts")
    page.get_by_label("Description").fill("Lunch")
    page.get_by_role("button", name="Save files").click()

    expect(page.get_by_role("status")).to_have_text("Saved 1 file to receipts.")
    assert row_names(page) == ["receipt.txt"]
    expect(page.locator(".file-description")).to_have_text("Lunch")
