"""Files by id: multipart upload, listing, metadata, rename, delete."""

from __future__ import annotations

import io

from flask.testing import FlaskClient

from tests.api.helpers import put_file
from tests.fixtures.users import Account


def _multipart(client: FlaskClient, who: Account, files: dict[str, bytes], **form: str):  # type: ignore[no-untyped-def]
    data: dict[str, object] = dict(form)
    data["file"] = [(io.BytesIO(content), name) for name, content in files.items()]
    return client.post(
        "/api/files", data=data, headers=who.headers, content_type="multipart/form-data"
    )


def test_multipart_upload_several_files(client: FlaskClient, alice: Account) -> None:
    response = _multipart(client, alice, {"a.png": b"png", "b.md": b"# b"}, folder="inbox")
    assert response.status_code == 201, response.json
    paths = [item["path"] for item in response.json["files"]]
    assert paths == ["inbox/a.png", "inbox/b.md"]
    assert response.json["files"][0]["content_type"] == "image/png"


def test_multipart_hostile_filename_and_missing_parts(client: FlaskClient, alice: Account) -> None:
    hostile = _multipart(client, alice, {"../../evil.sh": b"rm -rf"})
    assert hostile.status_code == 400
    empty = client.post("/api/files", data={}, headers=alice.headers)
    assert empty.status_code == 400
    assert client.get("/api/files", headers=alice.headers).json["items"] == []


def test_list_filters_sort_and_pages(client: FlaskClient, alice: Account) -> None:
    names = ["b.txt", "a.png", "c.py", "docs/d.pdf", "docs/e.zip", "docs/deep/f.mp3"]
    for index, name in enumerate(names):
        put_file(client, alice, name, b"x" * (index + 1))

    def paths(query: str) -> list[str]:
        response = client.get(f"/api/files?{query}", headers=alice.headers)
        assert response.status_code == 200, response.json
        return [item["path"] for item in response.json["items"]]

    assert paths("") == ["a.png", "b.txt", "c.py", "docs/d.pdf", "docs/e.zip", "docs/deep/f.mp3"]
    assert paths("folder=") == ["a.png", "b.txt", "c.py"]
    assert paths("folder=docs") == ["docs/d.pdf", "docs/e.zip"]
    assert paths("folder=docs&recursive=true") == ["docs/d.pdf", "docs/e.zip", "docs/deep/f.mp3"]
    assert paths("folder=unknown") == []
    assert paths("category=archive") == ["docs/e.zip"]
    assert paths("q=DOCS/D") == ["docs/d.pdf", "docs/deep/f.mp3"]
    assert paths("q=%25") == []  # LIKE wildcards are literal
    assert paths("sort=size&order=desc")[:2] == ["docs/deep/f.mp3", "docs/e.zip"]
    seen: list[str] = []
    cursor = None
    while True:
        query = "limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/files?{query}", headers=alice.headers).json
        seen += [item["path"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == paths("")


def test_list_rejects_bad_parameters(client: FlaskClient, alice: Account) -> None:
    for query in ["limit=0", "limit=1001", "sort=owner", "order=up", "category=nope", "cursor=@@"]:
        response = client.get(f"/api/files?{query}", headers=alice.headers)
        assert response.status_code == 400, query
        assert response.json["success"] is False


def test_get_patch_delete(client: FlaskClient, alice: Account) -> None:
    file_id = put_file(client, alice, "notes.txt", b"hi").json["id"]
    got = client.get(f"/api/files/{file_id}", headers=alice.headers)
    assert got.json["name"] == "notes.txt"
    patched = client.patch(
        f"/api/files/{file_id}",
        json={"path": "archive/2026/notes.md", "description": "old notes"},
        headers=alice.headers,
    )
    assert patched.status_code == 200, patched.json
    assert patched.json["folder"] == "archive/2026" and patched.json["description"] == "old notes"
    assert patched.json["category"] == "document"
    assert client.get("/api/folders/archive", headers=alice.headers).json["folders"] == [
        "archive/2026"
    ]
    put_file(client, alice, "other.txt", b"o")
    clash = client.patch(f"/api/files/{file_id}", json={"path": "other.txt"}, headers=alice.headers)
    assert clash.status_code == 409
    bad = client.patch(f"/api/files/{file_id}", json={"path": "../x"}, headers=alice.headers)
    assert bad.status_code == 400
    assert client.delete(f"/api/files/{file_id}", headers=alice.headers).status_code == 204
    assert client.get(f"/api/files/{file_id}", headers=alice.headers).status_code == 404


def test_other_users_ids_are_404(client: FlaskClient, alice: Account, bob: Account) -> None:
    file_id = put_file(client, alice, "mine.txt", b"mine").json["id"]
    for method, url, kwargs in [
        ("get", f"/api/files/{file_id}", {}),
        ("get", f"/api/files/{file_id}/content", {}),
        ("patch", f"/api/files/{file_id}", {"json": {"description": "pwned"}}),
        ("delete", f"/api/files/{file_id}", {}),
        ("post", f"/api/files/{file_id}/link", {"json": {"expires_in": 60}}),
    ]:
        response = getattr(client, method)(url, headers=bob.headers, **kwargs)
        assert response.status_code == 404, (method, url)
        assert response.json["code"] == "not_found"
    assert client.get(f"/api/files/{file_id}", headers=alice.headers).json["description"] == ""


def test_dedup_is_per_owner_and_delete_keeps_twin(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    first = put_file(client, alice, "one.bin", b"same bytes").json
    second = put_file(client, alice, "two.bin", b"same bytes").json
    put_file(client, bob, "bobs.bin", b"same bytes")
    assert client.delete(f"/api/files/{first['id']}", headers=alice.headers).status_code == 204
    assert (
        client.get(f"/api/files/{second['id']}/content", headers=alice.headers).data
        == b"same bytes"
    )
    assert client.get("/api/fs/bobs.bin", headers=bob.headers).data == b"same bytes"
