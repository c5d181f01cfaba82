"""Streaming uploads and resumable downloads, each verified with SHA-256.

Uploads read the local file once, through :class:`HashingReader`, straight into the socket:
never the whole file in memory. Downloads go to ``<dest>.part`` and are renamed when complete
and verified; a ``.part`` left by an interrupted download is continued with a ``Range`` request.

Both hash in the same pass as they move the bytes, on a thread of their own (:class:`Hasher`;
hashlib releases the GIL), so SHA-256 overlaps the disk and the socket instead of following
them: the digest is compared with the server's at the end.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import os
import queue
import secrets
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import requests

from upload_service.client.api import SEND_BLOCK, Api
from upload_service.client.errors import ClientError, ExitCode
from upload_service.client.output import Advance, note, progress_bar
from upload_service.schemas.files import FileOut

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

# Uploads read and hash the file in the blocks the socket is fed with (api.SEND_BLOCK): few
# trips through Python per MiB. Downloads receive, write and hash blocks of RECEIVE_BLOCK:
# smaller, as blocks that stay in the CPU's cache between the three are measurably faster
# there (4 MiB blocks took half as long again as 1 MiB ones for a 256 MiB download).
READ_BLOCK = SEND_BLOCK
RECEIVE_BLOCK = 1024 * 1024
HASH_BACKLOG = 4  # blocks waiting for the hashing thread at most (memory, not speed)
PART_SUFFIX = ".part"


class Hasher:
    """SHA-256 of the blocks given to :meth:`update`, computed on a thread of its own.

    hashlib releases the GIL while it hashes a block, so the digest of one block is computed
    while the next is read, sent or written. At most ``HASH_BACKLOG`` blocks wait (the caller
    waits when the hashing falls behind). The blocks must not change afterwards (``bytes``).
    """

    def __init__(self, digest: Hash | None = None) -> None:
        self._digest = hashlib.sha256() if digest is None else digest  # or one to go on with
        self._blocks: queue.Queue[bytes | None] = queue.Queue(HASH_BACKLOG)
        # The thread holds the queue and the digest, not this object: an abandoned Hasher (a
        # request that failed half-way) is collected, and closing it ends the thread.
        self._thread = threading.Thread(
            target=_hash_blocks, args=(self._blocks, self._digest), name="sha256", daemon=True
        )
        self._thread.start()
        self._open = True

    def update(self, block: bytes) -> None:
        if block:
            self._blocks.put(block)

    def result(self) -> Hash:
        """The digest of every block given (waits for the thread); no updates after this."""
        self.close()
        self._thread.join()
        return self._digest

    def close(self) -> None:
        if self._open:
            self._open = False
            self._blocks.put(None)

    def __del__(self) -> None:
        self.close()


def _hash_blocks(blocks: queue.Queue[bytes | None], digest: Hash) -> None:
    while (block := blocks.get()) is not None:
        digest.update(block)


class HashingReader:
    """A read-only view of ``size`` bytes of a file that hashes and reports what is read.

    ``len()`` gives requests the Content-Length, so the server can refuse an oversized upload
    before the body. A file that shrinks while it is being sent is an error, not a short upload.
    The hashing runs beside the sending (:class:`Hasher`); :attr:`sha256` waits for it.
    """

    def __init__(
        self, file: BinaryIO, size: int, advance: Advance, name: str, digest: Hash | None = None
    ) -> None:
        self.file = file
        self.size = size
        self.advance = advance
        self.name = name
        self._hasher = Hasher(digest)
        self.sent = 0

    @property
    def sha256(self) -> Hash:
        """The digest of what was read (call it once the reading is done)."""
        return self._hasher.result()

    def __len__(self) -> int:
        return self.size

    def read(self, amount: int = -1) -> bytes:
        left = self.size - self.sent
        data = self.file.read(left if amount < 0 else min(amount, left))
        if not data and left:
            raise ClientError(f"{self.name} shrank while it was being uploaded")
        self._hasher.update(data)
        self.sent += len(data)
        self.advance(len(data))
        return data

    def close(self) -> None:
        """Stop hashing (a request that failed): the thread ends."""
        self._hasher.close()


def open_local(path: Path) -> tuple[BinaryIO, int]:
    """``path`` opened for reading and its size; clear errors for what is not a readable file."""
    try:
        file = path.open("rb")
    except FileNotFoundError:
        raise ClientError(f"no such local file: {path}", ExitCode.NOT_FOUND) from None
    except IsADirectoryError:
        raise ClientError(f"{path} is a folder; put uploads files", ExitCode.USAGE) from None
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror}") from None
    return file, os.fstat(file.fileno()).st_size


def upload_file(api: Api, local: Path, remote: str, on_conflict: str) -> tuple[FileOut, bool]:
    """Stream ``local`` to ``remote``; the stored file (checked by SHA-256) and if it is new."""
    file, size = open_local(local)
    with file, progress_bar(f"put {remote}", size) as advance:
        reader = HashingReader(file, size, advance, str(local))
        content_type = mimetypes.guess_type(local.name)[0]
        stored, created = api.put_stream(
            remote, reader, on_conflict=on_conflict, content_type=content_type
        )
    try:
        check_digest(reader.sha256.hexdigest(), stored.sha256, f"upload of {local}")
    except ClientError as error:
        api.delete_id(stored.id, if_match=stored.sha256)  # exactly the copy that went wrong
        raise error.with_message(f"{error.message}; the server's copy was deleted") from None
    return stored, created


def upload_direct(api: Api, local: Path, remote: str, on_conflict: str) -> FileOut:
    """``put --direct``: ask for a signed URL, send the bytes straight to it, then complete.

    The file is hashed first and the digest declared, so the server refuses the completion
    (422) unless the stored bytes are exactly these.
    """
    file, size = open_local(local)
    with file:
        digest = sha256_of_next(file, size, str(local)).hexdigest()
        file.seek(0)
        content_type = mimetypes.guess_type(local.name)[0]
        body = {"path": remote, "size": size, "sha256": digest, "on_conflict": on_conflict}
        signed = api.request_direct_upload(
            {**body, "content_type": content_type} if content_type else body
        )
        with progress_bar(f"put {remote}", size) as advance:
            reader = HashingReader(file, size, advance, str(local))
            if signed.method == "POST":
                form = MultipartBody(signed.fields, local.name, reader)
                api.request_signed("POST", signed.url, data=form, headers=form.headers)
            else:
                api.request_signed("PUT", signed.url, data=reader, headers=signed.headers)
    stored = api.complete_direct_upload(signed.upload_id)
    check_digest(digest, stored.sha256, f"upload of {local}")
    return stored


def sha256_of_next(file: BinaryIO, size: int, name: str) -> Hash:
    """The SHA-256 object fed with the next ``size`` bytes of ``file`` (an error if fewer)."""
    reader = HashingReader(file, size, lambda _sent: None, name)
    while reader.read(READ_BLOCK):
        pass
    return reader.sha256


class MultipartBody:
    """A ``multipart/form-data`` body of ``fields`` then one ``file`` part, streamed.

    ``requests`` would read a whole file into memory to build a form; this sends it part by
    part, with a known ``Content-Length`` (S3 requires one for a POST upload).
    """

    def __init__(self, fields: Mapping[str, str], filename: str, file: HashingReader) -> None:
        boundary = secrets.token_hex(16)
        head = b"".join(
            _form_field(boundary, name, value).encode() for name, value in fields.items()
        )
        safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{safe_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        self._pieces: list[bytes | HashingReader] = [head, file, f"\r\n--{boundary}--\r\n".encode()]
        self._length = len(head) + len(file) + len(self._pieces[2])
        self.headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}

    def __len__(self) -> int:
        return self._length

    def read(self, amount: int = -1) -> bytes:
        while self._pieces:
            piece = self._pieces[0]
            if isinstance(piece, bytes):
                self._pieces.pop(0)
                if piece:
                    return piece
                continue
            data = piece.read(max(amount, READ_BLOCK))  # big blocks: fewer trips through Python
            if data:
                return data
            self._pieces.pop(0)
        return b""


def _form_field(boundary: str, name: str, value: str) -> str:
    return f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'


def check_digest(ours: str, theirs: str, what: str) -> None:
    if not hmac.compare_digest(ours, theirs.lower()):
        raise ClientError(
            f"{what} is corrupt: SHA-256 {ours} here, {theirs} on the server", ExitCode.CORRUPT
        )


# --------------------------------------------------------------------------- downloads


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + PART_SUFFIX)


def download_file(api: Api, file: FileOut, dest: Path) -> bool:
    """Download ``file`` to ``dest`` (resuming ``dest.part``); True when it resumed.

    The result is verified against the server's SHA-256. If a resumed download does not verify
    (the ``.part`` came from another version of the file), it is downloaded once more in full.
    """
    part = part_path(dest)
    resumed = _usable_part_size(part, file) > 0
    try:
        fetch_to_part(api, file, part)
    except ClientError as error:
        if error.exit_code != ExitCode.CORRUPT or not resumed:
            raise
        note(f"the partial download {part} did not match {file.path}; downloading it again")
        fetch_to_part(api, file, part)
        resumed = False
    os.replace(part, dest)
    return resumed


def _usable_part_size(part: Path, file: FileOut) -> int:
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        return 0
    return size if 0 < size <= file.size else 0


def fetch_to_part(api: Api, file: FileOut, part: Path) -> None:
    """Complete ``part`` with the file's bytes and verify the whole of it.

    The expected SHA-256 is the ``ETag`` of the answer that sent the bytes (the version that
    was actually received), else the one of ``file``.
    """
    offset = _usable_part_size(part, file)
    if offset and offset == file.size:  # complete already, only not yet verified and renamed
        expected, digest = file.sha256, _hash_of(part, offset)
    else:
        began = time.perf_counter()
        with api.content(file.id, _resume_headers(file, offset)) as response:
            if offset and not _continues_at(response, offset):
                offset = 0  # the whole file came back: the stored one changed meanwhile
            expected = response.headers.get("ETag", "").strip('"') or file.sha256
            hasher = Hasher(_hash_of(part, offset))
            try:
                received = _append(response, part, offset, hasher, file) - offset
            finally:
                digest = hasher.result()
            api.log_body(response, received, began)
    try:
        check_digest(digest.hexdigest(), expected, f"download of {file.path}")
    except ClientError:
        part.unlink()  # never resume from bytes that did not verify
        raise


def _resume_headers(file: FileOut, offset: int) -> dict[str, str]:
    if not offset:
        return {}
    return {"Range": f"bytes={offset}-", "If-Range": f'"{file.sha256}"'}


def _continues_at(response: requests.Response, offset: int) -> bool:
    """True for a 206 whose ``Content-Range`` starts where our ``.part`` ends."""
    if response.status_code != 206:
        return False
    unit, _, span = response.headers.get("Content-Range", "").partition(" ")
    return unit == "bytes" and span.split("-", 1)[0] == str(offset)


def _hash_of(part: Path, size: int) -> Hash:
    """The SHA-256 object fed with the first ``size`` bytes of ``part``."""
    digest = hashlib.sha256()
    if size:
        with part.open("rb") as existing:
            while block := existing.read(min(READ_BLOCK, size - existing.tell())):
                digest.update(block)
    return digest


def _append(
    response: requests.Response, part: Path, offset: int, hasher: Hasher, file: FileOut
) -> int:
    """Write the body after ``offset`` bytes of ``part`` (hashing it); returns the new size.

    Receiving and writing take turns on this thread, the hashing runs beside them.
    """
    with part.open("r+b" if offset else "wb") as out:
        out.seek(offset)
        out.truncate()
        with progress_bar(f"get {file.path}", file.size, start=offset) as advance:
            for block in blocks(response, f"download of {file.path}", resumable=True):
                hasher.update(block)
                out.write(block)
                advance(len(block))
        return out.tell()


def blocks(response: requests.Response, what: str, *, resumable: bool) -> Iterator[bytes]:
    """The body in blocks; a broken connection becomes a :class:`ClientError`."""
    try:
        yield from response.iter_content(RECEIVE_BLOCK)
    except requests.RequestException as exc:
        hint = "; run the same command again to resume" if resumable else ""
        raise ClientError(
            f"{what} was interrupted: the connection broke{hint}", ExitCode.UNREACHABLE
        ) from exc


def write_to_stdout(api: Api, file: FileOut) -> None:
    """``get REMOTE -``: the bytes on stdout, verified at the end."""
    hasher = Hasher()
    out = sys.stdout.buffer
    began = time.perf_counter()
    received = 0
    try:
        with api.content(file.id) as response:
            expected = response.headers.get("ETag", "").strip('"') or file.sha256
            for block in blocks(response, f"download of {file.path}", resumable=False):
                hasher.update(block)
                out.write(block)
                received += len(block)
            api.log_body(response, received, began)
    finally:
        digest = hasher.result()
    out.flush()
    check_digest(digest.hexdigest(), expected, f"download of {file.path}")
