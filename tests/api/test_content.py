"""Downloads: ETag, 304, ranges, and never rendering uploads on our origin."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.api.helpers import put_file, sha256
from tests.fixtures.users import Account

DATA = bytes(range(256)) * 4


def _upload(client: FlaskClient, who: Account, path: str = "data.bin", data: bytes = DATA) -> str:
    return put_file(client, who, path, data).json["id"]


def test_full_download_headers(client: FlaskClient, alice: Account) -> None:
    file_id = _upload(client, alice)
    response = client.get(f"/api/files/{file_id}/content", headers=alice.headers)
    assert response.status_code == 200 and response.data == DATA
    assert response.headers["ETag"] == f'"{sha256(DATA)}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Last-Modified"]
    assert response.headers["Content-Disposition"].startswith('attachment; filename="data.bin"')
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox"


def test_if_none_match_gives_304(client: FlaskClient, alice: Account) -> None:
    file_id = _upload(client, alice)
    headers = {**alice.headers, "If-None-Match": f'"{sha256(DATA)}"'}
    response = client.get(f"/api/files/{file_id}/content", headers=headers)
    assert response.status_code == 304 and response.data == b""


def test_single_ranges(client: FlaskClient, alice: Account) -> None:
    file_id = _upload(client, alice)
    url = f"/api/files/{file_id}/content"
    cases = {"bytes=0-9": (0, 10), "bytes=1000-": (1000, 1024), "bytes=-4": (1020, 1024)}
    for header, (start, stop) in cases.items():
        response = client.get(url, headers={**alice.headers, "Range": header})
        assert response.status_code == 206, header
        assert response.data == DATA[start:stop]
        assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/1024"
    unsatisfiable = client.get(url, headers={**alice.headers, "Range": "bytes=5000-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["Content-Range"] == "bytes */1024"
    garbage = client.get(url, headers={**alice.headers, "Range": "lines=1-2"})
    assert garbage.status_code == 200 and garbage.data == DATA
    stale = client.get(url, headers={**alice.headers, "Range": "bytes=0-9", "If-Range": '"zz"'})
    assert stale.status_code == 200 and stale.data == DATA


def test_html_and_svg_never_render_on_our_origin(client: FlaskClient, alice: Account) -> None:
    for name, body in [
        ("x.html", b"<script>alert(1)</script>"),
        ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ]:
        file_id = _upload(client, alice, name, body)
        response = client.get(f"/api/files/{file_id}/content", headers=alice.headers)
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["Content-Security-Policy"] == "sandbox"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_unicode_and_hostile_filenames_in_disposition(client: FlaskClient, alice: Account) -> None:
    file_id = _upload(client, alice, 'r\u00e9sum\u00e9 "final".pdf', b"%PDF")
    header = client.get(f"/api/files/{file_id}/content", headers=alice.headers).headers[
        "Content-Disposition"
    ]
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf" in header
    assert "\r" not in header and "\n" not in header
