"""What the browser tests do again and again: sign in, seed files, read the list, screenshots."""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import ConsoleMessage, Error, Page, expect

from tests.fixtures.github import FakeAccount, FakeGitHub

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PHONE = {"width": 390, "height": 844}
ROW_NAMES = "#file-list .file-row .file-name"
# Console messages that mean the page broke its Content-Security-Policy (inline style/script).
_CSP_VIOLATION = re.compile(r"Content Security Policy|Refused to (apply|execute|load)")


@dataclass
class SignedIn:
    page: Page
    account: FakeAccount
    base_url: str
    problems: list[str] = field(default_factory=list)

    def assert_no_page_errors(self) -> None:
        """No uncaught script error and no CSP violation happened on the page."""
        assert not self.problems, self.problems


def watch_for_problems(page: Page, problems: list[str]) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if _CSP_VIOLATION.search(message.text):
            problems.append(f"CSP: {message.text}")

    def on_error(error: Error) -> None:
        problems.append(f"script error: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_error)


def sign_in(page: Page, github: FakeGitHub, account: FakeAccount, base_url: str) -> SignedIn:
    """Sign in the way a person does: the sign-in page, GitHub's authorize page, back."""
    user = SignedIn(page, account, base_url)
    watch_for_problems(page, user.problems)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    github.signing_in = account
    page.get_by_role("link", name="Sign in with GitHub").click()
    page.wait_for_url(f"{base_url}/")
    expect(page.locator(".account .login")).to_have_text(account.login)
    return user


def csrf_token(page: Page) -> str:
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    return token


def put_file(page: Page, path: str, content: bytes, **params: str) -> dict[str, Any]:
    """Upload through the API with the page's own session (cookie + CSRF header)."""
    response = page.request.put(
        f"/api/fs/{quote(path)}",
        data=content,
        params=params or None,
        headers={"X-CSRFToken": csrf_token(page)},
    )
    assert response.status in (200, 201), response.text()
    body: dict[str, Any] = response.json()
    return body


def api_get(page: Page, path: str, **params: str) -> Any:
    response = page.request.get(path, params=params or None)
    assert response.ok, response.text()
    return response.json()


def row_names(page: Page) -> list[str]:
    return page.locator(ROW_NAMES).all_inner_texts()


def expect_rows(page: Page, names: list[str]) -> None:
    """Wait for the file list to show exactly ``names`` (it updates asynchronously)."""
    expect(page.locator(ROW_NAMES)).to_have_text(names)


def mark_page(page: Page) -> None:
    """Tag the document, to tell later that it was not reloaded."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


def screenshot(page: Page, name: str, *, phone: bool = True) -> None:
    """Save ``name``-desktop.png (and -phone.png) under test-output/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png", full_page=True, animations="disabled")
    if phone:
        size = page.viewport_size
        page.set_viewport_size(PHONE)
        page.screenshot(
            path=SCREENSHOTS / f"{name}-phone.png", full_page=True, animations="disabled"
        )
        if size:
            page.set_viewport_size(size)


def write_file(directory: Path, name: str, content: bytes | str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def gradient_png(width: int = 480, height: int = 300) -> bytes:
    """A real PNG (a colour gradient), made without any imaging library."""
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter: none
        for x in range(width):
            row += bytes((40 + 180 * x // width, 90 + 120 * y // height, 230 - 100 * x // width))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(b"".join(rows))),
            _png_chunk(b"IEND", b""),
        )
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (Helvetica), with a correct cross-reference table."""
    stream = f"BT /F1 28 Tf 72 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    document = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(document))
        document += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(document)
    document += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    document += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    document += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return document
