"""services.direct: signed direct uploads are created, receive their bytes, complete or abort."""

from __future__ import annotations

import io

import pytest

from tests.services.helpers import (
    ago,
    complete_paths,
    content,
    ingest,
    set_quota,
    sha256,
    stored_keys,
    update_row,
)
from upload_service.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientStorage,
    NotFound,
    TooLarge,
    VerificationFailed,
)
from upload_service.models import UploadSession, User
from upload_service.runtime import Runtime
from upload_service.services import direct
from upload_service.services.direct import DirectUpload, DirectUploadRequest, UploadExpired

DATA = b"direct upload body"


def start(runtime: Runtime, owner: User, path: str = "d/a.bin", **fields: object) -> DirectUpload:
    fields = {"size": len(DATA), "sha256": sha256(DATA), **fields}
    request = DirectUploadRequest(path=path, **fields)  # type: ignore[arg-type]
    return direct.create_direct_upload(runtime, owner, request, lambda t: f"https://up/{t}")


def token_of(upload: DirectUpload) -> str:
    return upload.target.url.rsplit("/", 1)[1]


def send(runtime: Runtime, upload: DirectUpload, data: bytes = DATA) -> None:
    direct.receive_signed_upload(runtime, token_of(upload), io.BytesIO(data))


def state(runtime: Runtime, upload: DirectUpload) -> str:
    with runtime.db.session() as session:
        return direct.state_of(session.get_one(UploadSession, upload.session.id))


def test_upload_then_complete_makes_the_file_once(runtime: Runtime, owner: User) -> None:
    upload = start(runtime, owner)
    assert (upload.target.method, upload.target.headers) == (
        "PUT",
        {"Content-Type": "application/octet-stream"},
    )
    send(runtime, upload)

    file = direct.complete_direct_upload(runtime, owner, upload.session.id)
    again = direct.complete_direct_upload(runtime, owner, upload.session.id)

    assert again.id == file.id
    assert (file.path, content(runtime, file)) == ("d/a.bin", DATA)
    assert state(runtime, upload) == "complete"
    assert stored_keys(runtime, "staging/") == []
    with pytest.raises(Conflict):  # the URL takes no second upload
        send(runtime, upload, b"replacement")
    assert content(runtime, file) == DATA


def test_completing_before_the_upload_is_409_and_the_session_stays(
    runtime: Runtime, owner: User
) -> None:
    upload = start(runtime, owner)

    with pytest.raises(Conflict) as info:
        direct.complete_direct_upload(runtime, owner, upload.session.id)

    assert info.value.code == "not_uploaded"
    assert state(runtime, upload) == "pending"


@pytest.mark.parametrize(
    ("body", "error"),
    [(DATA + b"!", TooLarge), (DATA[:-1], BadRequest), (DATA[::-1], VerificationFailed)],
)
def test_the_local_url_keeps_nothing_of_a_wrong_body(
    runtime: Runtime, owner: User, body: bytes, error: type
) -> None:
    upload = start(runtime, owner)

    with pytest.raises(error):
        send(runtime, upload, body)

    assert stored_keys(runtime) == []
    send(runtime, upload)  # the right bytes are still welcome
    assert (
        content(runtime, direct.complete_direct_upload(runtime, owner, upload.session.id)) == DATA
    )


@pytest.mark.parametrize(
    ("stored", "code"), [(DATA + b"!", "size_mismatch"), (DATA[::-1], "checksum_mismatch")]
)
def test_bytes_stored_straight_to_storage_are_verified_at_completion(
    runtime: Runtime, owner: User, stored: bytes, code: str
) -> None:
    upload = start(runtime, owner)
    assert upload.session.staging_key is not None
    runtime.store.put(upload.session.staging_key, io.BytesIO(stored))  # as an S3 client would

    with pytest.raises(VerificationFailed) as info:
        direct.complete_direct_upload(runtime, owner, upload.session.id)

    assert info.value.code == code
    assert state(runtime, upload) == "failed"
    assert stored_keys(runtime) == []
    assert complete_paths(runtime, owner) == []


def test_abort_deletes_the_bytes_and_closes_the_upload(runtime: Runtime, owner: User) -> None:
    upload = start(runtime, owner)
    send(runtime, upload)

    direct.abort_direct_upload(runtime, owner, upload.session.id)

    assert state(runtime, upload) == "failed"
    assert stored_keys(runtime) == []
    with pytest.raises(Conflict) as info:
        send(runtime, upload)
    assert info.value.code == "upload_closed"
    finished = start(runtime, owner, "done.bin")
    send(runtime, finished)
    direct.complete_direct_upload(runtime, owner, finished.session.id)
    with pytest.raises(Conflict) as info:
        direct.abort_direct_upload(runtime, owner, finished.session.id)
    assert info.value.code == "upload_complete"


def test_upload_urls_are_signed_and_expire(runtime: Runtime, owner: User) -> None:
    upload = start(runtime, owner)
    key = runtime.settings.SECRET_KEY or ""
    assert direct.verify_upload_token(key, token_of(upload)) == upload.session.id

    for token in (
        token_of(upload)[:-1],
        direct.sign_upload_token("other", upload.session.id, upload.url_expires_at),
    ):
        with pytest.raises(Forbidden) as info:
            direct.verify_upload_token(key, token)
        assert info.value.code == "signature_invalid"
    with pytest.raises(Forbidden) as info:
        direct.verify_upload_token(key, direct.sign_upload_token(key, upload.session.id, ago(1)))
    assert info.value.code == "signature_expired"


def test_an_expired_session_can_no_longer_complete(runtime: Runtime, owner: User) -> None:
    upload = start(runtime, owner)
    send(runtime, upload)
    update_row(runtime, UploadSession, upload.session.id, expires_at=ago(1))

    assert state(runtime, upload) == "expired"
    with pytest.raises(UploadExpired):
        direct.complete_direct_upload(runtime, owner, upload.session.id)
    assert complete_paths(runtime, owner) == []


def test_requests_are_checked_up_front(runtime: Runtime, owner: User, stranger: User) -> None:
    ingest(runtime, owner, {"taken.bin": b"t"})
    runtime.settings.MAX_FILE_SIZE = 100

    with pytest.raises(Conflict):
        start(runtime, owner, "taken.bin")
    with pytest.raises(TooLarge):
        start(runtime, owner, size=101)
    with pytest.raises(BadRequest):
        start(runtime, owner, expires_in=runtime.settings.SIGNED_URL_MAX_AGE + 1)
    with pytest.raises(BadRequest):
        start(runtime, owner, "../escape")
    upload = start(runtime, owner, "taken.bin", on_conflict="rename")
    with pytest.raises(NotFound):
        direct.get_direct_upload(runtime, stranger, upload.session.id)


def test_quota_and_conflicts_are_checked_again_at_completion(runtime: Runtime, owner: User) -> None:
    over_quota = start(runtime, owner, "q.bin")
    send(runtime, over_quota)
    taken = start(runtime, owner, "t.bin")
    send(runtime, taken)
    set_quota(runtime, owner, len(DATA))
    ingest(runtime, owner, {"t.bin": b"x"})  # arrived meanwhile, and fills the quota

    with pytest.raises(InsufficientStorage):
        direct.complete_direct_upload(runtime, owner, over_quota.session.id)
    set_quota(runtime, owner, None)
    with pytest.raises(Conflict):
        direct.complete_direct_upload(runtime, owner, taken.session.id)

    assert (state(runtime, over_quota), state(runtime, taken)) == ("failed", "failed")
    assert complete_paths(runtime, owner) == ["t.bin"]
    assert len(stored_keys(runtime)) == 1
