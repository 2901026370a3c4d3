"""A threaded HTTP server on a free loopback port, for the fake services tests talk to."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackServer:
    """`with LoopbackServer(Handler, attr=value) as s:` serves on 127.0.0.1:`s.port` in a
    daemon thread; keyword arguments become attributes of the server the handler sees."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], **attributes: Any) -> None:
        self.handler, self.attributes = handler, attributes

    def __enter__(self) -> "LoopbackServer":
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        for name, value in self.attributes.items():
            setattr(self.server, name, value)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
