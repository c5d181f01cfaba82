"""``GET /api/links/<token>``: a signed download link, opened without credentials."""

from __future__ import annotations

from flask import Blueprint, Response

from upload_service.api.described import DOWNLOAD_HEADERS, DOWNLOAD_REPLIES, documented, path_param
from upload_service.errors import NotFound
from upload_service.models import File
from upload_service.runtime import get_runtime
from upload_service.services.links import verify_download_link
from upload_service.serving import send_stored_file

bp = Blueprint("links", __name__, url_prefix="/api")

LINK_TOKEN = path_param("token", "The signed token from the link's URL.", "$LINK_TOKEN")


@bp.get("/links/<token>")
@documented(
    DOWNLOAD_REPLIES,
    errors=(403, 404, 416),
    params=(LINK_TOKEN, *DOWNLOAD_HEADERS),
    public=True,
)
def link_download(token: str) -> Response:
    """Download through a signed link

    Needs no credentials, but a valid, unexpired signature: tampered, expired or foreign links
    answer 403.
    """
    runtime = get_runtime()
    target = verify_download_link(runtime.settings.SECRET_KEY or "", token)
    with runtime.db.session() as session:
        file = session.get(File, target.file_id)
        if file is None or file.owner_id != target.owner_id or file.state != "complete":
            raise NotFound("The linked file no longer exists.")
        key = file.blob.storage_key
    return send_stored_file(runtime.store, file, key)
