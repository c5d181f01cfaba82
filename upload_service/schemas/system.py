"""Schemas shared by every endpoint (the error shape) and of the operational endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    """Every error under ``/api/`` (docs/architecture.md §6)."""

    # The handler always sends all four fields: the schema says so.
    model_config = ConfigDict(
        json_schema_serialization_defaults_required=True,
        json_schema_extra={
            "examples": [
                {
                    "success": False,
                    "error": "No file Vx3kq9fTzQ.",
                    "code": "not_found",
                    "details": [],
                }
            ]
        },
    )

    success: Literal[False] = False
    error: str = Field(description="A message for humans.")
    code: str = Field(description="A stable machine-readable code, e.g. not_found, rate_limited.")
    details: list[Any] = Field(
        default_factory=list, description="Per-field problems or other structured context."
    )


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(
        description="Each dependency (database, storage): 'ok' or 'error: <reason>'."
    )
