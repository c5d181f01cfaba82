"""A TCP proxy between the client and the server that counts, holds back or damages bytes.

It proves how many bytes a download really transferred, stalls a download after a given number
of bytes so that a test can interrupt a real ``get`` mid-transfer, and flips one byte in flight
so that a test can see the client notice a corrupt transfer, and cuts a connection once so that
a test can see an upload go on after it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

BLOCK = 64 * 1024


@dataclass
class Direction:
    """What passed one way (over every connection) and what to do to it."""

    count: int = 0
    stall_after: int | None = None  # forward this many bytes, then hold the rest back
    corrupt_at: int | None = None  # flip the byte at this offset
    cut_after: int | None = None  # forward this many bytes, then close the connection (once)


class CountingProxy:
    """Forwards 127.0.0.1:<port> to ``target``; counts ``up`` (to the server) and ``down``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.up, self.down = Direction(), Direction()
        self.stalled = threading.Event()
        self.cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def reset(self) -> None:
        with self._lock:
            self.up, self.down = Direction(), Direction()
            self.stalled.clear()

    def drop_connections(self) -> None:
        """Cut every open connection (a held-back one too); new ones are accepted as before."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self._sockets.clear()

    def close(self) -> None:
        self._closed.set()
        for sock in [self.listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [downstream, upstream]
            for args in ((downstream, upstream, "up"), (upstream, downstream, "down")):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, way: str) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(BLOCK):
                data, stall, cut = self._pass(way, data)
                sink.sendall(data)
                if cut:  # shutdown first: close alone leaves the other pump's recv waiting
                    for sock in (source, sink):
                        sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                    return
                if stall:
                    self._closed.wait()  # hold the rest back until the test is over
                    return
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _pass(self, way: str, data: bytes) -> tuple[bytes, bool, bool]:
        with self._lock:
            direction: Direction = getattr(self, way)
            start, stall, cut = direction.count, False, False
            if direction.cut_after is not None and start + len(data) >= direction.cut_after:
                data, cut = data[: direction.cut_after - start], True
                direction.cut_after = None  # the next connection goes through
                self.cut.set()
            if direction.stall_after is not None and start + len(data) >= direction.stall_after:
                data, stall = data[: direction.stall_after - start], True
                self.stalled.set()
            if direction.corrupt_at is not None and start <= direction.corrupt_at < start + len(
                data
            ):
                flipped = bytearray(data)
                flipped[direction.corrupt_at - start] ^= 0xFF
                data = bytes(flipped)
            direction.count += len(data)
            return data, stall, cut


@contextlib.contextmanager
def counting_proxy(target: tuple[str, int]) -> Iterator[CountingProxy]:
    proxy = CountingProxy(target)
    try:
        yield proxy
    finally:
        proxy.close()
