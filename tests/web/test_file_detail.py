"""One file: safe previews, details, rename/move, share link, delete."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.web.helpers import (
    SignedIn,
    api_get,
    gradient_png,
    minimal_pdf,
    put_file,
    row_names,
    screenshot,
)

HOSTILE_HTML = (
    "<h1 id='injected'>Injected</h1>\n"
    "<script>window.pwned = true</script>\n"
    "<img src=x onerror='window.pwned = true'>\n"
)
HOSTILE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80" onload="window.pwned=1">'
    '<rect width="120" height="80" fill="#2f5bea"/><script>window.pwned = true</script></svg>'
)


def open_file(page: Page, file_id: str) -> None:
    page.goto(f"/files/{file_id}")


def test_image_preview_comes_from_the_content_route(signed_in: SignedIn) -> None:
    page = signed_in.page
    file = put_file(page, "photos/sunset.png", gradient_png())
    page.goto("/?folder=photos")
    page.locator("#file-list").get_by_role("link", name="sunset.png").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("sunset.png")
    image = page.get_by_role("img", name="Preview of sunset.png")
    expect(image).to_have_attribute("src", f"/api/files/{file['id']}/content")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 480", arg=image.element_handle()
    )
    details = page.locator("dl.details")
    expect(details).to_contain_text("image/png")
    expect(details).to_contain_text(file["sha256"])
    expect(details).to_contain_text("53.1 KiB")
    expect(page.locator(".breadcrumbs li")).to_have_text(["My files", "photos", "sunset.png"])
    expect(page.get_by_role("link", name="Download")).to_have_attribute(
        "href", f"/api/files/{file['id']}/content"
    )
    screenshot(page, "file-detail")


def test_text_preview_is_escaped_and_only_the_start(signed_in: SignedIn) -> None:
    page = signed_in.page
    hostile = put_file(page, "page.html", HOSTILE_HTML.encode())
    open_file(page, hostile["id"])

    expect(page.locator(".preview-text")).to_have_text(HOSTILE_HTML)
    expect(page.locator("#injected")).to_have_count(0)
    assert page.evaluate("window.pwned") is None

    long_text = "".join(f"line {number:06}\n" for number in range(10_000))  # 120 kB
    long = put_file(page, "log.txt", long_text.encode())
    open_file(page, long["id"])
    shown = page.locator(".preview-text").inner_text()
    assert long_text.startswith(shown) and 60_000 < len(shown) <= 64 * 1024
    expect(page.locator(".preview-note")).to_contain_text("Showing the first 64 KiB")
    screenshot(page, "file-detail-text", phone=False)


def test_svg_is_shown_only_inside_an_img_and_downloads_as_an_attachment(
    signed_in: SignedIn,
) -> None:
    page = signed_in.page
    svg = put_file(page, "logo.svg", HOSTILE_SVG.encode())
    open_file(page, svg["id"])

    image = page.locator(".preview img")
    expect(image).to_have_attribute("src", f"/api/files/{svg['id']}/content")
    assert page.evaluate("window.pwned") is None
    content = page.request.get(f"/api/files/{svg['id']}/content")
    assert content.headers["content-disposition"].startswith("attachment;")
    assert content.headers["content-security-policy"] == "sandbox"
    assert content.headers["x-content-type-options"] == "nosniff"
    # the inline route serves PDFs only: never SVG or HTML on our origin
    assert page.request.get(f"/files/{svg['id']}/inline").status == 404


def test_pdf_preview_is_framed_from_the_inline_route(signed_in: SignedIn) -> None:
    page = signed_in.page
    pdf = put_file(page, "invoice.pdf", minimal_pdf("Invoice 42"))
    open_file(page, pdf["id"])

    frame = page.locator("iframe.preview-pdf")
    expect(frame).to_have_attribute("src", f"/files/{pdf['id']}/inline")
    response = page.request.get(f"/files/{pdf['id']}/inline")
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline;")
    assert response.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    page.wait_for_timeout(1000)  # let the viewer draw, for the screenshot
    screenshot(page, "file-detail-pdf", phone=False)


def test_rename_move_and_describe(signed_in: SignedIn) -> None:
    page = signed_in.page
    file = put_file(page, "scan001.jpg", gradient_png())
    open_file(page, file["id"])
    expect(page.get_by_label("Name", exact=True)).to_be_hidden()  # folded until wanted
    page.get_by_text("Rename, move or describe").click()

    page.get_by_label("Name", exact=True).fill("passport.jpg")
    page.get_by_role("textbox", name="Folder").fill("documents/travel")
    page.get_by_label("Description").fill("Renewed in March")
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text("passport.jpg")
    expect(page.locator(".breadcrumbs li")).to_have_text(
        ["My files", "documents", "travel", "passport.jpg"]
    )
    expect(page.locator("dl.details .description")).to_have_text("Renewed in March")
    assert api_get(page, f"/api/files/{file['id']}")["path"] == "documents/travel/passport.jpg"
    page.locator(".breadcrumbs").get_by_role("link", name="travel").click()
    assert row_names(page) == ["passport.jpg"]
    expect(page.locator("#file-list .file-description")).to_have_text("Renewed in March")


def test_rename_onto_an_existing_name_is_refused_inline(signed_in: SignedIn) -> None:
    page = signed_in.page
    put_file(page, "taken.txt", b"1")
    file = put_file(page, "mine.txt", b"2")
    open_file(page, file["id"])
    page.get_by_text("Rename, move or describe").click()

    page.get_by_label("Name", exact=True).fill("taken.txt")
    page.get_by_role("button", name="Save changes").click()

    error = page.locator("#file-detail form .form-errors .error")
    expect(error).to_have_text("A file already exists at taken.txt.")
    expect(error).to_have_attribute("role", "alert")
    expect(page.get_by_role("heading", level=1)).to_have_text("mine.txt")  # nothing replaced
    assert api_get(page, f"/api/files/{file['id']}")["name"] == "mine.txt"


def test_share_link_opens_the_file_without_an_account(
    signed_in: SignedIn, new_context: Callable[..., BrowserContext], tmp_path: Path
) -> None:
    page = signed_in.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    file = put_file(page, "minutes.txt", b"We agreed on everything.\n")
    open_file(page, file["id"])

    page.get_by_label("Expires after").select_option(label="1 hour")
    page.get_by_role("button", name="Create link").click()
    link = page.get_by_label("Share link")
    expect(link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/api/links/"))
    expect(page.locator(".share-link")).to_contain_text("Works until")
    page.locator(".share-link").get_by_role("button", name="Copy").click()
    expect(page.locator(".share-link [data-copy-label]")).to_have_text("Copied")
    url = link.input_value()
    assert page.evaluate("navigator.clipboard.readText()") == url

    stranger = new_context(accept_downloads=True)  # a fresh browser: no cookies at all
    assert stranger.cookies() == []
    visitor = stranger.new_page()
    with visitor.expect_download() as download_info:
        visitor.evaluate("url => { window.location.href = url }", url)
    download = download_info.value
    assert download.suggested_filename == "minutes.txt"
    saved = tmp_path / "downloaded.txt"
    download.save_as(saved)
    assert saved.read_text() == "We agreed on everything.\n"
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert stranger.request.get(tampered).status == 403


def test_delete_asks_for_confirmation(signed_in: SignedIn) -> None:
    page = signed_in.page
    put_file(page, "keep.txt", b"keep")
    file = put_file(page, "old/obsolete.txt", b"bye")
    open_file(page, file["id"])

    confirm = page.get_by_role("button", name="Delete permanently")
    expect(confirm).to_be_hidden()
    page.get_by_text("Delete this file…").click()
    expect(page.locator(".confirm-body")).to_contain_text("Delete obsolete.txt permanently?")
    confirm.click()

    expect(page).to_have_url(re.compile(r"/\?folder=old$"))
    expect(page.get_by_role("status")).to_have_text("Deleted obsolete.txt.")
    expect(page.get_by_role("heading", name="This folder is empty")).to_be_visible()
    gone = page.goto(f"/files/{file['id']}")
    assert gone is not None and gone.status == 404
    expect(page.get_by_role("alert")).to_have_text("No such file.")
    assert [item["name"] for item in api_get(page, "/api/files")["items"]] == ["keep.txt"]
