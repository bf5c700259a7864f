"""A proxy in front of the emulator that answers chosen requests as a hostile or broken peer
would: trickling, a gzip bomb, an endless chunked body; and a TCP link that a test cuts as a
network partition would."""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

MiB = 1 << 20

# Decides, per request (method, path with query), how to answer: None forwards it.
Plan = Callable[[str, str], str | None]


class HostileProxy:
    def __init__(self, upstream: str, plan: Plan) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan
        self.served: list[tuple[str, str, str | None]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.answer(self, "GET")

            def do_POST(self) -> None:
                proxy.answer(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HostileProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, h: BaseHTTPRequestHandler, method: str) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        mode = self.plan(method, h.path)
        self.served.append((method, h.path, mode))
        try:
            if mode is None:
                self.forward(h, method, body)
            else:
                getattr(self, mode)(h)
        except OSError:  # the tap hung up: what a hostile answer is for
            h.close_connection = True

    def forward(self, h: BaseHTTPRequestHandler, method: str, body: bytes) -> None:
        skip = {"host", "content-length", "accept-encoding", "connection"}
        headers = {k: v for k, v in h.headers.items() if k.lower() not in skip}
        answer = requests.request(
            method, self.upstream + h.path, headers=headers, data=body, timeout=60
        )
        h.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in {"content-length", "content-encoding", "transfer-encoding",
                                   "connection", "date", "server"}:  # fmt: skip
                h.send_header(key, value)
        h.send_header("Content-Length", str(len(answer.content)))
        h.end_headers()
        h.wfile.write(answer.content)

    @staticmethod
    def trickle(h: BaseHTTPRequestHandler) -> None:
        """A whole, valid-looking answer, one byte at a time."""
        body = b'{"QueryResponse": {}, "time": "2026-01-01T00:00:00Z"}' * 100
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.flush()
        for byte in body[:600]:  # a minute at most
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            time.sleep(0.1)

    @staticmethod
    def trickle_headers(h: BaseHTTPRequestHandler) -> None:
        """Even the status line and headers come one byte at a time."""
        h.close_connection = True
        head = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 2000 + b"\r\n"
        for byte in head[:600]:
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            time.sleep(0.1)

    @staticmethod
    def bomb(h: BaseHTTPRequestHandler) -> None:
        """A few hundred KB of gzip that inflate to 1 GiB."""
        h.close_connection = True
        data = gzip_bomb()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def flood(h: BaseHTTPRequestHandler) -> None:
        """A chunked body that never ends (1 GiB at most)."""
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b" " * MiB
        for _ in range(1024):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        h.wfile.write(b"0\r\n\r\n")


@functools.cache
def gzip_bomb() -> bytes:
    """Made once (it takes seconds): answered at once, it is the size that must stop the tap."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    spaces = b" " * MiB
    return b"".join([packer.compress(spaces) for _ in range(1024)] + [packer.flush()])


def nth(kind: str, n: int, mode: str) -> Plan:
    """A plan answering the n-th request whose path holds ``kind`` in that mode."""
    seen = {"count": 0}
    lock = threading.Lock()

    def plan(method: str, path: str) -> str | None:
        if kind not in path:
            return None
        with lock:
            seen["count"] += 1
            return mode if seen["count"] == n else None

    return plan


class TcpLink:
    """A TCP forwarder to ``port`` that can be cut as a network partition cuts: connections
    stay open (the peer's kernel still acknowledges), but no byte gets through either way and
    new connections are accepted, never answered."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cut = threading.Event()
        self._closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> TcpLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self.listener.accept()
            except OSError:  # closed
                return
            self._sockets.append(near)
            if self.cut.is_set():
                continue  # held open, never answered
            far = socket.create_connection(("127.0.0.1", self.port))
            self._sockets.append(far)
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.cut.is_set():
                    self._closed.wait()  # held, until the test closes the link
                    return
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
