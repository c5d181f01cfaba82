"""Schemas of the account and API token endpoints."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from upload_service.schemas.common import UtcDateTime

MAX_TOKEN_LIFETIME = 10 * 365 * 24 * 3600  # ten years, in seconds

TokenName = Annotated[str, Field(min_length=1, max_length=100)]


class TokenCreate(BaseModel):
    """``POST /api/tokens``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: TokenName
    expires_in: int | None = Field(default=None, gt=0, le=MAX_TOKEN_LIFETIME, strict=True)


class TokenOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    expires_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    active: bool


class TokenCreated(TokenOut):
    """The only response that carries the plaintext token."""

    token: str


class TokenList(BaseModel):
    items: list[TokenOut]


class MeOut(BaseModel):
    id: int
    login: str
    name: str | None
    email: str | None
    avatar_url: str | None
    is_admin: bool
    usage_bytes: int
    quota_bytes: int = Field(description="0 means unlimited")


class AdminUserOut(BaseModel):
    id: int
    login: str
    name: str | None
    github_id: int | None
    is_admin: bool
    files: int
    bytes: int
    quota_bytes: int = Field(description="0 means unlimited")
    created_at: UtcDateTime
    last_login_at: UtcDateTime | None


class AdminUserList(BaseModel):
    items: list[AdminUserOut]
