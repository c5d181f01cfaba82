"""The API tokens page: create (the plaintext is shown once), list with last use, revoke."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from pydantic import ValidationError
from werkzeug.wrappers import Response

from upload_service.auth.current import login_required, require_user
from upload_service.errors import BadRequest, ServiceError
from upload_service.runtime import get_runtime
from upload_service.schemas.auth import TokenCreate
from upload_service.services.tokens import (
    create_api_token,
    list_api_tokens,
    revoke_api_token,
    token_state,
)
from upload_service.web.htmx import is_htmx, page_response

bp = Blueprint("token_pages", __name__, url_prefix="/tokens")

_DAY = 86400
LIFETIME_CHOICES: dict[str, str] = {
    "": "Never expires",
    str(7 * _DAY): "7 days",
    str(30 * _DAY): "30 days",
    str(90 * _DAY): "90 days",
    str(365 * _DAY): "1 year",
}


@bp.get("")
@login_required
def tokens() -> Response:
    return page_response(_render("tokens.html"))


@bp.post("")
@login_required
def create() -> Response:
    try:
        body = _token_form()
        with get_runtime().db.session() as db:
            token, plaintext = create_api_token(db, require_user(), body.name, body.expires_in)
    except ServiceError as error:
        if is_htmx():
            raise
        return page_response(_render("tokens.html", error=error), error.status)
    created = {"name": token.name, "token": plaintext}
    response = page_response(
        _render("_tokens.html" if is_htmx() else "tokens.html", created=created), 201
    )
    response.headers["Cache-Control"] = "no-store"  # the plaintext must not linger in caches
    return response


@bp.post("/<token_id>/revoke")
@login_required
def revoke(token_id: str) -> Response:
    with get_runtime().db.session() as db:
        token = revoke_api_token(db, require_user(), token_id)
        name = token.name
    if is_htmx():
        return page_response(_render("_tokens.html", revoked=name))
    flash(f"Revoked the token {name}.", "success")
    return redirect(url_for("token_pages.tokens"))


def _token_form() -> TokenCreate:
    """The form, validated by the same model as ``POST /api/tokens``."""
    lifetime = request.form.get("expires_in", "")
    if lifetime not in LIFETIME_CHOICES:
        raise BadRequest("Choose when the token expires.", code="invalid_expiry")
    try:
        return TokenCreate(
            name=request.form.get("name", ""), expires_in=int(lifetime) if lifetime else None
        )
    except ValidationError:
        raise BadRequest(
            "Give the token a name of 1 to 100 characters.", code="invalid_name"
        ) from None


def _render(template: str, **context: object) -> str:
    with get_runtime().db.session() as db:
        rows = list_api_tokens(db, require_user())
    rows.sort(key=lambda token: token.created_at, reverse=True)
    return render_template(
        template,
        tokens=[(token, token_state(token)) for token in rows],
        lifetime_choices=LIFETIME_CHOICES,
        base_url=request.host_url.rstrip("/"),
        **context,
    )
