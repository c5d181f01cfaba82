"""Shared schema pieces: timestamps as ISO 8601 UTC with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema


def iso(value: datetime | None) -> str | None:
    """``2026-11-21T11:05:00Z`` (UTC, seconds precision, trailing ``Z``)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


UtcDateTime = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
