"""Fake local runtimes on loopback: a server that answers recorded JSON per path (404 elsewhere),
and one that accepts connections and never answers (a hung runtime)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from loopback import LoopbackServer

RECORDED = Path(__file__).parent / "data" / "runtimes"


def recorded(name: str) -> object:
    """A recorded answer from tests/data/runtimes/."""
    return json.loads((RECORDED / name).read_text())


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        routes = self.server.routes  # type: ignore[attr-defined]
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        found = self.path in routes
        body = json.dumps(routes[self.path] if found else {"error": "not found"}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeRuntime(LoopbackServer):
    """`with FakeRuntime({"/api/version": {...}}) as fake:`; `fake.host` is `127.0.0.1:PORT`."""

    def __init__(self, routes: dict[str, object]) -> None:
        super().__init__(_Handler, routes=routes, requests=[])
        self.routes = routes

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[str]:
        return self.server.requests  # type: ignore[attr-defined]


class HungRuntime:
    """Accepts every connection and never sends a byte."""

    def __enter__(self) -> "HungRuntime":
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.sock.close()
        for conn in self.held:
            conn.close()
