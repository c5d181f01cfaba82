"""The web routes without a browser: fragments, safe content headers, no-JS forms, previews.

These run against the Flask app on every database backend; the browser tests cover the rest.
"""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.auth.helpers import htmx_csrf_token, sign_in_with_cookie
from tests.fixtures.app import runtime
from tests.fixtures.users import Account
from upload_service.services.previews import preview_kind, read_text_preview
from upload_service.web.listing import BrowseParams, parse_browse_params

HTMX = {"HX-Request": "true"}


@pytest.fixture
def signed_in_client(client: FlaskClient, alice: Account) -> FlaskClient:
    sign_in_with_cookie(client, alice.id)
    return client


def put(client: FlaskClient, alice: Account, path: str, data: bytes) -> dict[str, str]:
    response = client.put(f"/api/fs/{path}", data=data, headers=alice.headers)
    assert response.status_code == 201, response.json
    body: dict[str, str] = response.json  # type: ignore[assignment]
    return body


def test_search_answers_htmx_with_the_list_fragment_only(
    signed_in_client: FlaskClient, alice: Account
) -> None:
    put(signed_in_client, alice, "docs/plan.txt", b"plan")
    put(signed_in_client, alice, "other.txt", b"other")

    response = signed_in_client.get("/?q=plan", headers={**HTMX, "HX-Target": "file-list"})

    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert text.lstrip().startswith('<section id="file-list"') and "<html" not in text
    assert "plan.txt" in text and "other.txt" not in text
    assert "in docs" in text  # search looks through folders and says where a file is
    assert 'id="usage" title="Storage used" hx-swap-oob="true"' in text
    assert {"HX-Request", "HX-Target"} <= set(response.vary)


def test_the_next_page_comes_as_rows(signed_in_client: FlaskClient, alice: Account) -> None:
    for number in range(52):
        put(signed_in_client, alice, f"f{number:02}.txt", b"x")
    page = signed_in_client.get("/").get_data(as_text=True)
    [next_url] = re.findall(r'<tr id="load-more" class="more-row" hx-get="([^"]+)"', page)

    rows = signed_in_client.get(
        next_url.replace("&amp;", "&"), headers={**HTMX, "HX-Target": "load-more"}
    ).get_data(as_text=True)

    assert rows.lstrip().startswith("<tr") and "<section" not in rows
    assert re.findall(r'class="file-name">([^<]+)<', rows) == ["f50.txt", "f51.txt"]
    assert 'id="load-more"' not in rows


