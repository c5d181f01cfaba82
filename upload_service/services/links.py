"""Signed download links: capability URLs that work without credentials until they expire."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from upload_service.errors import BadRequest, Forbidden
from upload_service.models import File, User, utcnow
from upload_service.runtime import Runtime
from upload_service.services.files import get_file

_SALT = "upload-service.download-link"


@dataclass(frozen=True)
class LinkTarget:
    file_id: str
    owner_id: int


def _duration(seconds: int) -> str:
    """``7 days``, ``12 hours``, ``90 minutes``, ``45 seconds``: the largest exact unit."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def link_expiry(expires_in: int, max_age: int) -> datetime:
    if expires_in < 1 or expires_in > max_age:
        raise BadRequest(
            f"A signed URL lasts at most {_duration(max_age)} on this server (SIGNED_URL_MAX_AGE); "
            f"expires_in must be between 1 and {max_age} seconds.",
            code="invalid_expiry",
            details=[{"max_seconds": max_age}],
        )
    return utcnow() + timedelta(seconds=expires_in)


def sign_download_link(secret_key: str, file: File, expires_at: datetime) -> str:
    serializer = URLSafeSerializer(secret_key, salt=_SALT)
    return serializer.dumps({"f": file.id, "o": file.owner_id, "e": int(expires_at.timestamp())})


def verify_download_link(secret_key: str, token: str) -> LinkTarget:
    """The file a link points to; a tampered or expired link is forbidden (403)."""
    try:
        data = URLSafeSerializer(secret_key, salt=_SALT).loads(token)
        target = LinkTarget(file_id=str(data["f"]), owner_id=int(data["o"]))
        expires = int(data["e"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise Forbidden("This link is not valid.", code="link_invalid") from None
    if expires <= int(utcnow().timestamp()):
        raise Forbidden("This link has expired.", code="link_expired")
    return target


def create_download_link(
    runtime: Runtime,
    owner: User,
    file_id: str,
    expires_in: int,
    local_url: Callable[[str], str],
) -> tuple[str, datetime]:
    """A credential-free download URL for the owner's file and when it stops working.

    The storage's own presigned URL when it has one (S3), else a link signed by this service;
    ``local_url`` turns such a signed token into an absolute URL of our link route.
    """
    expires_at = link_expiry(expires_in, runtime.settings.SIGNED_URL_MAX_AGE)
    with runtime.db.session() as session:
        file = get_file(session, owner, file_id)
        key = file.blob.storage_key
    url = runtime.store.signed_download_url(key, expires_in, file.name, file.content_type)
    if url is None:
        url = local_url(sign_download_link(runtime.settings.SECRET_KEY or "", file, expires_at))
    return url, expires_at
