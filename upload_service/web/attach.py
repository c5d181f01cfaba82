"""The "attach to a form" flow of the original Upload Service.

Choosing files in the form uploads them at once as a temporary upload (invisible in listings,
swept after ``TEMP_UPLOAD_TTL``); the file control is replaced by chips, each carrying its
upload's token in a hidden ``upload`` field. Submitting the form (folder, description)
persists them; abandoning it lets them expire. Without JavaScript the chosen files travel with
the form itself and are stored on submit, with the same folder and description.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, request
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from upload_service.auth.current import login_required, require_user
from upload_service.errors import BadRequest, ServiceError
from upload_service.models import File
from upload_service.runtime import Runtime, get_runtime
from upload_service.schemas.files import OnConflict
from upload_service.services.files import MAX_DESCRIPTION
from upload_service.services.ingest import IngestOptions, incoming_parts, ingest_files
from upload_service.services.paths import normalize_folder
from upload_service.services.temporary import (
    discard_temporary,
    get_temporary,
    persist_temporary_upload,
    upload_temporary,
)
from upload_service.services.users import user_write_session
from upload_service.web.forms import ON_CONFLICT_CHOICES, bound_multipart_body, on_conflict_choice
from upload_service.web.htmx import page_response
from upload_service.web.listing import folder_url

bp = Blueprint("attach", __name__, url_prefix="/attach")
_MAX_TOKENS = 100


@dataclass
class Attachment:
    """One temporary upload, shown as chips (one per file) with its token."""

    token: str
    files: list[File]


@bp.url_value_preprocessor
def _bound_multipart_bodies(endpoint: str | None, _values: object) -> None:
    if endpoint in ("attach.attach_files", "attach.submit"):
        bound_multipart_body()


@bp.get("")
@login_required
def form() -> Response:
    folder = normalize_folder(request.args.get("folder"))
    return page_response(_form_page(folder=folder))


@bp.post("/files")
@login_required
def attach_files() -> Response:
    """Store the chosen files as one temporary upload; answer with its chips."""
    parts = _file_parts()
    if not parts:
        raise BadRequest("Choose one or more files.", code="no_files")
    items = incoming_parts("", parts)
    temporary, files = upload_temporary(get_runtime(), require_user(), items)
    body = render_template("_attachment.html", attachment=Attachment(temporary.id, files))
    return page_response(body, 201)


@bp.post("/files/<token>/discard")
@login_required
def discard(token: str) -> Response:
    """Remove a chip: its temporary upload is deleted now rather than at expiry."""
    user = require_user()
    with user_write_session(get_runtime().db, user) as session:
        discard_temporary(session, user, token)
    return page_response("")


@bp.post("")
@login_required
def submit() -> Response:
    runtime = get_runtime()
    folder = request.form.get("folder", "")
    description = request.form.get("description", "").strip()
    tokens = list(dict.fromkeys(request.form.getlist("upload")))[:_MAX_TOKENS]
    saved: list[File] = []
    try:
        folder = normalize_folder(folder)
        if len(description) > MAX_DESCRIPTION:
            raise BadRequest(f"The description is longer than {MAX_DESCRIPTION} characters.")
        on_conflict = on_conflict_choice(request.form.get("on_conflict"))
        if not tokens and not _file_parts():
            raise BadRequest("Add at least one file.", code="no_files")
        while tokens:  # one at a time: what is saved stays saved if a later one conflicts
            saved += persist_temporary_upload(
                runtime,
                require_user(),
                tokens[0],
                folder=folder,
                description=description,
                on_conflict=on_conflict,
            )
            tokens.pop(0)
        saved += _store_plain_parts(runtime, folder, description, on_conflict)
    except ServiceError as error:
        page = _form_page(
            folder=folder, description=description, tokens=tokens, saved=saved, error=error
        )
        return page_response(page, error.status)
    flash(f"Saved {_files(len(saved))} to {folder or 'the top folder'}.", "success")
    return redirect(folder_url(folder))


def _store_plain_parts(
    runtime: Runtime, folder: str, description: str, on_conflict: OnConflict
) -> list[File]:
    """The files of a form sent without JavaScript: stored at once, all or none."""
    parts = _file_parts()
    if not parts:
        return []
    items = incoming_parts(folder, parts)
    options = IngestOptions(on_conflict=on_conflict, description=description)
    return [result.file for result in ingest_files(runtime, require_user(), items, options)]


def _file_parts() -> list[FileStorage]:
    return [part for part in request.files.getlist("file") if part.filename]


def _attachments(tokens: list[str]) -> list[Attachment]:
    """The chips still pending after a failed submit; expired ones are dropped."""
    attachments = []
    with get_runtime().db.session() as session:
        for token in tokens:
            try:
                _temporary, files = get_temporary(session, require_user(), token)
            except ServiceError:
                continue
            attachments.append(Attachment(token, files))
    return attachments


def _form_page(
    *,
    folder: str,
    description: str = "",
    tokens: list[str] | None = None,
    saved: list[File] | None = None,
    error: ServiceError | None = None,
) -> str:
    runtime = get_runtime()
    return render_template(
        "attach.html",
        folder=folder,
        description=description,
        attachments=_attachments(tokens or []),
        saved=saved or [],
        error=error,
        on_conflict_choices=ON_CONFLICT_CHOICES,
        on_conflict=request.form.get("on_conflict", "error"),
        ttl_minutes=max(1, runtime.settings.TEMP_UPLOAD_TTL // 60),
        max_file_size=runtime.settings.MAX_FILE_SIZE,
    )


def _files(number: int) -> str:
    return "1 file" if number == 1 else f"{number} files"
