"""Resumable uploads over tus 1.0 (``/api/tus/``): what ``put`` uses for big files.

The file goes up in PATCHes (the first of ``CHUNK_SIZE``, later ones sized by the speed so
far, see ``next_chunk_size``), each streamed from the file and hashed on the way, as a plain
``put`` streams the whole file. After a cut, a timeout or a 5xx, the client
waits (``RETRY_DELAYS``), asks the server for its offset (``HEAD``) and goes on from there.
Where each upload lives is recorded in the user's state directory until it is finished, so
``put --resume`` continues an upload whose process was killed; the record is keyed by server,
local file (path, size, modification time) and remote path, so a changed file starts over.
The whole file is hashed on the way and checked against the stored file, as every ``put`` is.
"""

from __future__ import annotations

import base64
import contextlib
import json
import mimetypes
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

import platformdirs
import requests

from upload_service.client.api import Api
from upload_service.client.config import APP_NAME
from upload_service.client.errors import ClientError, ExitCode
from upload_service.client.output import Advance, progress_bar
from upload_service.client.transfer import (
    HashingReader,
    check_digest,
    open_local,
    sha256_of_next,
)
from upload_service.schemas.files import FileOut

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

MiB = 1024 * 1024
RESUMABLE_THRESHOLD = 32 * MiB  # files this big or bigger go up over tus
# Streamed from the file, so not held in memory. The first PATCH sends CHUNK_SIZE, before the
# speed is known (the server renews a PATCH's lease while it streams, so a slow link only makes
# it take longer). Each later one sends what the
# previous one's speed moves in PATCH_SECONDS (at least CHUNK_SIZE, at most MAX_CHUNK): every
# PATCH costs the server a commit and an fsync, so a fast link sends few big ones, and a
# server that dies mid-PATCH loses at most about PATCH_SECONDS of sending (a cut connection
# loses nothing: the server keeps what arrived).
CHUNK_SIZE = 32 * MiB
PATCH_SECONDS = 60.0
MAX_CHUNK = 1024 * MiB
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)
STATE_NAME = "uploads.json"
TUS = {"Tus-Resumable": "1.0.0"}
# Answers after which the same chunk may well go through (after a HEAD): the server or a proxy
# failing (5xx), a damaged chunk (460), the lease a cut PATCH still holds (upload_locked), an
# offset that moved while the server finished that PATCH, a cut the server noticed.
_RETRY_STATUSES = frozenset({460, 500, 502, 503, 504})
_RETRY_CODES = frozenset({"upload_locked", "offset_mismatch", "upload_interrupted"})


@dataclass
class Upload:
    location: str  # the upload's path on the server, ``/api/tus/<id>``
    offset: int
    file_id: str | None = None


def upload_resumable(
    api: Api, local: Path, remote: str, on_conflict: str, *, resume: bool
) -> tuple[FileOut, bool]:
    """Send ``local`` to ``remote`` over tus; the stored file and whether it is new."""
    file, size = open_local(local)
    with file:
        key = state_key(api.base, local, remote, os.fstat(file.fileno()).st_mtime_ns, size)
        replacing = on_conflict == "replace" and api.file_at(remote) is not None
        upload = _recorded_upload(api, key) if resume else None
        if upload is None:
            upload = _create(api, local, remote, size, on_conflict)
            _record(key, upload.location)
        with progress_bar(f"put {remote}", size, start=upload.offset) as advance:
            digest = _send(api, upload, file, size, advance)
    _forget(key)
    if upload.file_id is None:
        raise ClientError(f"the server did not finish the upload of {local}")
    stored = api.file_by_id(upload.file_id)
    try:
        check_digest(digest, stored.sha256, f"upload of {local}")
    except ClientError as error:
        api.delete_id(stored.id, if_match=stored.sha256)
        raise error.with_message(f"{error.message}; the server's copy was deleted") from None
    return stored, not replacing


def _create(api: Api, local: Path, remote: str, size: int, on_conflict: str) -> Upload:
    folder, _, name = remote.strip("/").rpartition("/")
    metadata = {"filename": name, "folder": folder, "on_conflict": on_conflict}
    content_type = mimetypes.guess_type(local.name)[0]
    if content_type:
        metadata["filetype"] = content_type
    encoded = ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
        for key, value in metadata.items()
    )
    headers = {**TUS, "Upload-Length": str(size), "Upload-Metadata": encoded}
    response = api.request("POST", "/api/tus/", headers=headers)
    location = urlsplit(response.headers["Location"]).path
    return Upload(location, int(response.headers.get("Upload-Offset", 0)), _file_id(response))


def _recorded_upload(api: Api, key: str) -> Upload | None:
    """The upload recorded for ``key``, where the server has it; None to start over."""
    location = _read_state().get(key)
    if location is None:
        return None
    try:
        return _head(api, location)
    except ClientError as error:
        if error.status in (404, 410):  # expired, finished long ago, or removed
            return None
        raise


def _head(api: Api, location: str) -> Upload:
    response = api.request("HEAD", _route(api, location), headers=TUS)
    return Upload(location, int(response.headers["Upload-Offset"]), _file_id(response))


