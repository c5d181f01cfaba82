"""HTTP answers shared by the JSON API and the web pages (both adapters import this; neither
imports the other): streaming a stored file (ETag, 304, single byte ranges 206/416, safe
headers) and the URL of the signed-link route."""

from __future__ import annotations

from flask import Response, request, url_for
from werkzeug.wsgi import wrap_file

from upload_service.errors import RangeNotSatisfiable
from upload_service.models import File
from upload_service.storage.base import BlobStore
from upload_service.storage.disposition import content_disposition


def send_stored_file(
    store: BlobStore, file: File, storage_key: str, *, head: bool = False
) -> Response:
    """The response for GET/HEAD of ``file``'s bytes. Never rendered as a page on our origin."""
    etag = f'"{file.sha256}"'
    if request.if_none_match.contains(file.sha256):
        response = Response(status=304)
        return _decorate(response, file, etag)
    start, length, status = _requested_range(file)
    if head or length == 0:
        response = Response(b"", status=status)
    else:
        stream = store.open(storage_key, start, None if status == 200 else length)
        body = wrap_file(request.environ, stream)  # sendfile for local files under gunicorn
        response = Response(body, status=status, direct_passthrough=True)
    response.content_length = length
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{file.size}"
    return _decorate(response, file, etag)


def _requested_range(file: File) -> tuple[int, int, int]:
    """(start, length, status) for a single ``Range`` request, honouring ``If-Range``."""
    header = request.headers.get("Range")
    if not header or not _if_range_holds(file):
        return 0, file.size, 200
    ranges = request.range
    if ranges is None or ranges.units != "bytes" or len(ranges.ranges) != 1:
        return 0, file.size, 200  # malformed or multi-range: send the whole file
    span = ranges.range_for_length(file.size)
    if span is None:
        raise RangeNotSatisfiable(
            f"The file has {file.size} bytes.", headers={"Content-Range": f"bytes */{file.size}"}
        )
    start, stop = span
    return start, stop - start, 206


def _if_range_holds(file: File) -> bool:
    if_range = request.if_range
    if not if_range.etag and not if_range.date:
        return True
    return if_range.etag == file.sha256


def _decorate(response: Response, file: File, etag: str) -> Response:
    response.headers["ETag"] = etag
    response.last_modified = file.updated_at
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Content-Disposition"] = content_disposition(file.name)
    response.mimetype = file.content_type
    return response


def link_route_url(token: str) -> str:
    """The absolute URL of our signed-link route (``GET /api/links/<token>``) for ``token``."""
    return url_for("links.link_download", token=token, _external=True)
