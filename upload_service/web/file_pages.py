"""One file: preview, details, share link, rename/move, description, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from upload_service.auth.current import login_required, require_user
from upload_service.errors import BadRequest, NotFound, ServiceError
from upload_service.models import File
from upload_service.runtime import Runtime, get_runtime
from upload_service.services.files import delete_file, get_file, update_file
from upload_service.services.links import create_download_link
from upload_service.services.paths import join_path, normalize_folder, normalize_path
from upload_service.services.previews import (
    INLINE_TYPES,
    PreviewKind,
    TextPreview,
    preview_kind,
    read_text_preview,
)
from upload_service.services.thumbnails import get_thumbnail
from upload_service.services.users import user_write_session
from upload_service.serving import link_route_url, send_stored_file
from upload_service.storage.disposition import content_disposition
from upload_service.web.htmx import is_htmx, page_response
from upload_service.web.listing import folder_url

bp = Blueprint("file_pages", __name__, url_prefix="/files")

_LINK_LIFETIMES = (
    (3600, "1 hour"),
    (86400, "1 day"),
    (7 * 86400, "7 days"),
    (30 * 86400, "30 days"),
)
# The inline route serves PDFs into an <iframe> on our own pages, the one preview the browser
# cannot show from an attachment. The policy is the strictest under which Chromium's viewer
# still shows the PDF (tests/web leaves a screenshot): ``sandbox`` puts the document in an
# opaque origin, so nothing in it can act as our site; it may load nothing by itself; only our
# pages may frame it. Only INLINE_TYPES are served this way: never HTML, SVG, XML or any other
# type a browser would run scripts in.
INLINE_CSP = (
    "sandbox; default-src 'none'; frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)


@dataclass
class FileView:
    file: File
    preview: PreviewKind | None
    text: TextPreview | None = None


@bp.get("/<file_id>")
@login_required
def detail(file_id: str) -> Response:
    return page_response(_detail_page(_file_view(get_runtime(), file_id)))


@bp.post("/<file_id>/edit")
@login_required
def edit(file_id: str) -> Response:
    """Rename or move (name and folder) and describe a file."""
    runtime = get_runtime()
    user = require_user()
    try:
        folder = normalize_folder(request.form.get("folder"), what="folder")
        name = normalize_path(request.form.get("name", ""), what="name")
        if "/" in name:
            raise BadRequest("A name cannot contain '/'; put the folder in the folder field.")
        with user_write_session(runtime.db, user) as session:
            file = get_file(session, user, file_id)
            update_file(
                session,
                user,
                file,
                path=join_path(folder, name),
                description=request.form.get("description", "").strip(),
            )
    except ServiceError as error:
        if is_htmx():
            raise  # the error fragment is shown in the form (see app.js)
        return page_response(
            _detail_page(_file_view(runtime, file_id), edit_error=error), error.status
        )
    if is_htmx():
        context = _detail_context(_file_view(runtime, file_id), saved=True)
        return page_response(render_template("_file_detail.html", **context))
    flash("Saved.", "success")
    return redirect(url_for("file_pages.detail", file_id=file_id))


@bp.post("/<file_id>/delete")
@login_required
def delete(file_id: str) -> Response:
    user = require_user()
    with user_write_session(get_runtime().db, user) as session:
        file = get_file(session, user, file_id)
        name, folder = file.name, file.folder
        delete_file(session, file)
    flash(f"Deleted {name}.", "success")
    return redirect(folder_url(folder))


@bp.post("/<file_id>/share")
@login_required
def share(file_id: str) -> Response:
    """A download link that works without an account until it expires."""
    runtime = get_runtime()
    try:
        expires_in = int(request.form.get("expires_in", ""))
    except ValueError:
        raise BadRequest("Choose how long the link should work.", code="invalid_expiry") from None
    url, expires_at = create_download_link(
        runtime, require_user(), file_id, expires_in, link_route_url
    )
    if is_htmx():
        return page_response(render_template("_share_link.html", url=url, expires_at=expires_at))
    view = _file_view(runtime, file_id)
    return page_response(_detail_page(view, link=(url, expires_at)))


@bp.get("/<file_id>/inline")
@login_required
def inline(file_id: str) -> Response:
    """The bytes of a PDF for the preview frame; every other type is refused."""
    runtime = get_runtime()
    with runtime.db.session() as session:
        file = get_file(session, require_user(), file_id)
        key = file.blob.storage_key
    if file.content_type not in INLINE_TYPES:
        raise NotFound("This file cannot be shown in the page. Download it instead.")
    response = send_stored_file(runtime.store, file, key)
    response.headers["Content-Disposition"] = content_disposition(file.name, "inline")
    response.headers["Content-Security-Policy"] = INLINE_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@bp.get("/<file_id>/thumbnail")
@login_required
def thumbnail(file_id: str) -> Response:
    """A small PNG of an image, made on first use (services.thumbnails); 404 when there is none.

    Always a PNG we encoded, never the uploaded bytes. The URL carries ``v=<sha256>``, so a
    browser may keep it: new bytes mean a new URL.
    """
    runtime = get_runtime()
    with runtime.db.session() as session:
        file = get_file(session, require_user(), file_id)
        key, sha256 = file.blob.storage_key, file.sha256
    png = get_thumbnail(
        runtime.store,
        sha256=sha256,
        storage_key=key,
        content_type=file.content_type,
        size=file.size,
    )
    if png is None:
        raise NotFound("This file has no thumbnail.", code="no_thumbnail")
    response = Response(png, mimetype="image/png")
    fresh = request.args.get("v") == sha256
    response.headers["Cache-Control"] = (
        "private, max-age=31536000, immutable" if fresh else "private, no-cache"
    )
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def link_lifetimes(max_age: int) -> list[tuple[int, str]]:
    """The share menu's choices that ``SIGNED_URL_MAX_AGE`` allows (at least one)."""
    choices = [(seconds, label) for seconds, label in _LINK_LIFETIMES if seconds <= max_age]
    return choices or [(max_age, f"{max_age} seconds")]


def _file_view(runtime: Runtime, file_id: str) -> FileView:
    with runtime.db.session() as session:
        file = get_file(session, require_user(), file_id)
        key = file.blob.storage_key
    view = FileView(file, preview_kind(file.content_type, file.category))
    if view.preview == "text":
        view.text = read_text_preview(runtime.store, key, file.size)
        if view.text is None:  # binary after all
            view.preview = None
    return view


def _detail_page(
    view: FileView,
    *,
    edit_error: ServiceError | None = None,
    link: tuple[str, datetime] | None = None,
) -> str:
    return render_template("file.html", **_detail_context(view, edit_error=edit_error, link=link))


def _detail_context(view: FileView, **extra: object) -> dict[str, object]:
    max_age = get_runtime().settings.SIGNED_URL_MAX_AGE
    return {"view": view, "link_lifetimes": link_lifetimes(max_age), **extra}
