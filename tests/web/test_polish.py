"""What a new user notices first, on a desktop and a 390 px phone (issue #13 §5).

The token snippet is complete and runs as pasted; images show thumbnails (PNGs the server
made) in the list and on their page, other types their icon; times read as the locale's clock;
no type is smaller than 13 px; a share link is shown whole and copies; cards side by side are
equally high; a file's page fits a phone in well under two screens.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from tests.fixtures.github import FakeGitHub
from tests.fixtures.server import RunningServer
from tests.web.conftest import DESKTOP, new_account
from tests.web.helpers import (
    PHONE,
    SignedIn,
    gradient_png,
    minimal_pdf,
    put_file,
    screenshot,
    sign_in,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80" onload="window.pwned=1">'
    '<rect width="120" height="80" fill="#2f5bea"/><script>window.pwned = true</script></svg>'
)
# On a 390 px phone the page of a 480x300 image measured 1,871 px before the edit form was
# folded and the details went into two columns (2.2 screens of 844 px); now about 1,340 px.
# The bound leaves room for a longer name or description without allowing the old layout back.
PHONE_DETAIL_HEIGHT_LIMIT = 1450
SMALLEST_TYPE_PX = 13

# The smallest computed font-size of any element that shows text, and where it is.
SMALLEST_TEXT = """() => {
  let smallest = [Infinity, ""];
  for (const element of document.querySelectorAll("body *")) {
    const ownText = [...element.childNodes].some(
      (node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim());
    if (!ownText || element.closest(".visually-hidden")) continue;
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (!box.width || !box.height || style.visibility === "hidden") continue;
    const size = parseFloat(style.fontSize);
    if (size < smallest[0]) {
      const text = element.textContent.trim().slice(0, 40);
      smallest = [size, `${element.tagName.toLowerCase()}.${element.className}: ${text}`];
    }
  }
  return smallest;
}"""

# Every font-size app.css declares, in every media block, resolved in the page: a probe element
# gets the declared value inside a parent of 13 px (the worst case for em and % values).
DECLARED_FONT_SIZES = """() => {
  const sheet = [...document.styleSheets].find((s) => s.href && s.href.includes("app.css"));
  const values = [];
  const walk = (rules) => {
    for (const rule of rules) {
      if (rule.cssRules) walk(rule.cssRules);
      const size = rule.style && rule.style.fontSize;
      if (size) values.push([rule.selectorText || "", size]);
    }
  };
  walk(sheet.cssRules);
  const parent = document.createElement("div");
  parent.style.fontSize = "13px";
  const probe = document.createElement("span");
  parent.append(probe);
  document.body.append(parent);
  const resolved = values.map(([selector, value]) => {
    probe.style.fontSize = value;
    return [selector, value, parseFloat(getComputedStyle(probe).fontSize)];
  });
  parent.remove();
  return resolved;
}"""


def signed_in_with(
    new_context: Callable[..., BrowserContext],
    github: FakeGitHub,
    server: RunningServer,
    **options: Any,
) -> SignedIn:
    page = new_context(**options).new_page()
    return sign_in(page, github, new_account(), server.url)


def clipboard(page: Page) -> str:
    text: str = page.evaluate("navigator.clipboard.readText()")
    return text


# ------------------------------------------------------------------------------ the token page


def test_the_new_token_snippet_is_complete_copies_and_runs_as_pasted(
    signed_in: SignedIn, web_server: RunningServer, tmp_path: Path
) -> None:
    page = signed_in.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/tokens")
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New API token").input_value()

    snippet = page.locator("#new-token-snippet")
    expected = [
        f"export UPLOAD_SERVICE_URL={web_server.url} UPLOAD_SERVICE_TOKEN={token}",
        'upload-client login --url "$UPLOAD_SERVICE_URL" --token "$UPLOAD_SERVICE_TOKEN"',
        'curl -H "Authorization: Bearer $UPLOAD_SERVICE_TOKEN" "$UPLOAD_SERVICE_URL/api/me"',
    ]
    expect(snippet).to_have_text("\n".join(expected))
    page.locator(".token-created").get_by_role("button", name="Copy").nth(1).click()
    expect(page.locator(".token-created [data-copy-label]").nth(1)).to_have_text("Copied")
    pasted = clipboard(page)
    assert pasted == "\n".join(expected)
    screenshot(page, "polish-token-snippet")

    # pasted into a shell, every line works: the client saves the login, curl sees the user
    environment = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    shell = subprocess.run(
        ["bash", "-euc", pasted],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shell.returncode == 0, shell.stderr
    login = signed_in.account.login
    assert f"logged in to {web_server.url} as {login}" in shell.stdout
    assert f'"login":"{login}"' in shell.stdout.replace(" ", "")


# ------------------------------------------------------------------------------ thumbnails


def thumbnail_of(page: Page, name: str) -> Any:
    return page.locator(".file-row", has_text=name).locator("img.thumb")


def test_images_have_thumbnails_other_types_their_icon(signed_in: SignedIn) -> None:
    page = signed_in.page
    sunset = put_file(page, "photos/sunset.png", gradient_png())
    put_file(page, "photos/logo.svg", HOSTILE_SVG.encode())
    put_file(page, "photos/invoice.pdf", minimal_pdf("Invoice 42"))
    broken = put_file(page, "photos/broken.png", b"\x89PNG\r\n\x1a\n but not really a PNG")
    page.goto("/?folder=photos")

    image = thumbnail_of(page, "sunset.png")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [128, 80]
    response = page.request.get(image.get_attribute("src") or "")
    assert response.status == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.body().startswith(PNG_SIGNATURE)
    assert "immutable" in response.headers["cache-control"]  # the URL changes with the bytes

    # an SVG (scripts!) and a PDF keep their type icon: nothing of theirs is rendered
    for name in ("logo.svg", "invoice.pdf"):
        row = page.locator(".file-row", has_text=name)
        expect(row.locator("img")).to_have_count(0)
        expect(row.locator(".file-icon svg.icon")).to_be_visible()
    assert page.evaluate("window.pwned") is None
    # a broken image: no thumbnail (404, not an error page of ours) and the icon shows again
    expect(thumbnail_of(page, "broken.png")).to_have_count(0)
    broken_row = page.locator(".file-row", has_text="broken.png")
    expect(broken_row.locator(".file-icon svg.icon")).to_be_visible()
    assert page.request.get(f"/files/{broken['id']}/thumbnail").status == 404
    svg_id = page.locator(".file-row", has_text="logo.svg").get_attribute("data-file-id")
    assert page.request.get(f"/files/{svg_id}/thumbnail").status == 404
    screenshot(page, "polish-thumbnails")

    page.locator("#file-list").get_by_role("link", name="sunset.png").click()
    header = page.locator(".detail-title img.thumb")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=header.element_handle()
    )
    screenshot(page, "polish-thumbnail-detail")
    assert page.request.get(f"/files/{sunset['id']}/thumbnail").status == 200


def test_a_thumbnail_is_only_for_its_owner(
    signed_in: SignedIn,
    new_context: Callable[..., BrowserContext],
    fake_github_server: FakeGitHub,
    web_server: RunningServer,
) -> None:
    file = put_file(signed_in.page, "mine.png", gradient_png(40, 40))
    assert signed_in.page.request.get(f"/files/{file['id']}/thumbnail").ok
    other = signed_in_with(new_context, fake_github_server, web_server)
    assert other.page.request.get(f"/files/{file['id']}/thumbnail").status == 404
    anonymous = new_context().request.get(f"/files/{file['id']}/thumbnail", max_redirects=0)
    assert anonymous.status in (302, 401)


def test_thumbnails_on_a_phone(
    new_context: Callable[..., BrowserContext],
    fake_github_server: FakeGitHub,
    web_server: RunningServer,
) -> None:
    user = signed_in_with(new_context, fake_github_server, web_server, viewport=PHONE)
    page = user.page
    for number in range(3):
        put_file(page, f"shots/shot-{number}.png", gradient_png(300 + 100 * number, 300))
    page.goto("/?folder=shots")
    expect(page.locator(".file-row img.thumb")).to_have_count(3)
    for image in page.locator("img.thumb").all():
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        box = image.bounding_box()
        assert box is not None and 30 <= box["width"] <= 40  # the icon's square, covered
    screenshot(page, "polish-thumbnails-list", phone=False)
    user.assert_no_page_errors()


# ------------------------------------------------------------------------------ times


def timezone_with_a_single_digit_hour() -> str:
    """An IANA zone where it is now 1 to 9 o'clock (12-hour clock): padding would show."""
    hour = datetime.now(UTC).hour
    for offset in range(-12, 15):
        if 1 <= (hour + offset) % 12 <= 9:
            # Etc/GMT-3 is three hours *ahead* of UTC (POSIX sign)
            return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"
    raise AssertionError("unreachable")


def test_times_read_as_the_locales_clock(
    new_context: Callable[..., BrowserContext],
    fake_github_server: FakeGitHub,
    web_server: RunningServer,
) -> None:
    zone = timezone_with_a_single_digit_hour()
    american = signed_in_with(
        new_context, fake_github_server, web_server, locale="en-US", timezone_id=zone
    )
    put_file(american.page, "notes.txt", b"hello")
    american.page.goto("/")
    shown = american.page.locator(".file-row .col-date time")
    expect(shown).to_have_text(re.compile(r"^Today, [1-9]:[0-5]\d [AP]M$"))  # not "09:41 AM"

    british = signed_in_with(
        new_context, fake_github_server, web_server, locale="en-GB", timezone_id=zone
    )
    put_file(british.page, "notes.txt", b"hello")
    british.page.goto("/")
    clock = british.page.locator(".file-row .col-date time")
    expect(clock).to_have_text(re.compile(r"^Today, ([01]\d|2[0-3]):[0-5]\d$"))  # 24-hour
    assert clock.get_attribute("title")  # the full date and zone on hover
    american.assert_no_page_errors()
    british.assert_no_page_errors()


# ------------------------------------------------------------------------------ type sizes


def test_no_type_is_smaller_than_13_px_on_any_page_or_width(
    signed_in: SignedIn,
    new_context: Callable[..., BrowserContext],
) -> None:
    page = signed_in.page
    image = put_file(page, "photos/sunset.png", gradient_png())
    put_file(page, "notes/readme.md", b"# Hello\n")
    page.goto("/tokens")
    page.get_by_label("Name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token-snippet")).to_be_visible()

    declared = page.evaluate(DECLARED_FONT_SIZES)
    too_small = [(rule, value, px) for rule, value, px in declared if px < SMALLEST_TYPE_PX]
    assert len(declared) > 40 and not too_small, too_small

    pages = [
        "/",
        "/?group=type",
        "/?folder=photos",
        f"/files/{image['id']}",
        "/attach",
    ]  # not /api/docs: Redoc styles its own type (tests/web/test_api_docs.py covers that page)
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        for url in pages:
            page.goto(url)
            size, where = page.evaluate(SMALLEST_TEXT)
            assert size >= SMALLEST_TYPE_PX, f"{url} at {viewport['width']} px: {size} px {where}"
        page.goto("/tokens")
        page.get_by_label("Name").fill(f"ci-{viewport['width']}")
        page.get_by_role("button", name="Create token").click()
        expect(page.locator("#new-token-snippet")).to_be_visible()
        size, where = page.evaluate(SMALLEST_TEXT)
        assert size >= SMALLEST_TYPE_PX, f"/tokens at {viewport['width']} px: {size} px {where}"

    signed_out = new_context(viewport=PHONE).new_page()
    signed_out.goto("/login")
    size, where = signed_out.evaluate(SMALLEST_TEXT)
    assert size >= SMALLEST_TYPE_PX, f"/login: {size} px {where}"


