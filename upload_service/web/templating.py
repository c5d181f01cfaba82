"""What every template can use: the signed-in account, sizes and dates for people."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, url_for
from sqlalchemy.exc import SQLAlchemyError

from upload_service.auth.current import current_user
from upload_service.errors import ServiceError
from upload_service.models import File, User
from upload_service.runtime import get_runtime
from upload_service.schemas.units import human_size
from upload_service.services.thumbnails import can_have_thumbnail
from upload_service.services.users import quota_bytes, usage_bytes

log = logging.getLogger(__name__)

CATEGORY_LABELS = {
    "image": "Images",
    "video": "Videos",
    "audio": "Audio",
    "document": "Documents",
    "archive": "Archives",
    "code": "Code and data",
    "other": "Other files",
}
CATEGORY_NAMES = {
    "image": "Image",
    "video": "Video",
    "audio": "Audio",
    "document": "Document",
    "archive": "Archive",
    "code": "Code",
    "other": "File",
}


@dataclass(frozen=True)
class AccountSummary:
    """What the page header shows about the signed-in user."""

    user: User
    usage_bytes: int
    quota_bytes: int  # 0 = unlimited

    @property
    def display_name(self) -> str:
        return self.user.name or self.user.login

    @property
    def initials(self) -> str:
        return (self.display_name[:1] or "?").upper()

    @property
    def usage_percent(self) -> int:
        if not self.quota_bytes:
            return 0
        return min(100, round(100 * self.usage_bytes / self.quota_bytes))


def init_templating(app: Flask) -> None:
    app.context_processor(_globals)
    app.add_template_filter(human_size, "filesize")
    app.add_template_filter(short_datetime)
    app.add_template_filter(iso_datetime)
    app.add_template_global(thumbnail_url)  # a global: macros imported without context use it


def _globals() -> dict[str, Any]:
    return {
        "current_account": current_account,
        "category_labels": CATEGORY_LABELS,
        "category_names": CATEGORY_NAMES,
    }


def short_datetime(moment: datetime | None, now: datetime | None = None) -> str:
    """``Today, 14:05`` or ``3 Mar 2025, 14:05`` (UTC; the page's script shows local time)."""
    if moment is None:
        return "never"
    moment = moment.astimezone(UTC)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    clock = moment.strftime("%H:%M")
    if moment.date() == now.date():
        return f"Today, {clock} UTC"
    return f"{moment.day} {moment.strftime('%b %Y')}, {clock} UTC"


def iso_datetime(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def thumbnail_url(file: File) -> str | None:
    """The URL of a file's thumbnail, for types that can have one (``v``: the bytes' SHA-256)."""
    if not can_have_thumbnail(file.content_type, file.size):
        return None
    return url_for("file_pages.thumbnail", file_id=file.id, v=file.sha256)


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


def forget_account_summary() -> None:
    """After an upload or delete in this request, the header's usage must be read again."""
    g.pop("_account_summary", None)
