"""The servers under test: ours (``upload-service serve``), nginx (WebDAV PUT) and copyparty.

Each ``start_*`` registers its process on an ``ExitStack`` before waiting for it, so leaving
the stack's block (normally, on an error or on Ctrl-C) stops every server started in it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from harness.common import VENV_BIN, log
from harness.processes import Server, free_port
from harness.tools import Tools


@dataclass
class Peer:
    """A server under test: its process, where it listens and the headers it needs."""

    name: str
    server: Server
    base: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Peers:
    """Our server and the reference servers of this run (None: left out)."""

    ours: Peer
    nginx: Peer | None
    copyparty: Peer | None

    def present(self) -> list[Peer]:
        return [peer for peer in (self.ours, self.nginx, self.copyparty) if peer is not None]


@dataclass(frozen=True)
class OursSetup:
    """How to start our server: the work dir, and settings given with ``--set``."""

    work: Path
    settings: Mapping[str, str]
    notes: list[str]


def start_peers(stack: contextlib.ExitStack[bool | None], setup: OursSetup, tools: Tools) -> Peers:
    """Our server and the peers whose programs were found, each with its own data dir."""
    roots = {"ours": setup.work / "ours-data"}
    if tools.nginx:
        roots["nginx"] = setup.work / "nginx-root"
    if tools.copyparty:
        roots["copyparty"] = setup.work / "copyparty-root"
    for root in roots.values():
        root.mkdir()
    log(f"starting {', '.join(roots)}")
    devices = {os.stat(root).st_dev for root in roots.values()}
    setup.notes.append(
        f"all server data under one temp dir on one filesystem ({len(devices)} device)"
    )
    return Peers(
        ours=start_ours(stack, setup, roots["ours"]),
        nginx=start_nginx(stack, tools.nginx, setup.work, roots["nginx"]) if tools.nginx else None,
        copyparty=(
            start_copyparty(stack, tools.copyparty, setup.work, roots["copyparty"])
            if tools.copyparty
            else None
        ),
    )


def start(
    stack: contextlib.ExitStack[bool | None],
    name: str,
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    ready: tuple[str, Callable[[requests.Response], bool]],
) -> Server:
    """Start ``argv`` as ``name``, stopped with ``stack``; wait until ``ready`` holds."""
    server = stack.enter_context(Server(name, argv, cwd, env))
    server.wait_ready(*ready)
    return server


# --------------------------------------------------------------------------- ours


def server_env(data_dir: Path, port: int, settings: Mapping[str, str]) -> dict[str, str]:
    """Benchmark settings: no rate limit, no sweeper, 2 GiB files, 2 workers, local storage."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "S3_", "AWS_"))}
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'upload-service.db'}",
        STORAGE_URL=f"file://{data_dir / 'uploads'}",
        WORKERS="2",
        RATELIMIT_ENABLED="false",
        SWEEP_INTERVAL="0",
        MAX_FILE_SIZE="2GiB",
        USER_QUOTA="0",
        AUTO_MIGRATE="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


def cli_available(subcommand: str) -> bool:
    """True when ``upload-service SUBCOMMAND --help`` works (the CLI may still be in progress)."""
    probe = subprocess.run(
        [str(VENV_BIN / "upload-service"), subcommand, "--help"],
        capture_output=True,
        cwd=tempfile.gettempdir(),
    )
    return probe.returncode == 0


def start_ours(stack: contextlib.ExitStack[bool | None], setup: OursSetup, data_dir: Path) -> Peer:
    """``upload-service serve`` on a fresh port with its data in ``data_dir``, and a token."""
    port = free_port()
    env = server_env(data_dir, port, setup.settings)
    if cli_available("serve"):
        argv = [str(VENV_BIN / "upload-service"), "serve"]
    else:  # same click command, imported directly
        setup.notes.append(
            "`upload-service` CLI not importable: started cli.serve.serve() directly"
        )
        code = "from upload_service.cli.serve import serve; serve(prog_name='upload-service serve')"
        argv = [sys.executable, "-c", code]
    base = f"http://127.0.0.1:{port}"
    # cwd = the temp dir, so that a developer's .env in the checkout cannot change the settings
    ready = (f"{base}/healthz", lambda r: r.status_code == 200)
    server = start(stack, f"ours-{data_dir.name}", argv, setup.work, env, ready)
    token = create_token(env, setup.work, setup.notes)
    return Peer("ours", server, base, {"Authorization": f"Bearer {token}"})