# ------------------------------------------------------------------------------ share links


def test_the_share_link_is_shown_whole_and_copies_on_a_phone(
    new_context: Callable[..., BrowserContext],
    fake_github_server: FakeGitHub,
    web_server: RunningServer,
) -> None:
    user = signed_in_with(new_context, fake_github_server, web_server, viewport=PHONE)
    page = user.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    file = put_file(page, "minutes.txt", b"We agreed.\n")
    page.goto(f"/files/{file['id']}")
    page.get_by_role("button", name="Create link").click()

    link = page.get_by_label("Share link")
    expect(link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/api/links/"))
    url = link.input_value()
    fits = link.evaluate("f => [f.scrollWidth <= f.clientWidth, f.scrollHeight <= f.clientHeight]")
    assert fits == [True, True], "part of the link is hidden"
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.locator(".share-link").get_by_role("button", name="Copy").click()
    expect(page.locator(".share-link [data-copy-label]")).to_have_text("Copied")
    assert clipboard(page) == url
    screenshot(page, "polish-share-link", phone=False)
    user.assert_no_page_errors()


# ------------------------------------------------------------------------------ layout


def test_cards_side_by_side_are_equally_high(signed_in: SignedIn) -> None:
    page = signed_in.page
    page.goto("/tokens")
    cards = page.locator(".tokens-grid > .card")
    expect(cards).to_have_count(2)
    first, second = (card.bounding_box() for card in cards.all())
    assert first and second
    assert abs(first["y"] - second["y"]) < 1  # side by side
    assert abs(first["height"] - second["height"]) < 1, (first, second)


def test_a_files_page_fits_a_phone(
    new_context: Callable[..., BrowserContext],
    fake_github_server: FakeGitHub,
    web_server: RunningServer,
) -> None:
    user = signed_in_with(new_context, fake_github_server, web_server, viewport=PHONE)
    page = user.page
    file = put_file(page, "photos/sunset.png", gradient_png())
    page.goto(f"/files/{file['id']}")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0",
        arg=page.get_by_role("img", name="Preview of sunset.png").element_handle(),
    )

    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < PHONE_DETAIL_HEIGHT_LIMIT, f"{height} px high on a 390 px phone"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing sideways either
    screenshot(page, "polish-file-page", phone=False)

    # what is folded away is one tap away
    name = page.get_by_label("Name", exact=True)
    expect(name).to_be_hidden()
    page.get_by_text("Rename, move or describe").click()
    expect(name).to_be_visible()
    expect(name).to_have_value("sunset.png")
    user.assert_no_page_errors()
