"""Application factory. Nothing happens at import time; ``create_app`` builds everything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import PathConverter

from upload_service.db import Database
from upload_service.error_handlers import register_error_handlers
from upload_service.runtime import Runtime
from upload_service.settings import Settings, load_settings
from upload_service.storage import open_blob_store
from upload_service.sweeper import EXTENSION_KEY as SWEEPER_EXTENSION
from upload_service.sweeper import start_sweeper

PACKAGE_DIR = Path(__file__).parent


def create_app(
    overrides: dict[str, Any] | None = None, *, settings: Settings | None = None
) -> Flask:
    """Build the app. ``overrides`` take precedence over the environment and ``.env``."""
    settings = settings or load_settings(overrides)
    app = Flask(
        __name__,
        template_folder=str(PACKAGE_DIR / "templates"),
        static_folder=str(PACKAGE_DIR / "static"),
    )
    _configure_flask(app, settings)
    runtime = Runtime(
        settings=settings, db=Database(settings.database_url), store=open_blob_store(settings)
    )
    if settings.AUTO_MIGRATE:
        runtime.db.upgrade()
    app.extensions["upload_service"] = runtime
    _register_parts(app, runtime)
    app.extensions[SWEEPER_EXTENSION] = start_sweeper(runtime)  # None when SWEEP_INTERVAL=0
    return app


class AnyPathConverter(PathConverter):
    """``<path:...>`` that also matches control characters, so hostile paths reach the path
    normalizer (a clear 400) instead of falling through to a routing 404."""

    regex = "(?s:.+?)"
    part_isolating = False


def _configure_flask(app: Flask, settings: Settings) -> None:
    # "/api/fs//x" must reach the view (which normalizes it), not get an HTML 308 redirect.
    app.url_map.merge_slashes = False
    app.url_map.converters["path"] = AnyPathConverter
    app.config.update(
        SECRET_KEY=settings.SECRET_KEY,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="upload_service_session",
        MAX_CONTENT_LENGTH=None,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    if settings.TRUSTED_PROXIES:
        hops = settings.TRUSTED_PROXIES
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )


def _register_parts(app: Flask, runtime: Runtime) -> None:
    from upload_service.api import init_api
    from upload_service.auth import init_auth
    from upload_service.ratelimit import init_rate_limits
    from upload_service.web import init_web
    from upload_service.web.security import register_security_headers

    register_error_handlers(app)
    register_security_headers(app)
    init_rate_limits(app, runtime)
    init_auth(app, runtime)
    init_api(app, runtime)
    init_web(app, runtime)
