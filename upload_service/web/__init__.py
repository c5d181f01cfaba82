"""Server-rendered HTML pages and htmx fragments."""

from __future__ import annotations

from flask import Flask

from upload_service.runtime import Runtime


def init_web(app: Flask, runtime: Runtime) -> None:
    from upload_service.web.pages import bp as pages_bp

    app.register_blueprint(pages_bp)
