"""GitHub sign-in through flask-dance, on github.com or GitHub Enterprise Server.

``/login/github`` starts the OAuth dance and ``/login/authorized`` is the callback (so an OAuth
app registered with ``http://localhost:8000/login/authorized`` works). After sign-in the Flask
session holds our user id only: the GitHub token is used for three reads and dropped. Every
way the dance can fail lands on the sign-in page with a message, never on a 500.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import flask
import requests
from flask import flash, g, redirect, request, url_for
from flask_dance.consumer import OAuth2ConsumerBlueprint, oauth_authorized, oauth_error
from flask_dance.consumer.requests import OAuth2Session
from flask_dance.consumer.storage import NullStorage
from oauthlib.oauth2 import (
    MismatchingStateError,
    OAuth2Error,
    WebApplicationClient,
    is_secure_transport,
)
from werkzeug.wrappers import Response

from upload_service.auth.allowlist import Allowlist
from upload_service.auth.current import start_session
from upload_service.auth.github_api import GitHubApi, primary_verified_email
from upload_service.auth.loopback import is_loopback_host
from upload_service.auth.redirects import DEFAULT_NEXT, safe_next_url
from upload_service.errors import DependencyDown, ServiceError, Unauthenticated
from upload_service.runtime import get_runtime
from upload_service.services.users import GitHubProfile, upsert_github_user
from upload_service.settings import Settings

log = logging.getLogger(__name__)

NEXT_KEY = "login_next"  # where to go after the dance; the only thing we keep during it


# --- flask-dance, oauthlib and requests internals ----------------------------------------------
# What this module needs of those libraries beyond their documented API goes through these
# functions, besides the methods the classes below override (GitHubBlueprint.session,
# teardown_session, login, authorized; GitHubOAuthClient.parse_request_uri_response).
# tests/test_library_pins.py pins each; docs/architecture.md ("Library internals we rely on")
# says why.


def _state_key(blueprint: OAuth2ConsumerBlueprint) -> str:
    """The Flask session key where flask-dance keeps the state of a dance it started."""
    return f"{blueprint.name}_oauth_state"


def _new_dance_session(blueprint: OAuth2ConsumerBlueprint) -> OAuth2Session:
    """A new requests session for the dance, made as flask-dance makes (and caches) it."""
    oauth_session: OAuth2Session = OAuth2ConsumerBlueprint.session.fget(blueprint)
    return oauth_session


def _scopes_not_granted(exc: Exception) -> list[str] | None:
    """The scopes missing from oauthlib's "Scope has changed" Warning; ``None`` for another
    exception."""
    if isinstance(exc, Warning) and hasattr(exc, "old_scope"):
        return sorted(set(exc.old_scope) - set(getattr(exc, "new_scope", [])))
    return None


def _replace_json(response: requests.Response, body: object) -> None:
    """Make ``response`` read as ``body``. requests-oauthlib parses ``response.text`` after its
    compliance hooks, and requests has no public way to change what a response holds."""
    response._content = json.dumps(body).encode()


def make_github_blueprint(settings: Settings) -> GitHubBlueprint:
    scope = ["user:email"] + (["read:org"] if settings.GITHUB_ALLOWED_ORGS else [])
    blueprint = GitHubBlueprint(
        "github",
        __name__,
        client_id=settings.GITHUB_CLIENT_ID,
        client_secret=settings.GITHUB_CLIENT_SECRET,
        scope=scope,
        base_url=f"{settings.GITHUB_API_URL}/",
        authorization_url=f"{settings.GITHUB_URL}/login/oauth/authorize",
        token_url=f"{settings.GITHUB_URL}/login/oauth/access_token",
        token_url_params={"timeout": settings.GITHUB_TIMEOUT},
        url_prefix="/login",
        login_url="/github",
        authorized_url="/authorized",
        storage=NullStorage(),  # the GitHub token is never stored, not even in the session
        session_class=GitHubOAuthSession,
    )
    oauth_authorized.connect_via(blueprint)(_on_authorized)
    oauth_error.connect_via(blueprint)(_on_oauth_error)
    return blueprint


class GitHubBlueprint(OAuth2ConsumerBlueprint):
    """flask-dance's blueprint, made safe for threaded workers and failure-proof."""

    @property
    def session(self) -> OAuth2Session:
        # flask-dance caches this on the blueprint, which threads share (flask-dance #430: a
        # token fetched for one request can end up in another). Keep one per request instead.
        oauth_session: OAuth2Session | None = g.get("_github_oauth_session")
        if oauth_session is None:
            oauth_session = _new_dance_session(self)
            g._github_oauth_session = oauth_session
        return oauth_session

    def teardown_session(self, exception: BaseException | None = None) -> None:
        pass  # the session lives on flask.g and goes away with the request

    def login(self) -> Any:
        if not _may_receive_code_here(request.url):
            return back_to_sign_in(
                "GitHub sign-in needs HTTPS. Behind a TLS-terminating proxy, set TRUSTED_PROXIES."
            )
        flask.session[NEXT_KEY] = safe_next_url(request.args.get("next"))
        try:
            return super().login()
        except OAuth2Error as exc:  # e.g. GITHUB_URL on plain http
            log.error("cannot start GitHub sign-in: %s", exc)
            return back_to_sign_in(f"GitHub sign-in is misconfigured: {exc.description}")

    def authorized(self) -> Any:
        if not request.args.get("error") and _state_key(self) not in flask.session:
            return back_to_sign_in("That sign-in link has expired or was already used. Try again.")
        try:
            return super().authorized()
        except Exception as exc:
            message = _failure_message(exc)
            if message is None:
                raise
            log.warning("GitHub sign-in failed: %r", exc)
            return back_to_sign_in(message)


