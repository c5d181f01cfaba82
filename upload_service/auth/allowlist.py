"""Who may use the service: ``GITHUB_ALLOWED_USERS`` and ``GITHUB_ALLOWED_ORGS``.

A user is allowed when no list is set, when their login is listed, or when they belong to a
listed organization (the lists add up). Logins and organization names compare case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from upload_service.errors import Forbidden
from upload_service.settings import Settings


@dataclass(frozen=True)
class Allowlist:
    users: frozenset[str]
    orgs: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Allowlist:
        # The lists restrict GitHub identities; local mode has only the loopback local user.
        if not settings.github_enabled:
            return cls(frozenset(), frozenset())
        return cls(
            users=frozenset(login.lower() for login in settings.GITHUB_ALLOWED_USERS),
            orgs=frozenset(org.lower() for org in settings.GITHUB_ALLOWED_ORGS),
        )

    @property
    def restricted(self) -> bool:
        return bool(self.users or self.orgs)

    def needs_orgs(self, login: str) -> bool:
        """Whether deciding about ``login`` needs their organization memberships."""
        return bool(self.orgs) and login.lower() not in self.users

    def permits(self, login: str, orgs: Iterable[str] = ()) -> bool:
        """The full check, done with fresh data from GitHub (sign-in, GitHub bearer tokens)."""
        if not self.restricted or login.lower() in self.users:
            return True
        return not self.orgs.isdisjoint(org.lower() for org in orgs)

    def permits_known_user(self, login: str) -> bool:
        """The check for sessions and our API tokens, where only the login is at hand.

        Organization membership was verified when the user signed in; it cannot be re-checked
        without a GitHub token, so with an organization list only the login list is skipped.
        """
        return not self.users or bool(self.orgs) or login.lower() in self.users

    def refusal(self, login: str) -> Forbidden:
        return Forbidden(
            f"The GitHub account {login!r} is not allowed to use this service.",
            code="not_allowed",
        )
