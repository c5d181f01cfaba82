"""``/api/docs`` in Chromium: Redoc renders the derived document, on a desktop and a phone."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.fixtures.server import RunningServer
from tests.web.helpers import PHONE, SCREENSHOTS, watch_for_problems

# Redoc's sidebar credit shows its logo from cdn.redoc.ly; our CSP blocks it (the credit stays
# as text). Any other blocked load is a failure.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def open_docs(context: BrowserContext, base_url: str) -> tuple[Page, list[str], list[str]]:
    """The docs page, anonymous, with the page's problems and every URL it got an answer from."""
    page = context.new_page()
    problems: list[str] = []
    requested: list[str] = []
    watch_for_problems(page, problems)
    page.on("response", lambda response: requested.append(response.url))
    page.goto("/api/docs")
    expect(page.get_by_role("heading", name="Upload files as base64 JSON")).to_be_visible()
    return page, problems, requested


def test_redoc_shows_every_tag_and_the_models_without_leaving_the_server(
    new_context: Callable[..., BrowserContext], web_server: RunningServer
) -> None:
    page, problems, requested = open_docs(new_context(), web_server.url)
    menu = page.locator(".menu-content")
    for tag in ("uploads", "files", "direct", "fs", "sync", "tus", "account"):
        expect(menu.get_by_text(tag, exact=True).first).to_be_visible()
    # A response body is shown as a model: FileOut's fields by name, not a raw JSON dump.
    section = page.locator("[id='tag/files/operation/get_files_file_id']")
    section.scroll_into_view_if_needed()
    expect(section.get_by_text("download_url", exact=True).first).to_be_visible()
    expect(section.get_by_text("sha256", exact=True).first).to_be_visible()
    # The curl sample names the token variable the tokens page exports.
    expect(section.get_by_text("$UPLOAD_SERVICE_TOKEN").first).to_be_attached()
    back = page.get_by_role("link", name="Back to the app")
    assert back.get_attribute("href") == "/"
    local = (web_server.url, f"blob:{web_server.url}", "data:")  # blob: is the search worker
    assert [url for url in requested if not url.startswith(local)] == []
    assert [problem for problem in problems if REDOC_LOGO not in problem] == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "api-docs-desktop.png")


def test_on_a_phone_the_docs_fit_the_screen_and_the_menu_opens(
    new_context: Callable[..., BrowserContext], web_server: RunningServer
) -> None:
    page, problems, _ = open_docs(new_context(viewport=PHONE, is_mobile=True), web_server.url)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"
    expect(page.get_by_role("link", name="Back to the app")).to_be_visible()
    menu = page.locator(".menu-content")
    account = menu.get_by_role("menuitem", name="account", exact=True)
    expect(account).not_to_be_in_viewport()
    page.locator(".menu-content + div").click()  # Redoc's floating menu button
    expect(account).to_be_in_viewport()
    account.click()
    menu.get_by_role("menuitem", name="Create an API token").click()
    expect(page.get_by_role("heading", name="Create an API token")).to_be_in_viewport()
    assert [problem for problem in problems if REDOC_LOGO not in problem] == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "api-docs-phone.png")
