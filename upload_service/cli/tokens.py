"""`upload-service token create|list|revoke`: API tokens, managed by the operator."""

from __future__ import annotations

import re

import click

from upload_service.cli.context import open_database
from upload_service.cli.table import echo_table
from upload_service.errors import NotFound
from upload_service.models import utcnow
from upload_service.schemas.auth import MAX_TOKEN_LIFETIME, TokenCreate
from upload_service.schemas.common import iso
from upload_service.services.tokens import (
    create_api_token,
    list_all_api_tokens,
    revoke_api_token_by_id,
    token_state,
)
from upload_service.services.users import LOCAL_LOGIN, ensure_local_user, get_user_by_login

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str) -> int:
    """``30d``, ``12h``, ``45m``, ``2w`` or plain seconds, as seconds (1 s to 10 years)."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration such as 30d, 12h, 45m or 3600")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if not 0 < seconds <= MAX_TOKEN_LIFETIME:
        raise ValueError("a token lifetime must be between 1 second and 10 years")
    return seconds


class DurationType(click.ParamType[int, object]):
    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option("--user", "login", required=True, help="Login of the owner ('local' in local mode).")
@click.option("--name", default="cli", show_default=True, help="A name to recognise it by.")
@click.option("--expires", type=DurationType(), default=None, help="Lifetime: 30d, 12h, 3600.")
def create(login: str, name: str, expires: int | None) -> None:
    """Create a token; the plaintext is printed once, alone on the last line."""
    try:
        request = TokenCreate(name=name, expires_in=expires)
    except ValueError:
        raise click.BadParameter("must be 1 to 100 characters", param_hint="--name") from None
    with open_database() as (_settings, database), database.session() as db:
        user = ensure_local_user(db) if login == LOCAL_LOGIN else get_user_by_login(db, login)
        if user is None:
            raise click.ClickException(
                f"no user with login {login!r} (users appear after their first sign-in)"
            )
        row, plaintext = create_api_token(db, user, request.name, request.expires_in)
        expiry = f"expires {iso(row.expires_at)}" if row.expires_at else "never expires"
        click.echo(f"Created API token {row.name!r} (id {row.id}) for {user.login}; {expiry}.")
        click.echo("Copy it now, it is not shown again:")
        click.echo(plaintext)


@token.command("list")
@click.option("--user", "login", default=None, help="Only this user's tokens.")
def list_tokens(login: str | None) -> None:
    """List tokens (never their secret)."""
    with open_database() as (_settings, database), database.session() as db:
        user = None
        if login is not None:
            user = get_user_by_login(db, login)
            if user is None:
                raise click.ClickException(f"no user with login {login!r}")
        now = utcnow()
        rows = [
            (
                t.id,
                t.user.login,
                t.name,
                t.prefix,
                t.created_at,
                t.last_used_at,
                t.expires_at,
                token_state(t, now),
            )
            for t in list_all_api_tokens(db, user)
        ]
    headers = ("ID", "USER", "NAME", "PREFIX", "CREATED", "LAST USED", "EXPIRES", "STATE")
    echo_table(headers, rows)


@token.command("revoke")
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke a token by its id (see `token list`)."""
    with open_database() as (_settings, database), database.session() as db:
        try:
            row = revoke_api_token_by_id(db, token_id)
        except NotFound:
            raise click.ClickException(f"no API token with id {token_id!r}") from None
        click.echo(f"Revoked API token {row.name!r} (id {row.id}) of {row.user.login}.")