def create_token(env: dict[str, str], cwd: Path, notes: list[str]) -> str:
    """``upload-service token create --user local --name bench``, or the services directly."""
    argv = [str(VENV_BIN / "upload-service"), "token", "create", "--user", "local"]
    done = subprocess.run([*argv, "--name", "bench"], env=env, cwd=cwd, capture_output=True)
    lines = done.stdout.decode().strip().splitlines()
    if done.returncode == 0 and lines and " " not in lines[-1].strip():
        return lines[-1].strip()
    notes.append(
        "`upload-service token create` failed "
        f"({(done.stderr.decode().strip().splitlines() or ['?'])[-1]}): token created via services"
    )
    return _token_via_services(env["DATABASE_URL"])


def _token_via_services(database_url: str) -> str:
    from upload_service.db import Database
    from upload_service.services.tokens import create_api_token
    from upload_service.services.users import ensure_local_user

    database = Database(database_url)
    try:
        with database.session() as session:
            _row, plaintext = create_api_token(session, ensure_local_user(session), "bench")
    finally:
        database.dispose()
    return plaintext


def start_floor(
    stack: contextlib.ExitStack[bool | None], work: Path, root: Path, *, durable: bool
) -> Peer:
    """``harness/floor_app.py`` under our gunicorn worker class, as many workers and threads as
    ``upload-service serve`` starts with the benchmark's settings (``server_env``)."""
    port = free_port()
    settings = server_env(root, port, {})
    argv = [
        str(VENV_BIN / "python"),
        *(
            "-m",
            "gunicorn",
            "--worker-class",
            "upload_service.gunicorn_worker.HeaderBufferingWorker",
        ),
        *("--workers", settings["WORKERS"], "--threads", str(_default_threads())),
        *("--keep-alive", "5", "--bind", f"127.0.0.1:{port}"),
        *("--chdir", str(Path(__file__).parent), "floor_app:app"),
    ]
    env = {**os.environ, "FLOOR_ROOT": str(root), "FLOOR_DURABLE": "1" if durable else "0"}
    base = f"http://127.0.0.1:{port}"
    name = "flask+fsync" if durable else "flask"
    ready = (f"{base}/", lambda r: r.status_code == 200)
    return Peer(name, start(stack, f"floor-{name}", argv, work, env, ready), base)


def _default_threads() -> int:
    from upload_service.settings import Settings

    threads: int = Settings.model_fields["THREADS"].default
    return threads


# --------------------------------------------------------------------------- references

NGINX_CONF = """\
{user}
worker_processes 2;
daemon off;
master_process on;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        client_max_body_size 0;
        location / {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
    }}
}}
"""


def start_nginx(stack: contextlib.ExitStack[bool | None], exe: str, work: Path, root: Path) -> Peer:
    port = free_port()
    # As root, nginx's workers would switch to "nobody", who cannot write to our 0700 temp dir.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, work=work, port=port, root=root))
    argv = [exe, "-p", str(work), "-e", str(work / "nginx-error.log"), "-c", str(conf)]
    base = f"http://127.0.0.1:{port}"
    ready = (f"{base}/", lambda r: r.status_code in (200, 403, 404))
    return Peer("nginx", start(stack, "nginx", argv, work, dict(os.environ), ready), base)


def start_copyparty(
    stack: contextlib.ExitStack[bool | None], exe: str, work: Path, root: Path
) -> Peer:
    port = free_port()
    home = work / "copyparty-home"  # its salts and session db, not the user's ~/.config
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    argv = [exe, "-q", "-i", "127.0.0.1", "-p", str(port), "-v", f"{root}::rw"]
    base = f"http://127.0.0.1:{port}"
    ready = (f"{base}/", lambda r: r.status_code == 200)
    return Peer("copyparty", start(stack, "copyparty", argv, work, env, ready), base)