def test_the_inline_route_serves_pdf_only(signed_in_client: FlaskClient, alice: Account) -> None:
    pdf = put(signed_in_client, alice, "a.pdf", b"%PDF-1.4\n%%EOF\n")
    html = put(signed_in_client, alice, "a.html", b"<script>alert(1)</script>")
    svg = put(signed_in_client, alice, "a.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")

    response = signed_in_client.get(f"/files/{pdf['id']}/inline")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["Content-Security-Policy"].startswith("sandbox;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    for other in (html, svg):
        assert signed_in_client.get(f"/files/{other['id']}/inline").status_code == 404


def test_htmx_edit_errors_are_fragments(signed_in_client: FlaskClient, alice: Account) -> None:
    put(signed_in_client, alice, "taken.txt", b"1")
    mine = put(signed_in_client, alice, "mine.txt", b"2")
    token = htmx_csrf_token(signed_in_client)

    response = signed_in_client.post(
        f"/files/{mine['id']}/edit",
        data={"name": "taken.txt", "folder": "", "description": ""},
        headers={**HTMX, "X-CSRFToken": token},
    )

    assert response.status_code == 409
    assert response.get_data(as_text=True).startswith('<div class="error" role="alert"')


def test_plain_upload_form(signed_in_client: FlaskClient) -> None:
    token = htmx_csrf_token(signed_in_client)
    form = {"csrf_token": token, "folder": "in", "on_conflict": "error"}

    stored = signed_in_client.post(
        "/upload", data={**form, "file": (io.BytesIO(b"hello"), "hello.txt")}
    )
    assert stored.status_code == 302
    assert stored.headers["Location"] == "/?folder=in"

    empty = signed_in_client.post("/upload", data=form)
    assert empty.status_code == 400
    assert "Choose one or more files to upload." in empty.get_data(as_text=True)

    unprotected = signed_in_client.post(
        "/upload", data={"folder": "in", "file": (io.BytesIO(b"x"), "x.txt")}
    )
    assert unprotected.status_code == 400  # no CSRF token, no upload


def test_attach_then_submit(signed_in_client: FlaskClient, alice: Account) -> None:
    token = htmx_csrf_token(signed_in_client)
    chip = signed_in_client.post(
        "/attach/files",
        data={"file": (io.BytesIO(b"scan"), "scan.txt")},
        headers={**HTMX, "X-CSRFToken": token},
    )
    assert chip.status_code == 201
    [upload] = re.findall(r'name="upload" value="([^"]+)"', chip.get_data(as_text=True))
    listed = signed_in_client.get("/api/files", headers=alice.headers).json
    assert listed is not None and listed["items"] == []

    saved = signed_in_client.post(
        "/attach",
        data={"csrf_token": token, "upload": upload, "folder": "box", "description": "d"},
    )

    assert saved.status_code == 302
    files = signed_in_client.get("/api/files", headers=alice.headers).json
    assert files is not None
    assert [(f["path"], f["description"]) for f in files["items"]] == [("box/scan.txt", "d")]


def test_a_new_token_is_never_cached(signed_in_client: FlaskClient) -> None:
    token = htmx_csrf_token(signed_in_client)
    response = signed_in_client.post(
        "/tokens", data={"csrf_token": token, "name": "cli", "expires_in": ""}
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert re.search(r'value="us_[\w-]+"', response.get_data(as_text=True))


def test_text_preview_reads_a_bounded_prefix(app: Flask) -> None:
    store = runtime(app).store
    text = "é" * 40_000  # 80,000 bytes: the limit falls inside a character
    store.put("blobs/preview-test", io.BytesIO(text.encode()))
    preview = read_text_preview(store, "blobs/preview-test", len(text.encode()), limit=65_537)
    assert preview is not None and preview.truncated
    assert preview.text == "é" * 32_768  # the half character is dropped, not garbled

    store.put("blobs/binary-test", io.BytesIO(b"\x89PNG\x00\x00"))
    assert read_text_preview(store, "blobs/binary-test", 6) is None


@pytest.mark.parametrize(
    ("content_type", "category", "kind"),
    [
        ("image/svg+xml", "image", "image"),
        ("text/html", "code", "text"),
        ("application/json", "code", "text"),
        ("application/pdf", "document", "pdf"),
        ("video/mp4", "video", "video"),
        ("application/zip", "archive", None),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "document",
            None,
        ),
    ],
)
def test_preview_kinds(content_type: str, category: str, kind: str | None) -> None:
    assert preview_kind(content_type, category) == kind


def test_browse_params_fall_back_to_defaults() -> None:
    params = parse_browse_params({"sort": "evil", "category": "nope", "group": "type", "q": " x "})
    assert params == BrowseParams(q="x", group=True)
    assert params.url_args() == {"q": "x", "group": "type"}
    assert parse_browse_params({"sort": "-size"}).order == "desc"


def test_a_plain_upload_body_is_bounded_before_it_is_read(
    small_limits: dict[str, object], signed_in_client: FlaskClient
) -> None:
    token = htmx_csrf_token(signed_in_client)
    # 40 files of 60 KiB: each under MAX_FILE_SIZE (64 KiB), together far over it
    parts = [(io.BytesIO(b"x" * 60 * 1024), f"part-{n}.bin") for n in range(40)]

    response = signed_in_client.post("/upload", data={"csrf_token": token, "file": parts})

    # refused whole before anything parsed (and spooled) it, not file by file afterwards
    assert response.status_code == 413
    assert "larger than the limit" not in response.get_data(as_text=True)
