"""The sign-in page, local-mode sign-in and sign-out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from upload_service.auth.current import current_user, end_session, start_session
from upload_service.auth.loopback import is_local_request
from upload_service.auth.redirects import safe_next_url
from upload_service.errors import Forbidden
from upload_service.models import utcnow
from upload_service.runtime import get_runtime
from upload_service.services.users import ensure_local_user

bp = Blueprint("auth", __name__)


@bp.get("/login")
def signin() -> Response | str:
    next_url = safe_next_url(request.args.get("next"))
    if current_user() is not None:
        return redirect(next_url)
    settings = get_runtime().settings
    return render_template(
        "signin.html",
        next_url=next_url,
        github_enabled=settings.github_enabled,
        local_allowed=not settings.github_enabled and is_local_request(request, settings),
    )


@bp.post("/login/local")
def local_signin() -> Response:
    runtime = get_runtime()
    if runtime.settings.github_enabled:
        raise Forbidden("Sign in with GitHub: local sign-in is off when GitHub is configured.")
    if not is_local_request(request, runtime.settings):
        raise Forbidden(
            "Local sign-in is only available on this machine (loopback address). "
            "Set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET to sign in from elsewhere."
        )
    with runtime.db.session() as db:
        user = ensure_local_user(db)
        user.last_login_at = utcnow()  # shown by `upload-service user list`, as for GitHub
        user_id = user.id
    start_session(user_id)
    return redirect(safe_next_url(request.form.get("next")))


@bp.post("/logout")
def logout() -> Response:
    end_session()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.signin"))
