"""Sign-in (GitHub OAuth, local mode), bearer tokens and CSRF."""

from __future__ import annotations

from flask import Flask

from upload_service.runtime import Runtime


def init_auth(app: Flask, runtime: Runtime) -> None:
    pass
