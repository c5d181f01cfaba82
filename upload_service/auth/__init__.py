"""Sign-in (GitHub OAuth, local mode), bearer tokens and CSRF.

Views call :func:`upload_service.auth.current.require_user` (API) or decorate pages with
:func:`~upload_service.auth.current.login_required`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from upload_service.runtime import Runtime


def init_auth(app: Flask, runtime: Runtime) -> None:
    from upload_service.auth.csrf import init_csrf
    from upload_service.auth.github import make_github_blueprint
    from upload_service.auth.session_cookie import RequestAwareSessionInterface
    from upload_service.auth.views import bp as auth_bp

    app.session_interface = RequestAwareSessionInterface()
    init_csrf(app)
    app.register_blueprint(auth_bp)
    if runtime.settings.github_enabled:
        app.register_blueprint(make_github_blueprint(runtime.settings))
