"""GitHub sign-in through flask-dance against the fake GitHub, state checked for real."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.auth.helpers import find_user, flashed_text, page_csrf_token, session_keys
from tests.fixtures.github import FakeAccount, FakeGitHub, github_sign_in


def octocat(**fields: Any) -> FakeAccount:
    defaults: dict[str, Any] = {
        "id": 583231,
        "login": "octocat",
        "name": "The Octocat",
        "emails": [
            {"email": "old@example.com", "primary": False, "verified": True},
            {"email": "octo@example.com", "primary": True, "verified": True},
        ],
    }
    return FakeAccount(**{**defaults, **fields})


def test_sign_in_creates_the_user_and_keeps_only_our_id_in_the_session(
    github: FakeGitHub, app: Flask, client: FlaskClient
) -> None:
    landing = github_sign_in(client, github, octocat())

    assert landing.status_code == 302
    assert landing.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Signed in as The Octocat" in home.get_data(as_text=True)

    user = find_user(app, "octocat")
    assert user is not None
    assert (user.github_id, user.name, user.email) == (583231, "The Octocat", "octo@example.com")
    assert user.last_login_at is not None

    session = session_keys(client)
    assert session["user_id"] == user.id
    assert set(session) <= {"user_id", "csrf_token", "_flashes"}
    issued = set(github.tokens)
    assert not any(token in repr(session) for token in issued)  # the GitHub token is not kept
    # only user:email is requested when no organization allowlist is set
    assert github.authorize_requests[-1]["scope"] == "user:email"
    assert github.authorize_requests[-1]["redirect_uri"] == "http://localhost/login/authorized"


def test_signing_in_again_updates_the_same_user(
    github: FakeGitHub, app: Flask, client: FlaskClient
) -> None:
    github_sign_in(client, github, octocat())
    first = find_user(app, "octocat")
    client.post("/logout", data={"csrf_token": page_csrf_token(client)})

    github_sign_in(client, github, octocat(login="octo-renamed", name="Renamed", email="p@x.io"))

    assert find_user(app, "octocat") is None
    renamed = find_user(app, "octo-renamed")
    assert first is not None and renamed is not None
    assert renamed.id == first.id
    assert (renamed.name, renamed.email) == ("Renamed", "p@x.io")  # public email wins


def test_sign_in_page_offers_github_with_next(github: FakeGitHub, client: FlaskClient) -> None:
    page = client.get("/login?next=/files")
    text = page.get_data(as_text=True)
    assert "Sign in with GitHub" in text
    assert 'href="/login/github?next=/files"' in text
    assert "Continue as local user" not in text


def test_next_is_followed_after_sign_in(github: FakeGitHub, client: FlaskClient) -> None:
    anonymous = client.get("/?tab=recent")
    assert anonymous.status_code == 302
    next_url = parse_qs(urlsplit(anonymous.headers["Location"]).query)["next"][0]
    assert next_url == "/?tab=recent"

    landing = github_sign_in(client, github, octocat(), next_url=next_url)

    assert landing.headers["Location"] == "/?tab=recent"


@pytest.mark.parametrize(
    "evil",
    [
        "//evil.com",
        "https://evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "/\t/evil.com",
        "//evil.com/",
    ],
)
def test_next_cannot_leave_the_site(evil: str, github: FakeGitHub, client: FlaskClient) -> None:
    landing = github_sign_in(client, github, octocat(), next_url=evil)
    assert landing.headers["Location"] == "/"


@pytest.mark.parametrize(
    "allowed",
    [
        pytest.param("OctoCat", marks=pytest.mark.settings(GITHUB_ALLOWED_USERS="OctoCat")),
        pytest.param("list", marks=pytest.mark.settings(GITHUB_ALLOWED_USERS="someone,octocat")),
    ],
)
def test_user_allowlist_lets_listed_logins_in(
    allowed: str, github: FakeGitHub, client: FlaskClient
) -> None:
    landing = github_sign_in(client, github, octocat())
    assert landing.headers["Location"] == "/"
    assert client.get("/").status_code == 200


@pytest.mark.settings(GITHUB_ALLOWED_USERS="hubot")
def test_user_allowlist_refuses_others_with_a_message(
    github: FakeGitHub, app: Flask, client: FlaskClient
) -> None:
    landing = github_sign_in(client, github, octocat())

    assert "'octocat' is not allowed to use this service" in flashed_text(client, landing)
    assert "user_id" not in session_keys(client)
    assert find_user(app, "octocat") is None
    assert client.get("/").status_code == 302  # still signed out


@pytest.mark.settings(GITHUB_ALLOWED_ORGS="Acme")
def test_org_allowlist_asks_for_read_org_and_checks_membership(
    github: FakeGitHub, client: FlaskClient
) -> None:
    landing = github_sign_in(client, github, octocat(orgs=["other", "acme"]))

    assert landing.headers["Location"] == "/"
    assert set(github.authorize_requests[-1]["scope"].split()) == {"read:org", "user:email"}
    assert github.hits["/api/v3/user/orgs"] == 1


@pytest.mark.settings(GITHUB_ALLOWED_ORGS="acme")
def test_org_allowlist_refuses_non_members(github: FakeGitHub, client: FlaskClient) -> None:
    landing = github_sign_in(client, github, octocat(orgs=["other"]))

    assert "'octocat' is not allowed to use this service" in flashed_text(client, landing)
    assert "user_id" not in session_keys(client)


@pytest.mark.settings(GITHUB_ALLOWED_ORGS="acme", GITHUB_ALLOWED_USERS="octocat")
def test_user_list_and_org_list_add_up(github: FakeGitHub, client: FlaskClient) -> None:
    landing = github_sign_in(client, github, octocat(orgs=[]))
    assert landing.headers["Location"] == "/"
    assert github.hits["/api/v3/user/orgs"] == 0  # listed by login: no need to ask


def test_extra_granted_scopes_do_not_break_sign_in(github: FakeGitHub, client: FlaskClient) -> None:
    github.granted_scope = "repo,user:email"  # scopes the user granted this app earlier
    landing = github_sign_in(client, github, octocat())
    assert landing.headers["Location"] == "/"


@pytest.mark.settings(GITHUB_ALLOWED_ORGS="acme")
def test_missing_granted_scope_is_explained(github: FakeGitHub, client: FlaskClient) -> None:
    github.granted_scope = "user:email"
    landing = github_sign_in(client, github, octocat(orgs=["acme"]))

    text = flashed_text(client, landing)
    assert "did not grant the permissions this service needs (read:org)" in text
    assert "user_id" not in session_keys(client)


def test_denied_authorization_lands_on_sign_in_with_a_message(
    github: FakeGitHub, client: FlaskClient
) -> None:
    github.deny = True
    landing = github_sign_in(client, github, octocat())

    assert urlsplit(landing.headers["Location"]).path == "/login"
    assert "You cancelled signing in with GitHub." in flashed_text(client, landing)
    assert "user_id" not in session_keys(client)


def test_wrong_state_is_refused(github: FakeGitHub, client: FlaskClient) -> None:
    start = client.get("/login/github")
    github.signing_in = octocat()
    at_github = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = at_github.headers["Location"]
    state = parse_qs(urlsplit(callback).query)["state"][0]
    forged = callback.replace(f"state={state}", "state=forged")

    landing = client.get(forged)

    assert "could not be verified" in flashed_text(client, landing)
    assert "user_id" not in session_keys(client)


def test_callback_without_a_started_sign_in_is_refused(
    github: FakeGitHub, client: FlaskClient
) -> None:
    """Login CSRF: an attacker's code and state, in a browser that never started a sign-in."""
    attacker = FlaskClient(client.application)
    start = attacker.get("/login/github")
    github.signing_in = octocat(login="mallory", id=666)
    at_github = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)

    landing = client.get(at_github.headers["Location"])

    assert "expired or was already used" in flashed_text(client, landing)
    assert "user_id" not in session_keys(client)


