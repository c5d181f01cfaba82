"""``/api/folders``: create (``mkdir -p``) and list folders."""

from __future__ import annotations

from flask import Blueprint, Response

from upload_service.api.common import respond
from upload_service.api.described import documented, json_reply, path_param
from upload_service.auth.current import require_user
from upload_service.errors import NotFound
from upload_service.runtime import get_runtime
from upload_service.schemas.files import FolderOut
from upload_service.services import placement
from upload_service.services.files import ensure_folder, list_subfolders
from upload_service.services.paths import normalize_folder, normalize_path
from upload_service.services.users import user_write_session

bp = Blueprint("folders", __name__, url_prefix="/api")

FOLDER_PATH = path_param("path", "A folder path such as `docs/2024`.", "docs/2024")


@bp.put("/folders/<path:path>")
@documented(
    {200: json_reply("It already existed.", FolderOut), 201: json_reply("Created.", FolderOut)},
    errors=(400, 409),
    params=(FOLDER_PATH,),
)
def folder_put(path: str) -> Response:
    """Create a folder (mkdir -p)"""
    user = require_user()
    path = normalize_path(path)
    with user_write_session(get_runtime().db, user) as session:
        created = ensure_folder(session, user, path)
    return respond(FolderOut(path=path, created=created), 201 if created else 200)


@bp.get("/folders", defaults={"path": ""})
@bp.get("/folders/<path:path>")
@documented({200: json_reply("The folder.", FolderOut)}, errors=(400, 404), params=(FOLDER_PATH,))
def folder_get(path: str) -> Response:
    """A folder and its direct subfolders (without a path: the root folder's)"""
    user = require_user()
    path = normalize_folder(path)
    with get_runtime().db.session() as session:
        if not placement.folder_exists(session, user.id, path):
            raise NotFound(f"No folder at {path}.")
        folders = list_subfolders(session, user, path)
    return respond(FolderOut(path=path, created=False, folders=folders))
