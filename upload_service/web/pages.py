"""Pages (the sign-in page lives with the rest of sign-in in :mod:`upload_service.auth.views`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, render_template
from sqlalchemy.exc import SQLAlchemyError

from upload_service.auth.current import current_user, login_required
from upload_service.errors import ServiceError
from upload_service.models import User
from upload_service.runtime import get_runtime
from upload_service.services.users import quota_bytes, usage_bytes

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)


@dataclass(frozen=True)
class AccountSummary:
    """What the page header shows about the signed-in user."""

    user: User
    usage_bytes: int
    quota_bytes: int  # 0 = unlimited


@bp.get("/")
@login_required
def index() -> str:
    return render_template("home.html")


@bp.app_context_processor
def _account_helpers() -> dict[str, Any]:
    return {"current_account": current_account}


@bp.app_template_filter("filesize")
def filesize(size: int | None) -> str:
    """``1536`` → ``1.5 KiB``."""
    value = float(size or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def current_account() -> AccountSummary | None:
    """The signed-in user with usage, for templates; ``None`` also when it cannot be known.

    Error pages extend the base template too, so this must not fail while rendering one.
    """
    if "_account_summary" in g:
        summary: AccountSummary | None = g._account_summary
        return summary
    summary = None
    try:
        user = current_user()
        if user is not None:
            runtime = get_runtime()
            with runtime.db.session() as db:
                used = usage_bytes(db, user)
            summary = AccountSummary(user, used, quota_bytes(user, runtime.settings.USER_QUOTA))
    except (ServiceError, SQLAlchemyError) as exc:
        log.warning("cannot show the account in the page header: %s", exc)
    g._account_summary = summary
    return summary
