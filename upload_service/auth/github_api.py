"""The few GitHub REST calls we make, in one place (sign-in and bearer-token validation)."""

from __future__ import annotations

import logging
from typing import Any

import requests

from upload_service.errors import DependencyDown
from upload_service.services.users import GitHubProfile

log = logging.getLogger(__name__)

_MAX_ORG_PAGES = 10  # 1,000 organizations is plenty for an allowlist check


class GitHubApi:
    """``GET`` requests to the GitHub REST API with a user's token.

    GitHub being unreachable, slow, rate limited or answering 5xx raises
    :class:`~upload_service.errors.DependencyDown`; a token GitHub does not accept is reported
    as ``None`` (or an empty list), never as an exception.
    """

    def __init__(self, api_url: str, timeout: float) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout

    def get_user(self, token: str) -> GitHubProfile | None:
        """The token owner's profile; ``None`` when GitHub does not accept the token."""
        response = self._get(f"{self.api_url}/user", token)
        if not response.ok:
            return None
        body = _json(response)
        if not (isinstance(body, dict) and isinstance(body.get("id"), int) and body.get("login")):
            raise DependencyDown("GitHub sent an unexpected answer; try again later.")
        return GitHubProfile(
            github_id=body["id"],
            login=str(body["login"]),
            name=body.get("name") or None,
            email=body.get("email") or None,
            avatar_url=body.get("avatar_url") or None,
        )

    def get_emails(self, token: str) -> list[dict[str, Any]]:
        """The account's email addresses (needs the ``user:email`` scope, else empty)."""
        response = self._get(f"{self.api_url}/user/emails", token)
        body = _json(response) if response.ok else []
        return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []

    def get_orgs(self, token: str) -> list[str]:
        """Logins of the organizations the account belongs to (private ones need ``read:org``)."""
        orgs: list[str] = []
        url: str | None = f"{self.api_url}/user/orgs?per_page=100"
        for _page in range(_MAX_ORG_PAGES):
            if url is None:
                break
            response = self._get(url, token)
            if not response.ok:
                break
            body = _json(response)
            if isinstance(body, list):
                orgs.extend(str(item["login"]) for item in body if isinstance(item, dict))
            url = self._next_page(response)
        return orgs

    def _next_page(self, response: requests.Response) -> str | None:
        url = response.links.get("next", {}).get("url")
        # follow pagination only on the API host: never send the token anywhere else
        return url if url and url.startswith(self.api_url + "/") else None

    def _get(self, url: str, token: str) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        try:
            response = requests.get(url, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("GitHub API unreachable: %s", exc)
            raise DependencyDown("GitHub is unreachable right now; try again later.") from None
        if response.status_code >= 500:
            log.warning("GitHub API answered %s for %s", response.status_code, url)
            raise DependencyDown(
                f"GitHub answered with an error (HTTP {response.status_code}); try again later."
            )
        if _rate_limited(response):
            raise DependencyDown("GitHub's API rate limit is exhausted; try again later.")
        return response


def primary_verified_email(emails: list[dict[str, Any]]) -> str | None:
    """The primary address if GitHub has verified it, else the first verified one."""
    verified = [item for item in emails if item.get("verified") and item.get("email")]
    for item in verified:
        if item.get("primary"):
            return str(item["email"])
    return str(verified[0]["email"]) if verified else None


def _rate_limited(response: requests.Response) -> bool:
    if response.status_code == 429:
        return True
    return response.status_code == 403 and response.headers.get("X-RateLimit-Remaining") == "0"


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise DependencyDown("GitHub sent an unexpected answer; try again later.") from None
