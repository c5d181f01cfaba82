"""services.links: signed download links work without credentials until they expire."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.services.helpers import ago, ingest
from upload_service.errors import BadRequest, Forbidden, NotFound
from upload_service.models import File, User, utcnow
from upload_service.runtime import Runtime
from upload_service.services.links import (
    create_download_link,
    link_expiry,
    sign_download_link,
    verify_download_link,
)

KEY = "test-secret-key"


def local_url(token: str) -> str:
    return f"https://files.example/l/{token}"


@pytest.fixture
def file(runtime: Runtime, owner: User) -> File:
    [stored] = ingest(runtime, owner, {"report.pdf": b"%PDF-1.7"})
    return stored


def test_a_signed_link_names_its_file_and_owner(file: File) -> None:
    token = sign_download_link(KEY, file, utcnow() + timedelta(minutes=5))

    target = verify_download_link(KEY, token)

    assert (target.file_id, target.owner_id) == (file.id, file.owner_id)


def test_a_tampered_link_or_another_key_is_refused(file: File) -> None:
    token = sign_download_link(KEY, file, utcnow() + timedelta(minutes=5))
    other_file = sign_download_link(KEY, File(id="someone-else", owner_id=99), utcnow())
    forged = token.split(".")[0] + "." + other_file.split(".")[1]

    for bad, key in ((token, "another-key"), (token[:-2], KEY), (forged, KEY), ("", KEY)):
        with pytest.raises(Forbidden) as info:
            verify_download_link(key, bad)
        assert info.value.code == "link_invalid"


def test_an_expired_link_is_refused(file: File) -> None:
    token = sign_download_link(KEY, file, ago(1))

    with pytest.raises(Forbidden) as info:
        verify_download_link(KEY, token)

    assert info.value.code == "link_expired"


@pytest.mark.parametrize(
    ("max_age", "said"),
    [(604800, "7 days"), (5400, "90 minutes"), (3600, "1 hour"), (61, "61 seconds")],
)
def test_expiry_is_bounded_by_the_servers_maximum(max_age: int, said: str) -> None:
    assert link_expiry(max_age, max_age) - utcnow() > timedelta(seconds=max_age - 5)
    for expires_in in (0, max_age + 1):
        with pytest.raises(BadRequest) as info:
            link_expiry(expires_in, max_age)
        assert info.value.code == "invalid_expiry"
        assert f"at most {said} " in info.value.message


def test_create_download_link_signs_a_working_local_link(
    runtime: Runtime, owner: User, file: File
) -> None:
    url, expires_at = create_download_link(runtime, owner, file.id, 600, local_url)

    assert url.startswith("https://files.example/l/")
    target = verify_download_link(KEY, url.rsplit("/", 1)[1])
    assert target.file_id == file.id
    assert timedelta(seconds=590) < expires_at - utcnow() <= timedelta(seconds=600)


def test_only_the_owner_can_link_a_file(runtime: Runtime, stranger: User, file: File) -> None:
    with pytest.raises(NotFound):
        create_download_link(runtime, stranger, file.id, 600, local_url)
    with pytest.raises(BadRequest):
        create_download_link(runtime, stranger, file.id, 10**9, local_url)
