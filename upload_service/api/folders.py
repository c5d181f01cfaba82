"""``/api/folders``: create (``mkdir -p``) and list folders."""

from __future__ import annotations

from flask import Blueprint, Response

from upload_service.api.common import respond
from upload_service.auth.current import require_user
from upload_service.errors import NotFound
from upload_service.runtime import get_runtime
from upload_service.schemas.files import FolderOut
from upload_service.services import placement
from upload_service.services.files import ensure_folder, list_subfolders
from upload_service.services.paths import normalize_folder, normalize_path
from upload_service.services.users import user_write_session

bp = Blueprint("folders", __name__, url_prefix="/api")


@bp.put("/folders/<path:raw_path>")
def folder_put(raw_path: str) -> Response:
    """``mkdir -p``: 201 when created, 200 when it already existed."""
    user = require_user()
    path = normalize_path(raw_path)
    with user_write_session(get_runtime().db, user) as session:
        created = ensure_folder(session, user, path)
    return respond(FolderOut(path=path, created=created), 201 if created else 200)


@bp.get("/folders", defaults={"raw_path": ""})
@bp.get("/folders/<path:raw_path>")
def folder_get(raw_path: str) -> Response:
    """A folder and its direct subfolders."""
    user = require_user()
    path = normalize_folder(raw_path)
    with get_runtime().db.session() as session:
        if not placement.folder_exists(session, user.id, path):
            raise NotFound(f"No folder at {path}.")
        folders = list_subfolders(session, user, path)
    return respond(FolderOut(path=path, created=False, folders=folders))
