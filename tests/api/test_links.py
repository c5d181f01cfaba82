"""Signed download links."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from tests.api.helpers import put_file
from tests.fixtures.users import Account
from upload_service.models import File, utcnow
from upload_service.services.links import sign_download_link


def test_link_downloads_without_credentials(client: FlaskClient, alice: Account) -> None:
    file_id = put_file(client, alice, "share.txt", b"shared").json["id"]
    response = client.post(
        f"/api/files/{file_id}/link", json={"expires_in": 600}, headers=alice.headers
    )
    assert response.status_code == 200, response.json
    url, expires_at = response.json["url"], response.json["expires_at"]
    assert url.startswith("http://localhost/") and expires_at.endswith("Z")
    download = client.get(url)
    assert download.status_code == 200 and download.data == b"shared"
    ranged = client.get(url, headers={"Range": "bytes=0-1"})
    assert ranged.status_code == 206 and ranged.data == b"sh"


def test_tampered_and_expired_links_are_403(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    first = put_file(client, alice, "a.txt", b"a").json["id"]
    second = put_file(client, alice, "b.txt", b"b").json["id"]
    url = client.post(
        f"/api/files/{first}/link", json={"expires_in": 600}, headers=alice.headers
    ).json["url"]
    token = url.rsplit("/", 1)[1]
    tampered = client.get(url[:-2] + ("AA" if not url.endswith("AA") else "BB"))
    assert tampered.status_code == 403 and tampered.json["code"] == "link_invalid"
    runtime = app.extensions["upload_service"]
    with runtime.db.session() as session:
        other = session.get(File, second)
        expired = sign_download_link("test-secret-key", other, utcnow() - timedelta(seconds=1))
        foreign = sign_download_link("another-instance-key", other, utcnow() + timedelta(hours=1))
    expired_response = client.get(f"/api/links/{expired}")
    assert expired_response.status_code == 403 and expired_response.json["code"] == "link_expired"
    assert client.get(f"/api/links/{foreign}").status_code == 403
    # re-pointing: a valid token's payload cannot be swapped without breaking the signature
    payload, _, signature = token.partition(".")
    assert client.get(f"/api/links/{payload}x.{signature}").status_code == 403


def test_link_expiry_bounds(client: FlaskClient, alice: Account) -> None:
    file_id = put_file(client, alice, "a.txt", b"a").json["id"]
    for expires_in in [0, -5, 604801]:
        response = client.post(
            f"/api/files/{file_id}/link", json={"expires_in": expires_in}, headers=alice.headers
        )
        assert response.status_code == 400, expires_in


def test_link_to_deleted_file_is_404(client: FlaskClient, alice: Account) -> None:
    file_id = put_file(client, alice, "a.txt", b"a").json["id"]
    url = client.post(
        f"/api/files/{file_id}/link", json={"expires_in": 60}, headers=alice.headers
    ).json["url"]
    client.delete(f"/api/files/{file_id}", headers=alice.headers)
    assert client.get(url).status_code == 404


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_gets_a_page_that_says_what_went_wrong_scripts_keep_json(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    file_id = put_file(client, alice, "gone.txt", b"g").json["id"]
    url = client.post(
        f"/api/files/{file_id}/link", json={"expires_in": 60}, headers=alice.headers
    ).json["url"]
    runtime = app.extensions["upload_service"]
    with runtime.db.session() as session:
        expired = sign_download_link(
            "test-secret-key", session.get(File, file_id), utcnow() - timedelta(seconds=1)
        )
    client.delete(f"/api/files/{file_id}", headers=alice.headers)
    cases = {
        f"/api/links/{expired}": (403, "This link has expired"),
        "/api/links/not-a-token": (403, "This link is not valid"),
        url: (404, "The file is gone"),
    }

    for link, (status, heading) in cases.items():
        page = client.get(link, headers={"Accept": BROWSER_ACCEPT})
        script = client.get(link, headers={"Accept": "*/*"})
        assert page.status_code == status and page.mimetype == "text/html"
        assert heading in page.get_data(as_text=True)
        assert script.status_code == status and script.mimetype == "application/json"
        assert script.json["code"] in ("link_expired", "link_invalid", "not_found")
