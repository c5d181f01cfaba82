"""API tokens: random secrets stored as SHA-256, shown once, revocable, optionally expiring."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from upload_service.errors import NotFound
from upload_service.models import ApiToken, User, utcnow

TOKEN_PREFIX = "us_"  # noqa: S105 (a public prefix, not a secret)
# last_used_at is written at most this often, so busy scripts don't write on every request
_LAST_USED_RESOLUTION = timedelta(minutes=1)
# Built once: every API request runs it (one round trip, the owner loaded with the token).
_TOKEN_BY_HASH = (
    select(ApiToken)
    .where(ApiToken.token_hash == bindparam("token_hash"))
    .options(joinedload(ApiToken.user))
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_api_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def create_api_token(
    session: Session, user: User, name: str, expires_in: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plaintext (which is never stored)."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(plaintext),
        prefix=plaintext[:10],
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in) if expires_in else None,
    )
    session.add(token)
    session.flush()
    return token, plaintext


def list_api_tokens(session: Session, user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    return list(session.scalars(query))


def get_api_token(session: Session, user: User, token_id: str) -> ApiToken:
    """The user's token by id; another user's id is simply not found."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such API token.")
    return token


def revoke_api_token(session: Session, user: User, token_id: str) -> ApiToken:
    token = get_api_token(session, user, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def authenticate_api_token(session: Session, plaintext: str) -> User | None:
    """The owner of a live token, recording its use; ``None`` if unknown, revoked or expired."""
    token = session.scalar(_TOKEN_BY_HASH, {"token_hash": hash_token(plaintext)})
    now = utcnow()
    if token is None or not is_active(token, now):
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token.user


def is_active(token: ApiToken, now: datetime | None = None) -> bool:
    now = now or utcnow()
    if token.revoked_at is not None:
        return False
    return token.expires_at is None or token.expires_at > now


def token_state(token: ApiToken, now: datetime | None = None) -> str:
    """``active``, ``revoked`` or ``expired``."""
    if token.revoked_at is not None:
        return "revoked"
    return "active" if is_active(token, now) else "expired"


def list_all_api_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    """Every token (of ``user`` when given), with its owner loaded: for the admin command."""
    query = select(ApiToken).options(joinedload(ApiToken.user)).order_by(ApiToken.created_at)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query))


def revoke_api_token_by_id(session: Session, token_id: str) -> ApiToken:
    """Revoke any user's token (admin command); revoking twice keeps the first time."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No such API token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token
