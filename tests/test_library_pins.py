"""The library internals we rely on, each pinned: a failure here names what changed upstream.

``upload_service/gunicorn_worker.py`` (gunicorn's gthread worker and request parser) and
``upload_service/auth/github.py`` (flask-dance, oauthlib, requests-oauthlib, requests) reach into
undocumented parts of libraries, each through one small adapter at the top of the module;
``auth/csrf.py`` (flask-wtf) and ``cli/serve.py`` (gunicorn's arbiter) each use one such part.
docs/architecture.md ("Library internals we rely on") says why each is needed. The behavioural
tests (tests/test_gunicorn_worker.py, tests/test_serve.py, tests/auth/) exercise the same code
end to end; these are the fast, explicit list. When a test here fails, fix the adapter, not the
test, unless the library offers a public way now.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import selectors
import socket
import tomllib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from importlib.metadata import version
from pathlib import Path
from typing import Any

import flask
import pytest
import requests
from flask_dance.consumer import OAuth2ConsumerBlueprint
from flask_dance.consumer.storage import NullStorage
from flask_wtf.csrf import CSRFProtect
from gunicorn.arbiter import Arbiter
from gunicorn.config import Config
from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import SocketUnreader, Unreader
from gunicorn.http.wsgi import default_environ
from gunicorn.sock import TCPSocket
from gunicorn.workers import base as gunicorn_base
from gunicorn.workers.gthread import TConn, ThreadWorker
from oauthlib.oauth2 import (
    InsecureTransportError,
    MismatchingStateError,
    OAuth2Error,
    WebApplicationClient,
    is_secure_transport,
)
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from requests_oauthlib import OAuth2Session as RequestsOAuth2Session

from upload_service import gunicorn_worker as worker_module
from upload_service.auth import github as github_module
from upload_service.auth.github import GitHubBlueprint, GitHubOAuthClient, GitHubOAuthSession
from upload_service.gunicorn_worker import HeaderBufferingWorker, SocketBodyInput

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# The version ranges these pins were last checked against. A changed range in pyproject.toml
# fails test_declared_ranges_are_the_reviewed_ones: check this file's pins for that library
# against the new versions (and the adapters they guard), then update the range here.
REVIEWED_RANGES = {
    "gunicorn": ">=22,<24",
    "flask-dance": ">=7.1,<8",
    "flask-wtf": ">=1.2,<2",
    "requests": ">=2.31,<3",
}
# Not declared by us (flask-dance brings them): the major versions the pins were checked with.
REVIEWED_TRANSITIVE_MAJOR = {"oauthlib": 4, "requests-oauthlib": 2}


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def assert_has(obj: object, *names: str, where: str) -> None:
    missing = [name for name in names if not hasattr(obj, name)]
    assert not missing, f"{where} no longer has {missing}: adapt the code that uses them"


# --- versions ----------------------------------------------------------------------------------


def _declared_ranges() -> dict[str, SpecifierSet]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    return {canonicalize_name(r.name): r.specifier for r in requirements}


@pytest.mark.parametrize("package", sorted(REVIEWED_RANGES))
def test_declared_ranges_are_the_reviewed_ones(package: str) -> None:
    declared = _declared_ranges()[canonicalize_name(package)]
    reviewed = SpecifierSet(REVIEWED_RANGES[package])
    assert declared == reviewed, (
        f"pyproject.toml now allows {package} {declared}, the pins in {__file__} were checked "
        f"for {reviewed}: check them against the new versions, then update REVIEWED_RANGES"
    )


@pytest.mark.parametrize("package", sorted(REVIEWED_RANGES))
def test_installed_version_is_in_the_declared_range(package: str) -> None:
    declared = _declared_ranges()[canonicalize_name(package)]
    installed = version(package)
    assert declared.contains(installed, prereleases=True), (
        f"{package} {installed} is installed, pyproject.toml allows {declared}"
    )


@pytest.mark.parametrize("package", sorted(REVIEWED_TRANSITIVE_MAJOR))
def test_transitive_library_is_the_reviewed_major_version(package: str) -> None:
    installed = version(package)
    major = int(installed.split(".")[0])
    assert major == REVIEWED_TRANSITIVE_MAJOR[package], (
        f"{package} {installed} is installed, the pins were checked with "
        f"{REVIEWED_TRANSITIVE_MAJOR[package]}.x: check them, then update "
        "REVIEWED_TRANSITIVE_MAJOR"
    )


# --- gunicorn: gthread's ThreadWorker and TConn --------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        # overridden by HeaderBufferingWorker, which also calls gthread's own
        ("load_wsgi", ["self"]),
        ("accept", ["self", "server", "listener"]),  # run(): partial(self.accept, server)(sock)
        ("on_client_socket_readable", ["self", "conn", "client"]),
        ("handle", ["self", "conn"]),
        ("murder_keepalived", ["self"]),
        # called by _GthreadInternals, or relied on to call the overrides
        ("_wrap_future", ["self", "fs", "conn"]),
        ("finish_request", ["self", "fs"]),
        ("init_process", ["self"]),
    ],
)
def test_thread_worker_methods_keep_their_signatures(method: str, expected: list[str]) -> None:
    assert_has(ThreadWorker, method, where="gunicorn's ThreadWorker")
    assert parameters(getattr(ThreadWorker, method)) == expected, (
        f"ThreadWorker.{method} changed its signature: HeaderBufferingWorker overrides or calls it"
    )


def test_thread_worker_run_loop_calls_accept_and_murder_keepalived() -> None:
    source = inspect.getsource(ThreadWorker.run)
    assert "partial(self.accept, server)" in source, "gthread no longer accepts via self.accept"
    assert "self.murder_keepalived()" in source, (
        "gthread's loop no longer calls murder_keepalived: our header deadline relies on it"
    )


def test_thread_worker_hands_requests_to_self_wsgi() -> None:
    assert "self.wsgi(environ" in inspect.getsource(ThreadWorker.handle_request), (
        "gthread no longer calls self.wsgi: SocketBodyInput is installed there (load_wsgi)"
    )


def test_tconn_constructor_and_fields() -> None:
    assert parameters(TConn.__init__) == ["self", "cfg", "sock", "client", "server"]
    assert parameters(TConn.init) == ["self"]
    assert parameters(TConn.close) == ["self"]
    server_sock, client_sock = socket.socketpair()
    with server_sock, client_sock:
        conn = TConn(Config(), server_sock, ("127.0.0.1", 1), ("127.0.0.1", 2))
        assert conn.sock is server_sock
        assert conn.parser is None, "TConn makes its parser in init() no more"
        assert not server_sock.getblocking(), "TConn no longer starts non-blocking"
        conn.init()
        assert server_sock.getblocking(), "TConn.init() no longer makes the socket blocking"
        assert isinstance(conn.parser.unreader, SocketUnreader)
        assert conn.parser.unreader.sock is conn.sock
        assert conn.parser.mesg is None


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeaderBufferingWorker]:
    """Our worker after gthread's init_process, without gunicorn's process setup and loop."""
    cfg = Config()
    monkeypatch.setattr(gunicorn_base.Worker, "init_process", lambda self: None)
    worker = HeaderBufferingWorker(0, os.getppid(), [], None, 30, cfg, None)
    worker.init_process()
    try:
        yield worker
    finally:
        worker.tpool.shutdown(wait=True)
        worker.poller.close()
        worker.tmp.close()


def test_thread_worker_state_that_gthread_internals_use(worker: HeaderBufferingWorker) -> None:
    assert_has(
        worker,
        *("cfg", "nr_conns", "alive", "futures", "_lock", "poller", "_keep", "tpool"),
        where="gthread's ThreadWorker (after init_process)",
    )
    assert worker.nr_conns == 0
    assert isinstance(worker.poller, selectors.BaseSelector)
    assert isinstance(worker._keep, deque)
    assert callable(worker.tpool.submit)
    with worker._lock, worker._lock:  # re-entrant: gthread takes it inside its own callbacks
        pass


def test_gthread_internals_drive_the_loop_state(worker: HeaderBufferingWorker) -> None:
    server_sock, client_sock = socket.socketpair()
    seen: list[tuple[TConn, socket.socket]] = []
    with server_sock, client_sock:
        conn = worker._open_connection(("127.0.0.1", 8000), server_sock, ("127.0.0.1", 1))
        assert isinstance(conn, TConn)
        assert worker.nr_conns == 1

        worker._watch(conn, lambda c, s: seen.append((c, s)))
        key = worker.poller.get_key(server_sock)
        key.data(key.fileobj)  # what gthread's run() does with an event
        assert seen == [(conn, server_sock)]

        worker._keep.append(conn)  # as gthread's finish_request keeps a connection alive
        assert worker._rewatch_kept_alive(conn, lambda c, s: seen.append((s, c)))
        assert conn not in worker._keep
        key = worker.poller.get_key(server_sock)
        key.data(key.fileobj)
        assert seen[-1] == (server_sock, conn)
        assert not worker._rewatch_kept_alive(conn, lambda c, s: None), "closed meanwhile"

        worker._unwatch(conn)
        with pytest.raises(KeyError):
            worker.poller.get_key(server_sock)
        worker._close_connection(conn)
        assert worker.nr_conns == 0
        assert server_sock.fileno() == -1


def test_finish_request_gives_kept_alive_connections_to_on_client_socket_readable(
    worker: HeaderBufferingWorker,
) -> None:
    """What _rewatch_kept_alive undoes: the keep-alive queue and gthread's poller callback."""
    server_sock, client_sock = socket.socketpair()
    with server_sock, client_sock:
        conn = worker._open_connection(("127.0.0.1", 8000), server_sock, ("127.0.0.1", 1))
        conn.init()
        done: Future[tuple[bool, TConn]] = Future()
        done.conn = conn  # type: ignore[attr-defined]  # as _wrap_future sets it
        done.set_result((True, conn))

        worker.finish_request(done)

        assert list(worker._keep) == [conn], "gthread no longer queues kept-alive connections"
        callback = worker.poller.get_key(server_sock).data
        assert callback.func == worker.on_client_socket_readable, (
            "gthread no longer watches a kept-alive connection with on_client_socket_readable"
        )
        assert callback.args == (conn,)


