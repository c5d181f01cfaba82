"""Totals of what is stored, for ``/metrics`` (and anything else that reports on the service)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from upload_service.models import File, User


@dataclass(frozen=True)
class StoredTotals:
    files_by_state: dict[str, tuple[int, int]]  # state → (files, logical bytes)
    users: int


def stored_totals(session: Session) -> StoredTotals:
    """Files and bytes by state, and user accounts: two aggregate queries."""
    rows = session.execute(
        select(File.state, func.count(), func.coalesce(func.sum(File.size), 0)).group_by(File.state)
    ).all()
    users = session.scalar(select(func.count()).select_from(User)) or 0
    return StoredTotals({state: (count, total) for state, count, total in rows}, users)
