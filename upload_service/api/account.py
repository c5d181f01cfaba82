"""``/api/me``, API token management and the admin's user list."""

from __future__ import annotations

from flask import Blueprint, Response

from upload_service.api.common import respond
from upload_service.api.described import Reply, documented, json_reply, path_param
from upload_service.auth.current import require_user
from upload_service.errors import Forbidden
from upload_service.models import ApiToken
from upload_service.runtime import get_runtime
from upload_service.schemas.auth import (
    AdminUserList,
    AdminUserOut,
    MeOut,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
)
from upload_service.services.tokens import (
    create_api_token,
    is_active,
    list_api_tokens,
    revoke_api_token,
)
from upload_service.services.users import get_user, list_users, quota_bytes, usage_bytes

bp = Blueprint("account", __name__, url_prefix="/api")


@bp.get("/me")
@documented({200: json_reply("The user.", MeOut)})
def me() -> Response:
    """The signed-in user, usage and quota"""
    user = require_user()
    runtime = get_runtime()
    with runtime.db.session() as db:
        used = usage_bytes(db, user)
    out = MeOut(
        id=user.id,
        login=user.login,
        name=user.name,
        email=user.email,
        avatar_url=user.avatar_url,
        is_admin=user.is_admin,
        usage_bytes=used,
        quota_bytes=quota_bytes(user, runtime.settings.USER_QUOTA),
    )
    return respond(out)


@bp.get("/tokens")
@documented({200: json_reply("Your tokens (never their plaintext).", TokenList)})
def list_tokens() -> Response:
    """List your API tokens"""
    user = require_user()
    with get_runtime().db.session() as db:
        tokens = list_api_tokens(db, user)
    return respond(TokenList(items=[_token_out(token) for token in tokens]))


@bp.post("/tokens")
@documented(
    {201: json_reply("The token; its plaintext appears in this response only.", TokenCreated)},
    errors=(400, 415),
    example={"name": "backup script", "expires_in": 2592000},
)
def create_token(body: TokenCreate) -> Response:
    """Create an API token"""
    user = require_user()
    with get_runtime().db.session() as db:
        token, plaintext = create_api_token(db, user, body.name, body.expires_in)
    out = TokenCreated(**_token_out(token).model_dump(), token=plaintext)
    response = respond(out, status=201)
    response.headers["Cache-Control"] = "no-store"  # the plaintext must not linger in caches
    return response


@bp.delete("/tokens/<token_id>")
@documented(
    {204: Reply("Revoked.")},
    errors=(404,),
    params=(path_param("token_id", "The token's id.", "$TOKEN_ID"),),
)
def revoke_token(token_id: str) -> Response:
    """Revoke an API token"""
    user = require_user()
    with get_runtime().db.session() as db:
        revoke_api_token(db, user, token_id)
    return Response(status=204)


@bp.get("/admin/users")
@documented({200: json_reply("Every user.", AdminUserList)})
def admin_users() -> Response:
    """All users and their usage (admins only)"""
    user = require_user()
    runtime = get_runtime()
    with runtime.db.session() as db:
        fresh = get_user(db, user.id)  # admin rights are read now, not from the request start
        if fresh is None or not fresh.is_admin:
            raise Forbidden("Only administrators can list users.")
        rows = list_users(db)
    items = [
        AdminUserOut(
            id=row.id,
            login=row.login,
            name=row.name,
            github_id=row.github_id,
            is_admin=row.is_admin,
            files=files,
            bytes=used,
            quota_bytes=quota_bytes(row, runtime.settings.USER_QUOTA),
            created_at=row.created_at,
            last_login_at=row.last_login_at,
        )
        for row, files, used in rows
    ]
    return respond(AdminUserList(items=items))


def _token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        active=is_active(token),
    )
