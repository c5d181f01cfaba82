"""Signed download links: capability URLs that work without credentials until they expire."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from upload_service.errors import BadRequest, Forbidden
from upload_service.models import File, utcnow

_SALT = "upload-service.download-link"


@dataclass(frozen=True)
class LinkTarget:
    file_id: str
    owner_id: int


def link_expiry(expires_in: int, max_age: int) -> datetime:
    if expires_in < 1 or expires_in > max_age:
        raise BadRequest(
            f"expires_in must be between 1 and {max_age} seconds.", code="invalid_expiry"
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