class _Bar:
    """The progress bar's position: moved by each read, and set back after a cut."""

    def __init__(self, advance: Advance, start: int) -> None:
        self.advance, self.shown = advance, start

    def step(self, count: int) -> None:
        self.shown += count
        self.advance(count)

    def move_to(self, position: int) -> None:
        self.step(position - self.shown)


def _send(api: Api, upload: Upload, file: BinaryIO, size: int, advance: Advance) -> str:
    """PATCH the rest of the file from the server's offset; the file's SHA-256.

    Each chunk is streamed from the file and hashed on the way (never held in memory); the
    running digest goes on from a chunk that arrived whole, and is computed again from the file
    when the server kept another amount.
    """
    digest = _hash_prefix(file, upload.offset)
    bar = _Bar(advance, upload.offset)
    chunk_size = CHUNK_SIZE
    while upload.file_id is None:
        start, length = upload.offset, min(chunk_size, size - upload.offset)

        def chunk(start: int = start, length: int = length, so_far: Hash = digest) -> HashingReader:
            file.seek(start)
            return HashingReader(file, length, bar.step, file.name, digest=so_far.copy())

        began = time.monotonic()
        reached, body = _patch_with_retries(api, upload, chunk, bar)
        if body is not None and reached.offset == start + length and body.sent == length:
            digest = body.sha256
            chunk_size = next_chunk_size(length, time.monotonic() - began)
        else:
            if body is not None:
                body.close()
            digest = _hash_prefix(file, reached.offset)
        bar.move_to(reached.offset)
        upload.offset, upload.file_id = reached.offset, reached.file_id
    return digest.hexdigest()


def next_chunk_size(sent: int, seconds: float) -> int:
    """What the next PATCH sends after one of ``sent`` bytes took ``seconds`` (see CHUNK_SIZE)."""
    rate = sent / max(seconds, 1e-3)
    return max(CHUNK_SIZE, min(MAX_CHUNK, int(rate * PATCH_SECONDS)))


def _patch_with_retries(
    api: Api, upload: Upload, chunk: Callable[[], HashingReader], bar: _Bar
) -> tuple[Upload, HashingReader | None]:
    """Send one chunk, again after a cut or a passing failure; where the server is then, and
    the body of the try that got there (None when a HEAD found the server further on)."""
    headers = {
        **TUS,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(upload.offset),
    }
    route = _route(api, upload.location)
    failure: ClientError | None = None
    for delay in (0.0, *RETRY_DELAYS):
        if failure is not None:
            time.sleep(delay)
            with contextlib.suppress(ClientError):
                now = _head(api, upload.location)
                bar.move_to(now.offset)
                if now.offset != upload.offset or now.file_id:
                    return now, None  # the server kept some of it (or all): go on from there
        body = chunk()
        try:
            response = api.request("PATCH", route, data=body, headers=headers)
        except ClientError as error:
            body.close()
            if not _retryable(error):
                raise
            failure = error
            continue
        reached = int(response.headers["Upload-Offset"])
        return Upload(upload.location, reached, _file_id(response)), body
    assert failure is not None
    raise failure


def _retryable(error: ClientError) -> bool:
    if error.exit_code == ExitCode.UNREACHABLE and error.status is None:
        return True  # a cut or a timeout
    return error.status in _RETRY_STATUSES or error.code in _RETRY_CODES


def _file_id(response: requests.Response) -> str | None:
    return response.headers.get("Upload-File-Id") or None


def _route(api: Api, location: str) -> str:
    """``location`` relative to the API's base URL (which may carry a path of its own)."""
    base_path = urlsplit(api.base).path.rstrip("/")
    return location[len(base_path) :] if base_path and location.startswith(base_path) else location


def _hash_prefix(file: BinaryIO, length: int) -> Hash:
    file.seek(0)
    return sha256_of_next(file, length, file.name)


# --------------------------------------------------------------------------- state


def state_key(server: str, local: Path, remote: str, mtime_ns: int, size: int) -> str:
    return json.dumps([server, str(local.resolve()), size, mtime_ns, remote.strip("/")])


def state_path() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME)) / STATE_NAME


def _read_state() -> dict[str, str]:
    try:
        data = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _record(key: str, location: str) -> None:
    """Remember ``location`` for ``key``, dropping any earlier try at the same file and path
    (made before the file changed: it will never be resumed)."""
    state = {old: value for old, value in _read_state().items() if not _same_target(old, key)}
    _write_state({**state, key: location})


def _same_target(one: str, other: str) -> bool:
    """Both keys are for the same server, local path and remote path."""
    try:
        (a_server, a_local, *_, a_remote), (b_server, b_local, *_, b_remote) = (
            json.loads(one),
            json.loads(other),
        )
    except (ValueError, TypeError):
        return True  # not a key this client wrote: drop it
    return (a_server, a_local, a_remote) == (b_server, b_local, b_remote)


def _forget(key: str) -> None:
    state = _read_state()
    if state.pop(key, None) is not None:
        _write_state(state)


def _write_state(state: dict[str, str]) -> None:
    """Replace the file at once (a killed process never leaves half of it)."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _temporary_beside(path) as temporary:
        temporary.write_text(json.dumps(state, indent=1))
        os.replace(temporary, path)


@contextlib.contextmanager
def _temporary_beside(path: Path) -> Iterator[Path]:
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
