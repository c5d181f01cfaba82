"""Who is making this request.

``Authorization: Bearer <token>`` decides alone when present (one of our API tokens, or a
GitHub token checked with GitHub); otherwise the session cookie's user id. The answer is
computed once per request and kept on ``flask.g`` (``g.auth_method`` tells how).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from flask import g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from upload_service.auth.allowlist import Allowlist
from upload_service.errors import ServiceError, Unauthenticated
from upload_service.models import User
from upload_service.runtime import Runtime, get_runtime
from upload_service.services.tokens import authenticate_api_token, looks_like_api_token
from upload_service.services.users import ensure_github_user, get_user

SESSION_USER_KEY = "user_id"
_MAX_TOKEN_LENGTH = 512

P = ParamSpec("P")
R = TypeVar("R", bound=ResponseReturnValue)


@dataclass(frozen=True)
class Authentication:
    user: User | None
    method: str | None = None  # "session" | "api_token" | "github_token"
    refusal: ServiceError | None = None  # why credentials that were sent are not accepted


ANONYMOUS = Authentication(None)


def current_user() -> User | None:
    """The signed-in user, or ``None``.

    Raises :class:`~upload_service.errors.DependencyDown` when a GitHub bearer token cannot be
    checked because GitHub is down. The returned user is detached from any DB session.
    """
    return _authentication().user


def require_user() -> User:
    """The signed-in user; raises 401 (or 403 for an account the allowlists refuse)."""
    auth = _authentication()
    if auth.user is None:
        raise auth.refusal or Unauthenticated()
    return auth.user


def login_required(view: Callable[P, R]) -> Callable[P, ResponseReturnValue]:
    """For pages: send anonymous visitors to the sign-in page, coming back here afterwards."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if current_user() is None:
            return redirect_to_sign_in()
        return view(*args, **kwargs)

    return wrapper


def redirect_to_sign_in() -> Response:
    here = request.full_path if request.query_string else request.path
    target = url_for("auth.signin", next=here)
    if request.headers.get("HX-Request"):  # htmx would swap the sign-in page into a fragment
        return Response(status=401, headers={"HX-Redirect": target})
    return redirect(target)


def start_session(user_id: int) -> None:
    """Sign ``user_id`` in: the session holds our user id and nothing else of the sign-in."""
    session.clear()
    session[SESSION_USER_KEY] = user_id
    _forget()


def end_session() -> None:
    session.clear()
    _forget()


def _forget() -> None:
    g.pop("_auth", None)
    g.pop("auth_method", None)


def _authentication() -> Authentication:
    failure = g.get("_auth_failure")
    if failure is not None:  # e.g. GitHub down: don't ask it again for the error page
        raise failure
    auth: Authentication | None = g.get("_auth")
    if auth is None:
        try:
            auth = _authenticate(get_runtime())
        except ServiceError as exc:
            g._auth_failure = exc
            raise
        g._auth = auth
        g.auth_method = auth.method
    return auth


def _authenticate(runtime: Runtime) -> Authentication:
    header = request.headers.get("Authorization")
    if header is not None:
        return _authenticate_bearer(runtime, header)
    user_id = session.get(SESSION_USER_KEY)
    if not isinstance(user_id, int):
        return ANONYMOUS
    with runtime.db.session() as db:
        user = get_user(db, user_id)
    if user is None or not Allowlist.from_settings(runtime.settings).permits_known_user(user.login):
        return ANONYMOUS
    return Authentication(user, "session")


def _authenticate_bearer(runtime: Runtime, header: str) -> Authentication:
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_LENGTH:
        return _invalid_token("Send credentials as 'Authorization: Bearer <token>'.")
    if looks_like_api_token(token):
        return _authenticate_api_token(runtime, token)
    return _authenticate_github_token(runtime, token)


def _authenticate_api_token(runtime: Runtime, token: str) -> Authentication:
    with runtime.db.session() as db:
        user = authenticate_api_token(db, token)
    if user is None:
        return _invalid_token("The API token is invalid, revoked or expired.")
    allowlist = Allowlist.from_settings(runtime.settings)
    if not allowlist.permits_known_user(user.login):
        return Authentication(None, refusal=allowlist.refusal(user.login))
    return Authentication(user, "api_token")


def _authenticate_github_token(runtime: Runtime, token: str) -> Authentication:
    # Without a GitHub OAuth app the instance is in local mode: accepting any GitHub account's
    # token would open it to everyone on GitHub.
    if not runtime.settings.github_enabled:
        return _invalid_token("The API token is invalid, revoked or expired.")
    identity = runtime.github_tokens.verify(token)
    if identity is None:
        return _invalid_token("GitHub does not accept this token.")
    if not identity.allowed:
        return Authentication(
            None, refusal=runtime.github_tokens.allowlist.refusal(identity.profile.login)
        )
    with runtime.db.session() as db:
        user = ensure_github_user(db, identity.profile)
    return Authentication(user, "github_token")


def _invalid_token(message: str) -> Authentication:
    refusal = Unauthenticated(
        message,
        code="invalid_token",
        headers={"WWW-Authenticate": 'Bearer realm="upload-service", error="invalid_token"'},
    )
    return Authentication(None, refusal=refusal)