def _failure_message(exc: Exception) -> str | None:
    """What to tell the user about a failed sign-in; ``None`` for a bug (re-raised)."""
    if isinstance(exc, MismatchingStateError):
        return "The sign-in could not be verified (the state did not match). Please try again."
    if isinstance(exc, OAuth2Error):
        return f"GitHub sign-in failed: {exc.description} Please try again."
    if isinstance(exc, requests.RequestException):
        return "GitHub is unreachable right now; please try again later."
    if isinstance(exc, ServiceError):
        return exc.message
    missing = _scopes_not_granted(exc)
    if missing is not None:
        return (
            f"GitHub did not grant the permissions this service needs ({', '.join(missing)}). "
            "Please sign in again and approve them."
        )
    return None


class GitHubOAuthClient(WebApplicationClient):
    """Accepts the authorization response on plain http when it arrived over loopback.

    oauthlib refuses http unless ``OAUTHLIB_INSECURE_TRANSPORT`` is set for the whole process.
    A callback on this very machine (``http://localhost:8000/login/authorized``, the documented
    development setup) never crosses a network, so only that is let through.
    """

    def parse_request_uri_response(self, uri: str, state: str | None = None) -> Any:
        parts = urlsplit(uri)
        if parts.scheme == "http" and is_loopback_host(parts.hostname):
            uri = urlunsplit(parts._replace(scheme="https"))
        return super().parse_request_uri_response(uri, state=state)


class GitHubOAuthSession(OAuth2Session):
    """The requests session of the dance, adapted to how GitHub answers."""

    def __init__(self, *args: Any, client_id: str | None = None, **kwargs: Any) -> None:
        kwargs["client"] = kwargs.get("client") or GitHubOAuthClient(client_id)
        super().__init__(*args, client_id=client_id, **kwargs)
        self.register_compliance_hook("access_token_response", self._check_token_response)

    def _check_token_response(self, response: requests.Response) -> requests.Response:
        if response.status_code >= 500:
            raise DependencyDown(
                f"GitHub answered with an error (HTTP {response.status_code}); try again later."
            )
        try:
            body = response.json()
        except ValueError:
            return response  # oauthlib reports the missing token
        if isinstance(body, dict) and isinstance(body.get("scope"), str):
            body["scope"] = _normalized_scope(body["scope"], set(self.scope or ()))
            _replace_json(response, body)
        return response


def _normalized_scope(granted_text: str, requested: set[str]) -> str:
    """The ``scope`` of GitHub's token response, in the form oauthlib can compare.

    GitHub joins scopes with commas (``read:org,user:email``) where OAuth 2 uses spaces, and
    it lists scopes granted to this app earlier too. oauthlib raises a "Scope has changed"
    Warning for any difference from the request. Extra scopes do no harm (we read the profile
    and drop the token), so only scopes that are missing are left for oauthlib to report.
    """
    granted = {scope for scope in re.split(r"[\s,]+", granted_text) if scope}
    return " ".join(sorted(requested if granted >= requested else granted))


def _may_receive_code_here(url: str) -> bool:
    return is_secure_transport(url) or is_loopback_host(urlsplit(url).hostname)


def fetch_allowed_profile(api: GitHubApi, allowlist: Allowlist, token: str) -> GitHubProfile:
    """The GitHub account behind a fresh sign-in token, if the allowlists let it in."""
    profile = api.get_user(token)
    if profile is None:
        raise Unauthenticated("GitHub did not accept the sign-in. Please try again.")
    orgs = api.get_orgs(token) if allowlist.needs_orgs(profile.login) else []
    if not allowlist.permits(profile.login, orgs):
        raise allowlist.refusal(profile.login)
    if profile.email is None:
        profile = replace(profile, email=primary_verified_email(api.get_emails(token)))
    return profile


def _on_authorized(blueprint: GitHubBlueprint, token: dict[str, Any] | None) -> Response:
    access_token = (token or {}).get("access_token")
    if not access_token:
        raise Unauthenticated("GitHub did not send an access token. Please try again.")
    runtime = get_runtime()
    allowlist = Allowlist.from_settings(runtime.settings)
    profile = fetch_allowed_profile(runtime.github, allowlist, access_token)
    with runtime.db.session() as db:
        user_id = upsert_github_user(db, profile).id
    next_url = safe_next_url(flask.session.get(NEXT_KEY))
    start_session(user_id)
    # Returning a response tells flask-dance not to store the token anywhere.
    return redirect(next_url)


def _on_oauth_error(
    blueprint: GitHubBlueprint,
    error: object = None,
    error_description: str | None = None,
    error_uri: str | None = None,
) -> Response:
    flask.session.pop(_state_key(blueprint), None)
    if error == "access_denied":
        return back_to_sign_in("You cancelled signing in with GitHub.")
    return back_to_sign_in(f"GitHub reported a problem: {error_description or error}.")


def back_to_sign_in(message: str) -> Response:
    """Show ``message`` on the sign-in page, keeping where the user wanted to go."""
    flash(message, "error")
    next_url = safe_next_url(flask.session.pop(NEXT_KEY, None))
    if next_url == DEFAULT_NEXT:
        return redirect(url_for("auth.signin"))
    return redirect(url_for("auth.signin", next=next_url))
