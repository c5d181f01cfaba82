"""Our gunicorn worker: gthread that buffers request heads and reads bodies in large pieces.

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

Request bodies. gunicorn's ``wsgi.input`` receives 8 KiB per ``recv`` and copies every byte
through ``BytesIO`` several times; for a big upload that was three quarters of the server's
CPU. A body with a Content-Length is therefore read by :class:`SocketBody`, which receives
straight into the caller's buffer. Chunked bodies stay on gunicorn's reader.
"""

from __future__ import annotations

import contextlib
import errno
import io
import selectors
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import SocketUnreader, Unreader
from gunicorn.workers.gthread import TConn, ThreadWorker

HEADER_TIMEOUT = 30.0  # seconds for a client to send its complete request headers
IDLE_TIMEOUT = 120.0  # seconds a busy thread waits for a silent client (body read, response write)
MAX_HEADER_BYTES = 64 * 1024  # larger request heads are refused with 431
_RECV_SIZE = 16 * 1024
_READ_PIECE = 1024 * 1024  # read(n) allocates at most this much before the bytes arrive
_LINE_RECV_SIZE = 64 * 1024  # readline receives at most this much ahead of the line's end
_END_OF_HEADERS = b"\r\n\r\n"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Connection: close\r\nContent-Length: 0\r\n\r\n"
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class _RequestHead:
    """Bytes received from a connection until its request headers are complete."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)


# --- gunicorn internals -----------------------------------------------------------------------
# gunicorn documents none of what this module needs of gthread's event loop and request parser.
# _GthreadInternals (the loop's state) and the functions after it (the parser's buffer and body
# readers) are the only code here that touches it: the one place to change when gunicorn does.
# Besides these, only the ThreadWorker methods overridden below and TConn's sock, parser,
# init() and close() are used. tests/test_library_pins.py pins each piece; docs/architecture.md
# ("Library internals we rely on") says why.


class _GthreadInternals(ThreadWorker):
    """gthread's connection count, poller, keep-alive queue and thread pool, as we use them."""

    def _open_connection(self, server: Any, sock: socket.socket, client: Any) -> TConn:
        conn = TConn(self.cfg, sock, client, server)
        self.nr_conns += 1
        return conn

    def _close_connection(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    def _watch(self, conn: TConn, on_readable: Callable[[TConn, socket.socket], None]) -> None:
        """Have the event loop call ``on_readable(conn, sock)`` when ``conn`` has bytes."""
        with self._lock:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(on_readable, conn))

    def _unwatch(self, conn: TConn) -> None:
        with self._lock:
            self.poller.unregister(conn.sock)

    def _rewatch_kept_alive(
        self, conn: TConn, on_readable: Callable[[TConn, socket.socket], None]
    ) -> bool:
        """Take ``conn`` out of the keep-alive queue and send its events to ``on_readable``
        instead of to gthread's handler; False if gthread closed it meanwhile."""
        with self._lock:
            try:
                self._keep.remove(conn)
            except ValueError:  # murder_keepalived closed it meanwhile
                return False
            self.poller.modify(conn.sock, selectors.EVENT_READ, partial(on_readable, conn))
        return True

    def _submit(self, conn: TConn) -> None:
        """Serve ``conn`` in a pool thread (``handle``); gthread's ``finish_request`` follows."""
        self._wrap_future(self.tpool.submit(self.handle, conn), conn)


def _unreader(conn: TConn) -> Unreader:
    """The parser's reader of ``conn``'s socket (``conn.init()`` made the parser)."""
    return conn.parser.unreader


def _buffered(unreader: Unreader) -> bytes:
    """What ``unreader`` received but the parser has not read yet."""
    data: bytes = unreader.buf.getvalue()
    return data


def _set_buffered(unreader: Unreader, data: bytes) -> None:
    """Make ``data`` all that ``unreader`` holds, read before anything more from the socket."""
    unreader.buf = io.BytesIO()
    unreader.unread(data)


def _last_body_reader(conn: TConn) -> object | None:
    """The reader of the last request's body on ``conn``; ``None`` before the first request."""
    parser = conn.parser
    if parser is None or parser.mesg is None:
        return None
    reader: object = parser.mesg.body.reader
    return reader


