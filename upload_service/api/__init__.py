"""The JSON API (``/api/``): thin adapters over the services."""

from __future__ import annotations

from flask import Flask

from upload_service.runtime import Runtime


def init_api(app: Flask, runtime: Runtime) -> None:
    from upload_service.api.account import bp as account_bp
    from upload_service.api.direct import bp as direct_bp
    from upload_service.api.files import bp as files_bp
    from upload_service.api.folders import bp as folders_bp
    from upload_service.api.fs import bp as fs_bp
    from upload_service.api.links import bp as links_bp
    from upload_service.api.metrics import bp as metrics_bp
    from upload_service.api.openapi import bp as openapi_bp
    from upload_service.api.sync import bp as sync_bp
    from upload_service.api.system import bp as system_bp
    from upload_service.api.tus import bp as tus_bp
    from upload_service.api.uploads import bp as uploads_bp

    # The order of the tags of the OpenAPI document (each blueprint is one).
    for blueprint in (
        uploads_bp,
        files_bp,
        links_bp,
        direct_bp,
        fs_bp,
        folders_bp,
        sync_bp,
        tus_bp,
        account_bp,
        openapi_bp,
        system_bp,
        metrics_bp,
    ):
        app.register_blueprint(blueprint)
