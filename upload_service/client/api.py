"""The server's HTTP API  as a small class over one ``requests.Session``.

Every failure leaves this module as a :class:`ClientError`: the server's JSON error shape
``{"success": false, "error", "code", "details"}``, a non-JSON error page, a refused connection
or a timeout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter

from upload_service.client.config import Config
from upload_service.client.errors import ClientError, ExitCode
from upload_service.schemas.auth import MeOut
from upload_service.schemas.direct import DirectUploadOut
from upload_service.schemas.files import (
    FileList,
    FileOut,
    FileOutEnvelope,
    FilesOut,
    FolderOut,
    LinkOut,
    MoveOut,
    TemporaryUploadOut,
)
from upload_service.schemas.sync import SyncManifestOut, SyncPrepareOut

Model = TypeVar("Model", bound=BaseModel)

CONNECT_TIMEOUT = 10.0
# After the last byte of a big upload the server still fsyncs the blob: allow it minutes.
READ_TIMEOUT = 300.0
# Bodies go to the socket in blocks of this size (urllib3's default of 16 KiB costs CPU); an
# upload reads and hashes the file in blocks of it too (transfer.HashingReader).
SEND_BLOCK = 4 * 1024 * 1024
MAX_PAGE = 1000

_EXIT_CODES = {
    401: ExitCode.AUTH,
    403: ExitCode.AUTH,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.CONFLICT,
    412: ExitCode.CONFLICT,
    413: ExitCode.TOO_LARGE,
    422: ExitCode.CORRUPT,
    502: ExitCode.UNREACHABLE,
    503: ExitCode.UNREACHABLE,
    504: ExitCode.UNREACHABLE,
    507: ExitCode.TOO_LARGE,
}


class _LargeBlocks(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = SEND_BLOCK
        super().init_poolmanager(*args, **kwargs)


class SizedReader(Protocol):
    """An upload body: read in blocks, its length known in advance (the Content-Length)."""

    def read(self, amount: int = -1) -> bytes: ...

    def __len__(self) -> int: ...


def api_path(path: str) -> str:
    """A user path, percent-encoded for a URL (its ``/`` kept)."""
    return quote(path.strip("/"), safe="/")


class Api:
    """One server, one token, one keep-alive connection pool."""

    def __init__(self, config: Config, *, debug: bool = False) -> None:
        self.config, self.debug = config, debug
        self.base = config.url
        self.session = requests.Session()
        if debug:
            self.session.hooks["response"].append(_log_response)
        self.session.headers["Authorization"] = f"Bearer {config.token}"
        self.session.headers["User-Agent"] = "upload-client"
        adapter = _LargeBlocks()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def clone(self) -> Api:
        """Another connection pool to the same server (a session per thread)."""
        return Api(self.config, debug=self.debug)

    # ------------------------------------------------------------------ plumbing

    def request(self, method: str, route: str, **kwargs: Any) -> requests.Response:
        """Send one request; a :class:`ClientError` unless the answer is 2xx (or 304)."""
        return self._send(self.session.request, self.base, method, self.base + route, **kwargs)

    def request_signed(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send to a signed URL (maybe not ours: S3): no token, the signature is the permission."""
        where = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        return self._send(requests.request, where, method, url, **kwargs)

    @staticmethod
    def _send(
        send: Callable[..., requests.Response], where: str, method: str, url: str, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        try:
            response = send(method, url, **kwargs)
        except requests.Timeout as exc:
            raise ClientError(
                f"the server at {where} did not answer in time", ExitCode.UNREACHABLE
            ) from exc
        except requests.ConnectionError as exc:
            raise ClientError(
                f"cannot reach the server at {where} ({_reason(exc)})", ExitCode.UNREACHABLE
            ) from exc
        except requests.RequestException as exc:
            raise ClientError(f"request to {where} failed: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def json(self, model: type[Model], method: str, route: str, **kwargs: Any) -> Model:
        """Send one request and validate its JSON answer with ``model``."""
        response = self.request(method, route, **kwargs)
        return parse(model, response)

    # ------------------------------------------------------------------ account

    def me(self) -> MeOut:
        return self.json(MeOut, "GET", "/api/me")

    # ------------------------------------------------------------------ listing

    def iter_files(self, **query: str | None) -> Iterator[FileOut]:
        """Every file matching ``query`` (``GET /api/files``), following ``next_cursor``."""
        params: dict[str, str] = {k: v for k, v in query.items() if v is not None}
        params["limit"] = str(MAX_PAGE)
        while True:
            page = self.json(FileList, "GET", "/api/files", params=params)
            yield from page.items
            if not page.next_cursor:
                return
            params["cursor"] = page.next_cursor

    def folder(self, path: str) -> FolderOut:
        """A folder and its direct subfolders (404 when there is no such folder)."""
        route = f"/api/folders/{api_path(path)}" if path.strip("/") else "/api/folders"
        return self.json(FolderOut, "GET", route)

    # ------------------------------------------------------------------ files

    def file_by_id(self, file_id: str) -> FileOut:
        return self.json(FileOut, "GET", f"/api/files/{quote(file_id, safe='')}")

    def file_at(self, path: str) -> FileOut | None:
        """The file at ``path``, or None. There is no metadata-by-path route: search its folder."""
        path = path.strip("/")
        folder, _, _name = path.rpartition("/")
        for file in self.iter_files(folder=folder, q=path):
            if file.path == path:
                return file
        return None

    def put_stream(
        self,
        path: str,
        body: SizedReader | bytes,
        *,
        on_conflict: str,
        content_type: str | None,
        sha256: str | None = None,
        if_match: str | None = None,
    ) -> tuple[FileOut, bool]:
        """Raw streaming upload (``PUT /api/fs/<path>``); the file and whether it was created.

        With ``sha256`` the server refuses (422) bytes that do not hash to it; with
        ``if_match`` it replaces the file only while it is that one (412 otherwise).
        """
        headers = {"Content-Type": content_type or "application/octet-stream"}
        headers.update(_if_match(if_match))
        if sha256:
            headers["X-Content-SHA256"] = sha256
        response = self.request(
            "PUT",
            f"/api/fs/{api_path(path)}",
            params={"on_conflict": on_conflict},
            data=body,
            headers=headers,
        )
        return parse(FileOut, response), response.status_code == 201

    def request_direct_upload(self, body: dict[str, Any]) -> DirectUploadOut:
        """A signed URL to upload one file straight to storage (``POST /api/uploads``)."""
        return self.json(DirectUploadOut, "POST", "/api/uploads", json=body)

    def complete_direct_upload(self, upload_id: str) -> FileOut:
        route = f"/api/uploads/{upload_id}/complete"
        return self.json(FileOutEnvelope, "POST", route).file

    def upload_temporary(self, items: list[dict[str, str]]) -> TemporaryUploadOut:
        """The original base64 JSON temporary upload (``PUT /api/upload_temporary``)."""
        return self.json(TemporaryUploadOut, "PUT", "/api/upload_temporary", json=items)

    def content(self, file_id: str, headers: Mapping[str, str] | None = None) -> requests.Response:
        """The streamed bytes of a file (the caller closes the response)."""
        route = f"/api/files/{quote(file_id, safe='')}/content"
        return self.request("GET", route, headers=dict(headers or {}), stream=True)

    def log_body(self, response: requests.Response, received: int, began: float) -> None:
        """With ``--debug``: a streamed answer's body is in, ``received`` bytes since ``began``
        (``time.perf_counter()`` before the request: the span of curl's ``time_total``)."""
        if self.debug:
            request, seconds = response.request, time.perf_counter() - began
            print(
                f"> {request.method} {request.url} -> {response.status_code}, "
                f"{received} bytes in {seconds:.3f} s",
                file=sys.stderr,
            )

    def delete_path(
        self, path: str, *, recursive: bool = False, if_match: str | None = None
    ) -> None:
        """Delete a file or folder by path; with ``if_match``, only while the file is that one."""
        params = {"recursive": "true"} if recursive else {}
        self.request(
            "DELETE", f"/api/fs/{api_path(path)}", params=params, headers=_if_match(if_match)
        )

    def delete_id(self, file_id: str, *, if_match: str | None = None) -> None:
        """Delete a file by id; with ``if_match``, only while its SHA-256 is that one."""
        route = f"/api/files/{quote(file_id, safe='')}"
        self.request("DELETE", route, headers=_if_match(if_match))

    def move(self, source: str, target: str, *, if_match: str | None = None) -> MoveOut:
        """Move or rename a file or folder by path (``POST /api/fs/move``)."""
        body = {"from": source, "to": target, "if_match": if_match}
        return self.json(MoveOut, "POST", "/api/fs/move", json=body)

    def move_id(self, file_id: str, target: str) -> FileOut:
        """Move or rename a file by id (``PATCH /api/files/<id>``)."""
        route = f"/api/files/{quote(file_id, safe='')}"
        return self.json(FileOut, "PATCH", route, json={"path": target})

    def mkdir(self, path: str) -> FolderOut:
        return self.json(FolderOut, "PUT", f"/api/folders/{api_path(path)}")

    def current_sha256(self, path: str) -> str | None:
        """The SHA-256 of the file at ``path`` now (its ETag), or None when there is none."""
        try:
            response = self.request("HEAD", f"/api/fs/{api_path(path)}")
        except ClientError as error:
            if error.status == 404:
                return None
            raise
        etag = response.headers.get("ETag", "").strip('"')
        return etag or None

    # ------------------------------------------------------------------ sync

    def sync_manifest(self, folder: str) -> SyncManifestOut:
        """Every file and folder under ``folder``; an empty manifest when it does not exist."""
        try:
            params = {"folder": folder}
            return self.json(SyncManifestOut, "GET", "/api/sync/manifest", params=params)
        except ClientError as error:
            if error.code == "folder_not_found":
                return SyncManifestOut(folder=folder, files=[], folders=[])
            raise

    def sync_prepare(self, body: dict[str, Any]) -> SyncPrepareOut:
        return self.json(SyncPrepareOut, "POST", "/api/sync/prepare", json=body)

    def sync_put_chunk(self, sha256: str, data: bytes) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        self.request("PUT", f"/api/sync/chunks/{sha256}", data=data, headers=headers)

    def upload_batch(self, folder: str, parts: list[tuple[str, bytes]]) -> list[FileOut]:
        """Several new files into ``folder`` in one multipart request: all of them or none
        (409 when any name is taken)."""
        files = [("file", (name, data, "application/octet-stream")) for name, data in parts]
        response = self.request(
            "POST",
            "/api/files",
            params={"on_conflict": "error"},
            data={"folder": folder},
            files=files,
        )
        return parse(FilesOut, response).files

    def sync_commit(self, upload_id: str) -> FileOut:
        body = {"upload_id": upload_id}
        return self.json(FileOutEnvelope, "POST", "/api/sync/commit", json=body).file

    def link(self, file_id: str, expires_in: int) -> LinkOut:
        route = f"/api/files/{quote(file_id, safe='')}/link"
        return self.json(LinkOut, "POST", route, json={"expires_in": expires_in})


def _if_match(sha256: str | None) -> dict[str, str]:
    """``If-Match: "<sha256>"``: only while the server's file is that one."""
    return {"If-Match": f'"{sha256}"'} if sha256 else {}


def parse(model: type[Model], response: requests.Response) -> Model:
    """``response``'s JSON body as ``model``; a clear error when it is something else."""
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise ClientError(
            f"unexpected answer from the server to {response.request.method} "
            f"{response.request.path_url} (HTTP {response.status_code})"
        ) from exc


def error_from_response(response: requests.Response) -> ClientError:
    """The server's error answer (the JSON error shape, or any error page) as one error."""
    status = response.status_code
    exit_code = _EXIT_CODES.get(status, ExitCode.ERROR)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        reason = f"{status} {response.reason}".strip()
        return ClientError(f"the server answered HTTP {reason}", exit_code, status=status)
    message = body["error"].rstrip(".")
    if status == 429 and response.headers.get("Retry-After"):
        message += f" (retry after {response.headers['Retry-After']} s)"
    details = body.get("details")
    return ClientError(
        message,
        exit_code,
        status=status,
        code=str(body.get("code") or ""),
        details=details if isinstance(details, list) else [],
    )


def _log_response(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
    request = response.request
    seconds = response.elapsed.total_seconds()
    print(
        f"> {request.method} {request.url} -> {response.status_code} in {seconds:.3f} s",
        file=sys.stderr,
    )


_REASONS = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("Temporary failure in name resolution", "unknown host"),
    ("No route to host", "no route to host"),
    ("Network is unreachable", "network unreachable"),
    ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not trusted"),
    ("Connection reset", "the connection was closed"),
    ("RemoteDisconnected", "the connection was closed"),
    ("Connection aborted", "the connection was closed"),
)


def _reason(exc: requests.ConnectionError) -> str:
    """A few words for why a connection failed (requests nests the cause in its message)."""
    text = str(exc)
    return next((reason for known, reason in _REASONS if known in text), "connection failed")