def _length_left(reader: LengthReader) -> int:
    """Bytes of a Content-Length body still on the wire: gunicorn's own count, by which its
    parser discards, before the next request, what the application left unread."""
    return int(reader.length)


def _set_length_left(reader: LengthReader, left: int) -> None:
    reader.length = left


def _chunked_finished(reader: ChunkedReader) -> bool:
    return reader.parser is None  # gunicorn clears it after the last chunk


def _socket(reader: LengthReader) -> socket.socket:
    sock: socket.socket = reader.unreader.sock
    return sock


def _untouched_length_reader(body: object) -> LengthReader | None:
    """gunicorn's reader of a Content-Length body from a socket, if nothing has read it yet.

    Anything else (chunked, no length, another server's input) keeps its own reader.
    """
    if (
        isinstance(body, Body)
        and isinstance(body.reader, LengthReader)
        and isinstance(body.reader.unreader, SocketUnreader)
        and body.buf.tell() == 0
    ):
        return body.reader
    return None


def _take_buffered_body(reader: LengthReader) -> bytes:
    """Take the body's bytes gunicorn already buffered; a pipelined next request stays."""
    unreader = reader.unreader
    buffered = _buffered(unreader)
    left = _length_left(reader)
    body = buffered[:left]
    _set_buffered(unreader, buffered[len(body) :])
    _set_length_left(reader, left - len(body))
    return body


# --- the worker --------------------------------------------------------------------------------


class HeaderBufferingWorker(_GthreadInternals):
    """gthread, except that a connection gets a thread only once its headers have arrived."""

    wsgi: WSGIApp

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._heads: dict[TConn, _RequestHead] = {}  # touched by the event loop thread only
        self._next_expiry_check = 0.0

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # Installed here, not in the app: it relies on gunicorn's request internals and on the
        # idle timeout that _dispatch puts on the socket (a silent client cannot hold a thread).
        self.wsgi = SocketBodyInput(self.wsgi)

    def accept(self, server: Any, listener: socket.socket) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = self._open_connection(server, sock, client)
        self._heads[conn] = _RequestHead(deadline=time.monotonic() + HEADER_TIMEOUT)
        self._watch(conn, self._on_readable)

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection starts its next request: buffer its headers too."""
        if not self._rewatch_kept_alive(conn, self._on_readable):
            return
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
        self._unwatch(conn)
        conn.init()  # blocking socket and (first time) a parser
        _unreader(conn).unread(received)
        conn.sock.settimeout(IDLE_TIMEOUT)
        self._submit(conn)

    def handle(self, conn: TConn) -> tuple[bool, TConn]:
        """Serve a request, then any pipelined one whose head already arrived with it.

        Bytes already buffered by the parser never make the socket readable again, so waiting
        in the event loop for them would stall the client until the keep-alive timeout.
        """
        keepalive, conn = super().handle(conn)
        while keepalive and _next_head_buffered(conn):
            keepalive, conn = super().handle(conn)
        if keepalive and _body_left_unread(conn):
            # The app answered (e.g. 413) without reading the whole body. The event loop would
            # take the rest of that body for the next request's head, so close instead; a
            # client that was refused must not be made to send gigabytes anyway.
            return False, conn
        return keepalive, conn

    def _drop(self, conn: TConn) -> None:
        del self._heads[conn]
        self._unwatch(conn)
        self._close_connection(conn)

    def murder_keepalived(self) -> None:
        """Close idle kept-alive connections (gthread) and clients too slow with headers."""
        super().murder_keepalived()
        now = time.monotonic()
        if now < self._next_expiry_check:  # the loop runs once per event; scan once a second
            return
        self._next_expiry_check = now + 1.0
        for conn in [conn for conn, head in self._heads.items() if head.deadline <= now]:
            self._drop(conn)


def _body_left_unread(conn: TConn) -> bool:
    """Part of the last request's body is still on the wire (or in the parser's buffer)."""
    reader = _last_body_reader(conn)
    if reader is None:
        return False
    if isinstance(reader, LengthReader):
        return _length_left(reader) > 0
    if isinstance(reader, ChunkedReader):
        return not _chunked_finished(reader)
    return True


def _next_head_buffered(conn: TConn) -> bool:
    """A complete next request head is buffered, and nothing of the last body is left to read.

    Only then can a pool thread go on without waiting for the client.
    """
    last_body = _last_body_reader(conn)
    return (
        isinstance(last_body, LengthReader)
        and _length_left(last_body) == 0
        and _END_OF_HEADERS in _buffered(_unreader(conn))
    )


def _take_unparsed(conn: TConn) -> bytes:
    """Bytes the parser already read past the previous request (a pipelined next request)."""
    if conn.parser is None:
        return b""
    unreader = _unreader(conn)
    data = _buffered(unreader)
    _set_buffered(unreader, b"")
    return data


class SocketBodyInput:
    """WSGI wrapper: a request body with a Content-Length is read by :class:`SocketBody`."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        reader = _untouched_length_reader(environ.get("wsgi.input"))
        if reader is not None:
            environ["wsgi.input"] = SocketBody(reader)
        return self.app(environ, start_response)


