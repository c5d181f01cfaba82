"""Signing in through (fake) GitHub, the signed-in header, signing out."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import BrowserContext, expect

from tests.fixtures.github import FakeGitHub
from tests.fixtures.server import RunningServer
from tests.web.conftest import new_account
from tests.web.helpers import SignedIn, screenshot, sign_in, watch_for_problems


def test_first_sign_in_lands_on_an_empty_file_browser(
    new_context: Callable[..., BrowserContext],
    web_server: RunningServer,
    fake_github_server: FakeGitHub,
) -> None:
    page = new_context().new_page()
    problems: list[str] = []
    watch_for_problems(page, problems)

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Upload Service")
    expect(page.locator(".signin .lead")).to_contain_text("upload files")
    expect(page.get_by_role("link", name="Sign in with GitHub")).to_be_visible()
    screenshot(page, "sign-in")

    account = new_account("octo")
    user = sign_in(page, fake_github_server, account, web_server.url)

    header = page.locator(".site-header")
    expect(header.locator("img.avatar")).to_have_attribute("src", account.avatar_url or "")
    expect(header.locator(".login")).to_have_text(account.login)
    expect(header.locator("#usage")).to_contain_text("0 B of unlimited")
    expect(header.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("heading", name="No files yet")).to_be_visible()
    expect(page.get_by_text("Drag files onto this page")).to_be_visible()
    screenshot(page, "browser-empty")
    assert problems == [] and user.problems == []


def test_sign_out_ends_the_session(signed_in: SignedIn) -> None:
    page = signed_in.page
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