def test_replayed_callback_is_refused(github: FakeGitHub, app: Flask, client: FlaskClient) -> None:
    start = client.get("/login/github")
    github.signing_in = octocat()
    at_github = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = at_github.headers["Location"]
    assert client.get(callback).headers["Location"] == "/"

    other_browser = FlaskClient(app)
    replay = other_browser.get(callback)
    assert "expired or was already used" in flashed_text(other_browser, replay)
    assert "user_id" not in session_keys(other_browser)

    again = client.get(callback)  # the same browser, once more
    assert urlsplit(again.headers["Location"]).path == "/login"


def test_wrong_client_secret_is_reported(github: FakeGitHub, client: FlaskClient) -> None:
    github.client_secret = "rotated"
    landing = github_sign_in(client, github, octocat())
    assert "GitHub sign-in failed" in flashed_text(client, landing)


@pytest.mark.parametrize("failure", ["token_502", "api_502", "down"])
def test_github_down_during_sign_in_shows_a_message(
    failure: str, github: FakeGitHub, client: FlaskClient
) -> None:
    start = client.get("/login/github")
    github.signing_in = octocat()
    at_github = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    if failure == "down":
        github.go_down()
    elif failure == "token_502":
        github.failure_status = 502
    else:  # the token exchange works, the API calls after it fail
        github.api_failure_status = 502

    landing = client.get(at_github.headers["Location"])

    assert landing.status_code == 302
    text = flashed_text(client, landing)
    assert "GitHub is unreachable" in text or "GitHub answered with an error" in text
    assert "user_id" not in session_keys(client)


def test_sign_in_page_redirects_home_when_signed_in(
    github: FakeGitHub, client: FlaskClient
) -> None:
    github_sign_in(client, github, octocat())
    assert client.get("/login").headers["Location"] == "/"


def test_plain_http_sign_in_is_refused_off_loopback(
    github: FakeGitHub, client: FlaskClient
) -> None:
    """The code would cross the network in clear text (typically: a TLS proxy not trusted)."""
    start = client.get("/login/github", base_url="http://uploads.example.com")

    assert urlsplit(start.headers["Location"]).path == "/login"
    page = client.get("/login", base_url="http://uploads.example.com").get_data(as_text=True)
    assert "GitHub sign-in needs HTTPS" in page and "TRUSTED_PROXIES" in page
    assert github.authorize_requests == []