class SocketBody:
    """A Content-Length request body, received straight into the reader's buffers.

    It first hands out the body bytes gunicorn buffered along with the headers, then receives
    from the socket, never past the body's end: what follows belongs to the next request on a
    kept-alive connection and stays with gunicorn. gunicorn's ``LengthReader.length`` keeps
    counting the bytes still on the wire, so after the response gunicorn discards exactly the
    rest the application left unread. Reads return fewer bytes than asked only at the end of
    the body or when the client closed early (as gunicorn's own reader does); socket
    timeouts and errors propagate as :class:`OSError`.
    """

    def __init__(self, reader: LengthReader) -> None:
        self._reader = reader
        self._sock = _socket(reader)
        self._pending = _take_buffered_body(reader)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer`` from the body; fewer bytes only at its end."""
        view = memoryview(buffer).cast("B")
        filled = self._take_pending(view)
        while filled < len(view) and _length_left(self._reader):
            received = self._recv_into(view[filled:])
            if not received:
                break
            filled += received
        return filled

    def read(self, size: int | None = -1) -> bytes:
        wanted = self._clamp(size)
        pieces: list[bytearray] = []
        while wanted:  # in pieces: memory grows with what arrives, not with what is declared
            piece = bytearray(min(wanted, _READ_PIECE))
            del piece[self.readinto(piece) :]
            pieces.append(piece)
            wanted -= len(piece)
            if not piece:  # the client closed early
                break
        return b"".join(pieces)

    def readline(self, size: int | None = -1) -> bytes:
        limit = self._clamp(size)
        line = bytearray()
        while len(line) < limit and (self._pending or self._receive_pending(limit - len(line))):
            end = self._pending.find(b"\n", 0, limit - len(line))
            cut = end + 1 if end != -1 else min(len(self._pending), limit - len(line))
            line += self._pending[:cut]
            self._pending = self._pending[cut:]
            if end != -1:
                break
        return bytes(line)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(self)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def _clamp(self, size: int | None) -> int:
        """``size`` bounded by what is left of the body; all of it for ``None`` or negative."""
        left = len(self._pending) + _length_left(self._reader)
        return left if size is None or size < 0 else min(size, left)

    def _take_pending(self, view: memoryview) -> int:
        taken = min(len(view), len(self._pending))
        view[:taken] = self._pending[:taken]
        self._pending = self._pending[taken:]
        return taken

    def _receive_pending(self, limit: int) -> int:
        """One ``recv`` of up to ``limit`` bytes into the pending buffer (for readline)."""
        buffer = bytearray(min(limit, _LINE_RECV_SIZE, _length_left(self._reader)))
        del buffer[self._recv_into(memoryview(buffer)) :]
        self._pending = bytes(buffer)
        return len(buffer)

    def _recv_into(self, view: memoryview) -> int:
        """One ``recv`` from the socket, never past the body's end; keeps gunicorn's count."""
        left = _length_left(self._reader)
        wanted = min(len(view), left)
        if not wanted:
            return 0
        received = self._sock.recv_into(view[:wanted])
        # 0 = the client closed early: nothing more will come, and nothing is left to discard.
        _set_length_left(self._reader, left - received if received else 0)
        return received
