"""Validation of GitHub tokens sent as ``Authorization: Bearer``, cached by token hash."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from upload_service.auth.allowlist import Allowlist
from upload_service.auth.github_api import GitHubApi
from upload_service.services.users import GitHubProfile

# A rejected token is remembered only briefly, a good one for GITHUB_TOKEN_CACHE_SECONDS.
_REJECTED_TTL = 60.0
_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class GitHubIdentity:
    profile: GitHubProfile
    allowed: bool


class ExpiringCache:
    """A thread-safe, size-bounded mapping whose entries expire (least recently used go first)."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[str, tuple[float, GitHubIdentity | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def get(self, key: str) -> tuple[bool, GitHubIdentity | None]:
        """``(found, value)``; an expired entry counts as not found."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            if entry[0] <= now:
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, entry[1]

    def put(self, key: str, value: GitHubIdentity | None, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class GitHubTokenVerifier:
    """Who a GitHub token belongs to and whether the allowlists let them in.

    Answers (accepted or rejected token) are cached in this process by the token's SHA-256, so
    a busy script costs GitHub one request every few minutes. GitHub being down is never
    cached: it raises :class:`~upload_service.errors.DependencyDown` every time.
    """

    def __init__(
        self, api: GitHubApi, allowlist: Allowlist, ttl: float, max_entries: int = _MAX_ENTRIES
    ) -> None:
        self.api = api
        self.allowlist = allowlist
        self.ttl = ttl
        self.cache = ExpiringCache(max_entries)

    def verify(self, token: str) -> GitHubIdentity | None:
        """The identity behind ``token``; ``None`` when GitHub does not accept it."""
        key = hashlib.sha256(token.encode()).hexdigest()
        found, identity = self.cache.get(key)
        if found:
            return identity
        identity = self._ask_github(token)
        self.cache.put(key, identity, self.ttl if identity else min(self.ttl, _REJECTED_TTL))
        return identity

    def _ask_github(self, token: str) -> GitHubIdentity | None:
        profile = self.api.get_user(token)
        if profile is None:
            return None
        orgs = self.api.get_orgs(token) if self.allowlist.needs_orgs(profile.login) else []
        return GitHubIdentity(profile, self.allowlist.permits(profile.login, orgs))
