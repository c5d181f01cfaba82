"""`upload-service serve`: the app under gunicorn, migrated once, announced on one line.

The worker class (slow clients, fast request bodies) lives in :mod:`upload_service.gunicorn_worker`.
The master also gives its workers one directory for prometheus-client's multiprocess mode, so
``/metrics`` adds up all the workers (see :mod:`upload_service.api.metrics`).
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from upload_service.db import Database
from upload_service.gunicorn_worker import HeaderBufferingWorker
from upload_service.settings import Settings, SettingsError, load_settings

# prometheus_client's own variable: set here, before a worker imports prometheus_client.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: the HOST setting).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the server (gunicorn) until interrupted."""
    overrides = {
        name: value for name, value in (("HOST", host), ("PORT", port)) if value is not None
    }
    settings = load_settings(overrides)
    check_address_free(settings.HOST, settings.PORT)
    if settings.AUTO_MIGRATE:
        migrate_once(settings)
    # Workers must not race each other over migrations: the master has done them.
    settings = settings.model_copy(update={"AUTO_MIGRATE": False})
    UploadServiceServer(settings, metrics_directory()).run()


def metrics_directory() -> str:
    """A fresh directory for the workers' metric files, announced to them through the
    environment. prometheus_client reads it once, at import, so no worker has imported it yet
    (the app is loaded after the fork). A directory left by an earlier run is never reused:
    its counts would be added to this run's."""
    path = tempfile.mkdtemp(prefix="upload-service-metrics-", dir=_heartbeat_dir())
    os.environ[MULTIPROCESS_DIR] = path
    return path


def check_address_free(host: str, port: int) -> None:
    """Fail with one line when the address can't be listened on (gunicorn would retry for
    seconds and then print several lines). The port is bound and released at once."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                message = f"port {port} on {host} is already in use: stop what listens there, "
                message += "or choose another port with the PORT setting (or --port)"
            else:
                message = f"cannot listen on {host}:{port} (HOST, PORT settings): {exc.strerror}"
            raise click.ClickException(message) from None


def migrate_once(settings: Settings) -> None:
    """Apply migrations in the master, then drop the connections so no worker inherits them."""
    try:
        database = Database(settings.database_url)
    except (ArgumentError, NoSuchModuleError) as exc:  # not a URL, or an unknown dialect
        raise SettingsError(f"invalid setting DATABASE_URL: {exc}") from None
    try:
        database.upgrade()
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        where = database.engine.url.render_as_string(hide_password=True)
        message = f"cannot open the database {where} (DATABASE_URL): {reason}"
        raise click.ClickException(message) from None
    finally:
        database.dispose()


class UploadServiceServer(BaseApplication):
    """gunicorn, configured from our settings rather than its command line."""

    def __init__(self, settings: Settings, metrics_dir: str) -> None:
        self.settings = settings
        self.metrics_dir = metrics_dir
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_options(self.settings, self.metrics_dir).items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        # Runs in each worker after the fork (no preload): every worker has its own engine.
        from upload_service.app import create_app

        return create_app(settings=self.settings)


def gunicorn_options(settings: Settings, metrics_dir: str) -> dict[str, Any]:
    # Imported here, once MULTIPROCESS_DIR is set (see metrics_directory), and not in the hook:
    # gunicorn runs child_exit inside its SIGCHLD handler, and a second worker exiting during
    # that import would re-enter it ("partially initialized module").
    from prometheus_client.multiprocess import mark_process_dead

    def announce(arbiter: Any) -> None:
        port = arbiter.LISTENERS[0].sock.getsockname()[1]  # the real one, even for PORT=0
        click.echo(startup_line(settings, port))

    def forget_worker(_arbiter: Any, worker: Any) -> None:
        # Its counters stay (totals never go down); its "alive" gauge goes.
        mark_process_dead(worker.pid, metrics_dir)  # type: ignore[no-untyped-call]

    def remove_metrics(_arbiter: Any) -> None:
        shutil.rmtree(metrics_dir, ignore_errors=True)

    return {
        "bind": [f"{_url_host(settings.HOST)}:{settings.PORT}"],
        "workers": settings.WORKERS,
        "threads": settings.THREADS,
        "worker_class": HeaderBufferingWorker,
        "timeout": 60,  # heartbeat of the worker's event loop, not a request time limit
        "graceful_timeout": 30,
        "keepalive": 5,
        "limit_request_line": 8190,  # the largest gunicorn allows: long /api/fs/<path> URLs
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "preload_app": False,
        "proc_name": "upload-service",
        # X-Forwarded-* are honoured only through TRUSTED_PROXIES (ProxyFix in the app).
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "worker_tmp_dir": _heartbeat_dir(),
        "when_ready": announce,
        "child_exit": forget_worker,
        "on_exit": remove_metrics,
    }


def startup_line(settings: Settings, port: int) -> str:
    if settings.github_enabled:
        mode = f"GitHub sign-in via {settings.GITHUB_URL}"
    else:
        mode = "local mode: sign in as the local user from this machine"
    return f"Upload Service listening on http://{_url_host(settings.HOST)}:{port} ({mode})"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _heartbeat_dir() -> str | None:
    # gunicorn's heartbeat fchmods a temp file; on a container's overlay disk that can stall.
    shm = "/dev/shm"  # noqa: S108 (a directory choice, not a temp file name)
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
