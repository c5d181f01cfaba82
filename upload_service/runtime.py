"""The one central object handed to views, commands and the sweeper (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from upload_service.auth.allowlist import Allowlist
from upload_service.auth.github_api import GitHubApi
from upload_service.auth.github_tokens import GitHubTokenVerifier
from upload_service.db import Database
from upload_service.settings import Settings
from upload_service.storage.base import BlobStore


@dataclass
class Runtime:
    settings: Settings
    db: Database
    store: BlobStore
    # Built from the settings: GitHub API calls, and the per-app cache of GitHub bearer tokens.
    github: GitHubApi = field(init=False, repr=False)
    github_tokens: GitHubTokenVerifier = field(init=False, repr=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.github = GitHubApi(settings.GITHUB_API_URL, settings.GITHUB_TIMEOUT)
        self.github_tokens = GitHubTokenVerifier(
            self.github, Allowlist.from_settings(settings), settings.GITHUB_TOKEN_CACHE_SECONDS
        )


def get_runtime() -> Runtime:
    """The runtime of the current Flask app."""
    runtime: Runtime = current_app.extensions["upload_service"]
    return runtime
