"""`upload-service serve`: the app under gunicorn, migrated once, announced on one line.

Slow clients (slowloris). Stock gthread hands a connection to a pool thread as soon as its first
byte arrives, and the thread then blocks, without any deadline, until the request headers are
complete (``TConn.init`` makes the socket blocking, ``next(conn.parser)`` reads). 100 clients
trickling one header byte per second therefore hold 100 threads, more than WORKERS x THREADS,
and everyone else queues behind them. More threads only move the threshold. Instead,
:class:`HeaderBufferingWorker` keeps reading in gthread's event loop until the headers are
complete (as nginx does), so a slow client costs a small buffer and a file descriptor, never a
thread; clients that do not finish their headers within ``HEADER_TIMEOUT`` are dropped. Threads
only ever see requests ready to run, and an idle timeout frees a thread whose client stalls
mid-body. No C dependency is needed (gevent would be one).
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import TConn, ThreadWorker
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from upload_service.db import Database
from upload_service.settings import Settings, SettingsError, load_settings

HEADER_TIMEOUT = 30.0  # seconds for a client to send its complete request headers
IDLE_TIMEOUT = 120.0  # seconds a busy thread waits for a silent client (body read, response write)
MAX_HEADER_BYTES = 64 * 1024  # larger request heads are refused with 431
_RECV_SIZE = 16 * 1024
_END_OF_HEADERS = b"\r\n\r\n"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Connection: close\r\nContent-Length: 0\r\n\r\n"
)


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: the HOST setting).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the server (gunicorn) until interrupted."""
    overrides = {
        name: value for name, value in (("HOST", host), ("PORT", port)) if value is not None
    }
    settings = load_settings(overrides)
    if settings.AUTO_MIGRATE:
        migrate_once(settings)
    # Workers must not race each other over migrations: the master has done them.
    UploadServiceServer(settings.model_copy(update={"AUTO_MIGRATE": False})).run()


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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_options(self.settings).items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        # Runs in each worker after the fork (no preload): every worker has its own engine.
        from upload_service.app import create_app

        return create_app(settings=self.settings)


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    def announce(arbiter: Any) -> None:
        port = arbiter.LISTENERS[0].sock.getsockname()[1]  # the real one, even for PORT=0
        click.echo(startup_line(settings, port))

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


@dataclass
class _RequestHead:
    """Bytes received from a connection until its request headers are complete."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)


class HeaderBufferingWorker(ThreadWorker):
    """gthread, except that a connection gets a thread only once its headers have arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._heads: dict[TConn, _RequestHead] = {}  # touched by the event loop thread only
        self._next_expiry_check = 0.0

    def accept(self, server: Any, listener: socket.socket) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = TConn(self.cfg, sock, client, server)
        self.nr_conns += 1
        self._heads[conn] = _RequestHead(deadline=time.monotonic() + HEADER_TIMEOUT)
        with self._lock:
            self.poller.register(sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection starts its next request: buffer its headers too."""
        with self._lock:
            try:
                self._keep.remove(conn)
            except ValueError:  # murder_keepalived closed it meanwhile
                return
            self.poller.modify(client, selectors.EVENT_READ, partial(self._on_readable, conn))
        head = _RequestHead(deadline=time.monotonic() + HEADER_TIMEOUT)
        head.data += _take_unparsed(conn)
        self._heads[conn] = head
        self._on_readable(conn, client)

    def _on_readable(self, conn: TConn, client: socket.socket) -> None:
        head = self._heads[conn]
        try:
            chunk = conn.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(conn)
            return
        search_from = max(0, len(head.data) - len(_END_OF_HEADERS) + 1)
        head.data += chunk
        if head.data.find(_END_OF_HEADERS, search_from) != -1:
            self._dispatch(conn, bytes(head.data))
        elif len(head.data) > MAX_HEADER_BYTES:
            with contextlib.suppress(OSError):  # best effort: the client is misbehaving
                conn.sock.send(_TOO_LARGE)
            self._drop(conn)

    def _dispatch(self, conn: TConn, received: bytes) -> None:
        del self._heads[conn]
        with self._lock:
            self.poller.unregister(conn.sock)
        conn.init()  # blocking socket and (first time) a parser
        conn.parser.unreader.unread(received)
        conn.sock.settimeout(IDLE_TIMEOUT)
        self._wrap_future(self.tpool.submit(self.handle, conn), conn)

    def _drop(self, conn: TConn) -> None:
        del self._heads[conn]
        with self._lock:
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    def murder_keepalived(self) -> None:
        """Close idle kept-alive connections (gthread) and clients too slow with headers."""
        super().murder_keepalived()
        now = time.monotonic()
        if now < self._next_expiry_check:  # the loop runs once per event; scan once a second
            return
        self._next_expiry_check = now + 1.0
        for conn in [conn for conn, head in self._heads.items() if head.deadline <= now]:
            self._drop(conn)


def _take_unparsed(conn: TConn) -> bytes:
    """Bytes the parser already read past the previous request (a pipelined next request)."""
    if conn.parser is None:
        return b""
    unreader = conn.parser.unreader
    data: bytes = unreader.buf.getvalue()
    unreader.buf.seek(0)
    unreader.buf.truncate()
    return data
