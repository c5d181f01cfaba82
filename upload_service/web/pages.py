"""Pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    return "Upload Service"
