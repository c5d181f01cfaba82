"""The JSON API (``/api/``): thin adapters over the services."""

from __future__ import annotations

from flask import Flask

from upload_service.runtime import Runtime


def init_api(app: Flask, runtime: Runtime) -> None:
    from upload_service.api.system import bp as system_bp

    app.register_blueprint(system_bp)
