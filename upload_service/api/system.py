"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from upload_service.api.described import documented, json_reply
from upload_service.runtime import get_runtime
from upload_service.schemas.system import HealthOut, ReadyOut

bp = Blueprint("system", __name__)


@bp.get("/healthz")
@documented({200: json_reply("Alive.", HealthOut)}, public=True)
def healthz() -> Response:
    """Liveness: the process answers"""
    return jsonify(status="ok")


@bp.get("/readyz")
@documented(
    {200: json_reply("Ready.", ReadyOut), 503: json_reply("Not ready.", ReadyOut)}, public=True
)
def readyz() -> tuple[Response, int]:
    """Readiness: database and storage are reachable"""
    runtime = get_runtime()
    checks = {"database": _check(runtime.db.ping), "storage": _check(runtime.store.ping)}
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


def _check(probe: object) -> str:
    try:
        probe()  # type: ignore[operator]
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"error: {type(exc).__name__}"
    return "ok"
