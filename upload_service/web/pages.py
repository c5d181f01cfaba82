"""The file browser: listing, plain (no-JavaScript) uploads and folders.

With JavaScript the upload panel sends each file straight to ``PUT /api/fs/<path>`` (progress
per file); the multipart route here is what the same form does without it. The sign-in page
lives with the rest of sign-in in :mod:`upload_service.auth.views`.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request
from werkzeug.wrappers import Response

from upload_service.auth.current import login_required, require_user
from upload_service.errors import BadRequest, ServiceError
from upload_service.runtime import get_runtime
from upload_service.services.files import delete_folder, ensure_folder
from upload_service.services.ingest import IngestOptions, incoming_parts, ingest_files
from upload_service.services.paths import join_path, normalize_folder, normalize_path
from upload_service.services.users import user_write_session
from upload_service.web.forms import ON_CONFLICT_CHOICES, bound_multipart_body, on_conflict_choice
from upload_service.web.htmx import htmx_target, page_response
from upload_service.web.listing import (
    SORT_CHOICES,
    BrowseParams,
    Listing,
    folder_url,
    load_listing,
    parse_browse_params,
)
from upload_service.web.templating import forget_account_summary

bp = Blueprint("pages", __name__)


@bp.url_value_preprocessor
def _bound_multipart_bodies(endpoint: str | None, _values: object) -> None:
    if endpoint == "pages.upload":
        bound_multipart_body()


@bp.get("/")
@login_required
def index() -> Response:
    params = parse_browse_params(request.args)
    listing = _listing(params)
    target = htmx_target()
    if target == "file-list":  # search, filters, refresh after an upload
        return page_response(render_template("_file_list.html", listing=listing, fragment=True))
    if target == "load-more":  # infinite scroll: the next rows only
        return page_response(render_template("_file_rows.html", listing=listing))
    return page_response(_browser_page(listing))


@bp.post("/upload")
@login_required
def upload() -> Response:
    """The upload form without JavaScript: store the files, then back to the folder."""
    user = require_user()
    folder = normalize_folder(request.form.get("folder"))
    parts = [part for part in request.files.getlist("file") if part.filename]
    try:
        if not parts:
            raise BadRequest("Choose one or more files to upload.", code="no_files")
        items = incoming_parts(folder, parts)
        options = IngestOptions(on_conflict=on_conflict_choice(request.form.get("on_conflict")))
        results = ingest_files(get_runtime(), user, items, options)
    except ServiceError as error:
        forget_account_summary()
        listing = _listing(BrowseParams(folder=folder))
        return page_response(_browser_page(listing, upload_error=error), error.status)
    names = ", ".join(result.file.name for result in results)
    flash(f"Uploaded {_count(len(results), 'file')}: {names}.", "success")
    return redirect(folder_url(folder))


@bp.post("/folders")
@login_required
def create_folder() -> Response:
    user = require_user()
    parent = normalize_folder(request.form.get("parent"))
    try:
        name = normalize_path(request.form.get("name", ""), what="folder name")
        path = join_path(parent, name)
        with user_write_session(get_runtime().db, user) as session:
            created = ensure_folder(session, user, path)
    except ServiceError as error:
        listing = _listing(BrowseParams(folder=parent))
        return page_response(_browser_page(listing, folder_error=error), error.status)
    if not created:
        flash(f"The folder {name} already exists.", "info")
    return redirect(folder_url(path))


@bp.post("/folders/delete")
@login_required
def remove_folder() -> Response:
    """Delete an empty folder (the service refuses folders with content: 409)."""
    user = require_user()
    path = normalize_folder(request.form.get("folder"))
    try:
        with user_write_session(get_runtime().db, user) as session:
            delete_folder(session, user, path, recursive=False)
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(folder_url(path))
    flash(f"Deleted the folder {path}.", "success")
    parent = path.rpartition("/")[0]
    return redirect(folder_url(parent))


def _listing(params: BrowseParams) -> Listing:
    user = require_user()
    with get_runtime().db.session() as session:
        return load_listing(session, user, params)


def _browser_page(
    listing: Listing,
    *,
    upload_error: ServiceError | None = None,
    folder_error: ServiceError | None = None,
) -> str:
    settings = get_runtime().settings
    return render_template(
        "browser.html",
        listing=listing,
        sort_choices=SORT_CHOICES,
        on_conflict_choices=ON_CONFLICT_CHOICES,
        max_file_size=settings.MAX_FILE_SIZE,
        upload_error=upload_error,
        folder_error=folder_error,
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
