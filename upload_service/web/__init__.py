"""Server-rendered HTML pages and htmx fragments: thin adapters over the services.

Each page template includes the same ``_thing.html`` fragments that htmx requests get alone
so there is one template per piece of UI whichever way it is asked for.
"""

from __future__ import annotations

from flask import Flask

from upload_service.runtime import Runtime


def init_web(app: Flask, runtime: Runtime) -> None:
    from upload_service.web.attach import bp as attach_bp
    from upload_service.web.file_pages import bp as file_pages_bp
    from upload_service.web.pages import bp as pages_bp
    from upload_service.web.templating import init_templating
    from upload_service.web.token_pages import bp as token_pages_bp

    init_templating(app)
    for blueprint in (pages_bp, file_pages_bp, attach_bp, token_pages_bp):
        app.register_blueprint(blueprint)