def test_submit_runs_handle_in_the_pool_and_finish_request_closes(
    worker: HeaderBufferingWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_sock, client_sock = socket.socketpair()
    with server_sock, client_sock:
        conn = worker._open_connection(("127.0.0.1", 8000), server_sock, ("127.0.0.1", 1))
        monkeypatch.setattr(worker, "handle", lambda c: (False, c))

        worker._submit(conn)

        [future] = worker.futures
        assert future.result(timeout=5) == (False, conn)
        worker.tpool.shutdown(wait=True)  # done callbacks (finish_request) have run
        assert worker.nr_conns == 0
        assert server_sock.fileno() == -1


def test_load_wsgi_sets_self_wsgi(worker: HeaderBufferingWorker) -> None:
    app = object()
    worker.app = type("App", (), {"wsgi": lambda self: app})()
    worker.load_wsgi()
    assert isinstance(worker.wsgi, SocketBodyInput), "base Worker.load_wsgi no longer sets wsgi"
    assert worker.wsgi.app is app


# --- gunicorn: the request parser, its buffer and body readers ---------------------------------

HEAD = b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
NEXT_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def test_reader_constructors() -> None:
    assert parameters(LengthReader.__init__) == ["self", "unreader", "length"]
    assert parameters(ChunkedReader.__init__) == ["self", "req", "unreader"]
    assert parameters(Body.__init__) == ["self", "reader"]
    assert parameters(SocketUnreader.__init__)[:2] == ["self", "sock"]
    assert parameters(Unreader.unread) == ["self", "data"]


def test_parser_state_that_the_worker_reads() -> None:
    """parser.unreader.buf, parser.mesg.body.reader, LengthReader.length and .unreader."""
    server_sock, client_sock = socket.socketpair()
    with server_sock, client_sock:
        conn = TConn(Config(), server_sock, ("127.0.0.1", 1), ("127.0.0.1", 2))
        conn.init()
        worker_module._unreader(conn).unread(HEAD + b"hel")

        request = next(conn.parser)

        assert conn.parser.mesg is request
        assert isinstance(request.body, Body)
        reader = worker_module._last_body_reader(conn)
        assert reader is request.body.reader
        assert isinstance(reader, LengthReader)
        assert reader.unreader is conn.parser.unreader
        assert worker_module._length_left(reader) == 5
        assert isinstance(conn.parser.unreader.buf, io.BytesIO)
        assert worker_module._buffered(conn.parser.unreader) == b"hel"
        assert worker_module._socket(reader) is server_sock
        assert request.body.buf.tell() == 0
        assert worker_module._untouched_length_reader(request.body) is reader

        environ = default_environ(request, conn.sock, conn.cfg)
        assert environ["wsgi.input"] is request.body, "wsgi.input is no longer gunicorn's Body"


def test_parser_discards_by_length_left_before_the_next_request() -> None:
    """SocketBody counts down LengthReader.length; gunicorn discards exactly what is left."""
    server_sock, client_sock = socket.socketpair()
    with server_sock, client_sock:
        conn = TConn(Config(), server_sock, ("127.0.0.1", 1), ("127.0.0.1", 2))
        conn.init()
        unreader = worker_module._unreader(conn)
        unreader.unread(HEAD + b"hel")
        reader = next(conn.parser).body.reader
        worker_module._set_buffered(unreader, b"")  # "hel" read by us ...
        worker_module._set_length_left(reader, 2)  # ... "lo" still on the wire
        client_sock.sendall(b"lo" + NEXT_REQUEST)

        following = next(conn.parser)

        assert following.path == "/healthz"
        assert worker_module._length_left(reader) == 0


def test_chunked_reader_clears_its_parser_after_the_last_chunk() -> None:
    unreader = SocketUnreader(None)
    unreader.unread(b"5\r\nhello\r\n0\r\n\r\n")
    reader = ChunkedReader(None, unreader)
    assert not worker_module._chunked_finished(reader)
    assert Body(reader).read() == b"hello"
    assert worker_module._chunked_finished(reader), "ChunkedReader.parser stays set at the end"


# --- gunicorn: the arbiter and config (cli/serve.py) ------------------------------------------


def test_arbiter_listeners_expose_their_socket() -> None:
    """serve.py's when_ready hook reads arbiter.LISTENERS[0].sock for the real port."""
    assert isinstance(Arbiter.LISTENERS, list)
    listener = TCPSocket(("127.0.0.1", 0), Config(), None)
    try:
        assert listener.sock.getsockname()[1] > 0
    finally:
        listener.sock.close()


def test_worker_class_may_be_a_class() -> None:
    cfg = Config()
    cfg.set("worker_class", HeaderBufferingWorker)
    assert cfg.worker_class is HeaderBufferingWorker


# --- flask-wtf (auth/csrf.py) -------------------------------------------------------------------


def test_csrf_protect_reads_the_token_through_get_csrf_token() -> None:
    assert parameters(CSRFProtect._get_csrf_token) == ["self"]
    assert "self._get_csrf_token()" in inspect.getsource(CSRFProtect.protect), (
        "flask-wtf's protect() no longer calls _get_csrf_token: HeaderFirstCSRFProtect "
        "overrides it so that a multipart body is not parsed before the view streams it"
    )


# --- flask-dance (auth/github.py) ---------------------------------------------------------------


def _github_app() -> tuple[flask.Flask, GitHubBlueprint]:
    app = flask.Flask(__name__)
    app.secret_key = "pins"
    blueprint = GitHubBlueprint(
        "github",
        __name__,
        client_id="id",
        client_secret="secret",
        scope=["user:email"],
        base_url="https://api.github.test/",
        authorization_url="https://github.test/login/oauth/authorize",
        token_url="https://github.test/login/oauth/access_token",
        url_prefix="/login",
        login_url="/github",
        authorized_url="/authorized",
        storage=NullStorage(),
        session_class=GitHubOAuthSession,
    )
    app.register_blueprint(blueprint)
    return app, blueprint


def test_blueprint_session_is_a_property_we_can_build_from() -> None:
    descriptor = OAuth2ConsumerBlueprint.__dict__.get("session")
    assert isinstance(descriptor, property) and callable(descriptor.fget), (
        "OAuth2ConsumerBlueprint.session is no longer a (cached) property: "
        "GitHubBlueprint.session builds one per request through its fget"
    )
    assert parameters(OAuth2ConsumerBlueprint.teardown_session) == ["self", "exception"]


def test_flask_dance_makes_the_session_class_with_keywords(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GitHubOAuthSession takes client_id and client by keyword (to put in GitHubOAuthClient)."""
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    original = GitHubOAuthSession.__init__

    def recording_init(self: GitHubOAuthSession, *args: Any, **kwargs: Any) -> None:
        calls.append((args, kwargs))
        original(self, *args, **kwargs)

    monkeypatch.setattr(GitHubOAuthSession, "__init__", recording_init)
    app, blueprint = _github_app()
    with app.test_request_context():
        oauth_session = github_module._new_dance_session(blueprint)
    assert isinstance(oauth_session, GitHubOAuthSession)
    assert oauth_session.blueprint is blueprint
    [(args, kwargs)] = calls
    assert args == ()
    assert {"client_id", "client", "scope", "blueprint", "base_url"} <= kwargs.keys()


def test_one_dance_session_per_request_and_a_harmless_teardown() -> None:
    app, blueprint = _github_app()
    with app.test_request_context():
        first = blueprint.session
        assert blueprint.session is first
    with app.test_request_context():  # teardown ran: flask-dance's would `del` the cache
        assert blueprint.session is not first


def test_login_and_authorized_are_the_views_and_login_stores_the_state() -> None:
    app, blueprint = _github_app()
    assert app.view_functions["github.login"] == blueprint.login
    assert app.view_functions["github.authorized"] == blueprint.authorized
    with app.test_client() as client:
        response = client.get("/login/github", base_url="https://localhost")
        assert response.status_code == 302
        state = requests.utils.urlparse(response.location).query
        key = github_module._state_key(blueprint)
        assert key in flask.session, f"flask-dance no longer keeps the state under {key!r}"
        assert f"state={flask.session[key]}" in state


# --- requests-oauthlib and requests (auth/github.py) --------------------------------------------

TOKEN_URL = "https://github.test/login/oauth/access_token"


class _TokenEndpoint(requests.adapters.BaseAdapter):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__()
        self.body = body

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response.encoding = "utf-8"
        response.raw = io.BytesIO(json.dumps(self.body).encode())
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


def test_compliance_hook_runs_before_the_token_is_parsed_from_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook may rewrite the body (``_replace_json``); requests-oauthlib reads ``r.text``."""
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    oauth_session = RequestsOAuth2Session(client_id="id")
    assert "access_token_response" in oauth_session.compliance_hook
    oauth_session.mount(TOKEN_URL, _TokenEndpoint({"access_token": "wrong", "token_type": "x"}))

    def hook(response: requests.Response) -> requests.Response:
        github_module._replace_json(response, {"access_token": "right", "token_type": "bearer"})
        return response

    oauth_session.register_compliance_hook("access_token_response", hook)
    token = oauth_session.fetch_token(TOKEN_URL, code="c", client_secret="s")
    assert token["access_token"] == "right", "requests' Response._content no longer backs .text"


def test_github_session_registers_its_token_response_check() -> None:
    oauth_session = GitHubOAuthSession(client_id="id", scope=["user:email"])
    hooks = oauth_session.compliance_hook["access_token_response"]
    assert oauth_session._check_token_response in hooks
    assert oauth_session.scope == ["user:email"]


def test_fetch_token_hands_the_callback_url_and_state_to_our_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GitHubOAuthClient.parse_request_uri_response lets a loopback http callback through."""
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    assert parameters(WebApplicationClient.parse_request_uri_response) == [
        "self",
        "uri",
        "state",
    ]
    callback = "http://localhost:8000/login/authorized?code=c&state=s"
    with pytest.raises(InsecureTransportError):
        WebApplicationClient("id").parse_request_uri_response(callback, state="s")
    app, blueprint = _github_app()
    endpoint = _TokenEndpoint({"access_token": "t", "token_type": "bearer"})
    with app.test_request_context():
        oauth_session = GitHubOAuthSession(client_id="id", state="s", blueprint=blueprint)
        oauth_session.mount(TOKEN_URL, endpoint)
        token = oauth_session.fetch_token(
            TOKEN_URL, authorization_response=callback, client_secret="s"
        )
    assert token["access_token"] == "t"


# --- oauthlib (auth/github.py) ------------------------------------------------------------------


def test_oauthlib_errors_and_transport_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    assert issubclass(MismatchingStateError, OAuth2Error)
    assert issubclass(InsecureTransportError, OAuth2Error)
    assert OAuth2Error(description="why").description == "why"
    assert is_secure_transport("https://example.test/")
    assert not is_secure_transport("http://example.test/")
    with pytest.raises(MismatchingStateError):
        GitHubOAuthClient("id").parse_request_uri_response(
            "https://example.test/cb?code=c&state=a", state="b"
        )


def test_scope_has_changed_warning_carries_old_and_new_scope(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OAUTHLIB_RELAX_TOKEN_SCOPE", raising=False)
    body = json.dumps({"access_token": "t", "token_type": "bearer", "scope": "user:email"})
    with pytest.raises(Warning) as raised:
        WebApplicationClient("id").parse_request_body_response(
            body, scope=["user:email", "read:org"]
        )
    assert "Scope has changed" in str(raised.value)
    assert set(raised.value.old_scope) == {"user:email", "read:org"}  # type: ignore[attr-defined]
    assert list(raised.value.new_scope) == ["user:email"]  # type: ignore[attr-defined]
    assert github_module._scopes_not_granted(raised.value) == ["read:org"]


def test_oauthlib_compares_scopes_as_sets_of_space_separated_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What _normalized_scope produces for GitHub's comma-joined scopes is accepted."""
    monkeypatch.delenv("OAUTHLIB_RELAX_TOKEN_SCOPE", raising=False)
    scope = github_module._normalized_scope("user:email,read:org", {"read:org", "user:email"})
    body = json.dumps({"access_token": "t", "token_type": "bearer", "scope": scope})
    token = WebApplicationClient("id").parse_request_body_response(
        body, scope=["user:email", "read:org"]
    )
    assert token["access_token"] == "t"
