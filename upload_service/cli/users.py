"""`upload-service user list`: who uses the service and how much."""

from __future__ import annotations

import click

from upload_service.cli.context import open_database
from upload_service.cli.table import echo_table
from upload_service.services.users import list_users, quota_bytes


@click.group()
def user() -> None:
    """Inspect users."""


@user.command("list")
def list_() -> None:
    """Every user with files, storage used, quota and last sign-in."""
    with open_database() as (settings, database), database.session() as db:
        rows = [
            (
                account.login,
                account.github_id,
                account.is_admin,
                files,
                used,
                _quota(quota_bytes(account, settings.USER_QUOTA)),
                account.last_login_at,
            )
            for account, files, used in list_users(db)
        ]
    headers = ("LOGIN", "GITHUB ID", "ADMIN", "FILES", "BYTES USED", "QUOTA BYTES", "LAST LOGIN")
    echo_table(headers, rows)


def _quota(value: int) -> str:
    return str(value) if value else "unlimited"
