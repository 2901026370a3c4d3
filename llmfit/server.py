"""Starlette app for `llmfit serve`: parse the request, ask the service, answer JSON."""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import threading

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from llmfit.errors import LlmfitError, NotFoundError, UsageError
from llmfit.openapi import openapi_document
from llmfit.query import MODELS, SEARCH, TOP, Endpoint, Query, parse_query
from llmfit.service import LlmfitService
from llmfit.values import SystemSpec
from llmfit.web import Dashboard, wants_html

log = logging.getLogger("llmfit.server")
Handler = Callable[[Request], Awaitable[Response]]
BUILD_WORKERS = 1  # concurrent uncached analyses: CPU work holding the GIL; more only queue
MAX_PLAN_BODY = 64 * 1024


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _params(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def _what_if(request: Request) -> Query | None:
    params = _params(request)
    keys: dict[str, str | None] = {k: params[k] for k in ("ram_gb", "vram_gb", "cpu_cores")
                                   if k in params}
    return parse_query(keys) if keys else None


class _BodyCache:
    """Serialized listing bodies per (machine snapshot, query).

    Schedulers poll every node with the same few queries every few seconds; between snapshot
    refreshes the answer cannot change, so the bytes are reused (the full /models listing takes
    ~5 ms to build and encode, a cache hit ~0.1 ms). LRU bounded by entries and by bytes (a large
    catalog overlay must not grow the process without bound); safe across threads, since cache
    misses are built in worker threads.
    """

    SIZE = 64
    MAX_BYTES = 32 * 2**20

    def __init__(self, service: LlmfitService) -> None:
        self._service = service
        self._bodies: OrderedDict[tuple[SystemSpec, frozenset[str], Query], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def _state(self, query: Query) -> tuple[SystemSpec, frozenset[str]]:
        return self._service.system_for(query), self._service.pulled

    def cached(self, query: Query) -> bytes | None:
        """The stored body, without building one (cheap: answered on the event loop)."""
        key = self._state(query) + (query,)
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def listing(self, query: Query) -> bytes:
        """The body, built and stored when missing."""
        body = self.cached(query)
        if body is not None:
            return body
        key = self._state(query) + (query,)
        body = _encode(self._service.models_body(query))
        if self._state(query) == key[:2] and len(body) <= self.MAX_BYTES // 4:
            with self._lock:  # stored only when no snapshot refresh happened while building
                if key not in self._bodies:
                    self._bodies[key] = body
                    self._bytes += len(body)
                while len(self._bodies) > self.SIZE or self._bytes > self.MAX_BYTES:
                    self._bytes -= len(self._bodies.popitem(last=False)[1])
        return body

    @property
    def total_bytes(self) -> int:
        return self._bytes


def _encode(content: Any) -> bytes:
    """The same bytes JSONResponse would send."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def check_origin(origin: str) -> str:
    """A browser origin for --cors-origin (scheme://host[:port], or *), else a UsageError."""
    text = origin.strip().rstrip("/")
    if text != "*" and not _ORIGIN.match(text):
        raise UsageError(f"invalid --cors-origin value {origin!r}: use scheme://host[:port], "
                         "e.g. http://localhost:3000, or *")
    return text


def create_app(service: LlmfitService, cors_origins: tuple[str, ...] = (),
               metrics_top: int = 20) -> Starlette:
    """The REST API of api-contract.md over one service; `cors_origins` lets browser
    dashboards on those origins call it (none by default); /metrics shows `metrics_top` models."""
    from llmfit.metrics import Metrics, RequestMetrics  # prometheus_client: the serve path only

    metrics = Metrics(service, metrics_top)

    dashboard = Dashboard()

    async def index(request: Request) -> Response:
        if wants_html(request.headers.get("accept", "")):  # a browser: the dashboard page
            return dashboard.page_response(request)
        return JSONResponse({"name": "llmfit", "endpoints": [
            "/health", "/api/v1/system", "/api/v1/models", "/api/v1/models/top",
            "/api/v1/models/{name}", "/openapi.json", "/metrics", "/api/v1/runtimes",
            "/api/v1/installed"]}, headers={"Vary": "Accept"})

    async def health(request: Request) -> Response:
        return JSONResponse(service.health_body())

    async def system(request: Request) -> Response:
        return JSONResponse(service.system_body(_what_if(request)))

    bodies = _BodyCache(service)
    builders = anyio.Semaphore(BUILD_WORKERS)

    def listing(endpoint: Endpoint) -> Handler:
        async def handler(request: Request) -> Response:
            name = request.path_params.get("name")
            if name is not None and not name.strip():
                raise NotFoundError("no model name given: use /api/v1/models to list all")
            query = parse_query(_params(request), endpoint, name=name)
            body = bodies.cached(query)
            if body is None:  # analyses are CPU work: off the event loop, a few at a time
                async with builders:
                    body = await run_in_threadpool(bodies.listing, query)
            return Response(body, media_type="application/json")
        return handler

    async def plan(request: Request) -> Response:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            return JSONResponse({"error": "send the plan request as Content-Type: "
                                          "application/json"}, status_code=415)
        raw = await request.body()
        if len(raw) > MAX_PLAN_BODY:
            raise UsageError(f"invalid body: at most {MAX_PLAN_BODY:,} bytes")
        try:
            body = json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise UsageError("invalid body: not valid JSON") from None
        async with builders:
            answer = await run_in_threadpool(service.plan_body, body)
        return JSONResponse(answer)

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    def runtime_answer(answer: Callable[[], dict[str, Any]]) -> Handler:
        async def handler(request: Request) -> Response:  # cached per snapshot; a first probe
            return JSONResponse(await run_in_threadpool(answer))  # must not block the loop
        return handler

    async def prometheus(request: Request) -> Response:
        body = await run_in_threadpool(metrics.exposition)  # top models: analyses, CPU work
        return Response(body, media_type=metrics.content_type)

    routes = [
        Route(path, _guarded(handler), methods=["GET"]) for path, handler in (
            ("/", index), ("/health", health), ("/openapi.json", openapi),
            ("/api/v1/system", system), ("/api/v1/models", listing(MODELS)),
            ("/api/v1/models/top", listing(TOP)), ("/api/v1/models/{name:path}", listing(SEARCH)),
            ("/metrics", prometheus), ("/ui/{file}", dashboard.asset))
    ]
    routes.append(Route("/api/v1/plan", _guarded(plan), methods=["POST"]))
    routes += [Route(path, _guarded(runtime_answer(answer)), methods=["GET"]) for path, answer in (
        ("/api/v1/runtimes", service.runtimes_body), ("/api/v1/installed", service.installed_body))]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: _http_error, LlmfitError: _llmfit_error, Exception: _unexpected_error}
    middleware = [Middleware(RequestMetrics, metrics=metrics)]  # outermost: sees every answer
    middleware += [Middleware(CORSMiddleware, allow_origins=list(cors_origins),
                             allow_methods=["GET", "POST"], allow_headers=["*"])] if cors_origins else []
    app = Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)
    app.router.redirect_slashes = False  # a redirect would echo the client's Host header
    return app


def _guarded(handler: Handler) -> Handler:
    """Answer a bug in a route with the 500 JSON here: Starlette's own 500 handler re-raises the
    exception afterwards, and uvicorn would log its traceback a second time."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except (HTTPException, LlmfitError):
            raise
        except Exception as exc:  # noqa: BLE001 - answered and logged, never re-raised
            return await _unexpected_error(request, exc)

    return guarded


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: f"no such endpoint: {request.url.path}",
                405: f"method {request.method} is not allowed on {request.url.path}; use "
                     + ("POST" if request.url.path == "/api/v1/plan" else "GET")}
    body = {"error": messages.get(exc.status_code, str(exc.detail))}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _llmfit_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LlmfitError)
    return JSONResponse({"error": str(exc)}, status_code=exc.http_status)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal error: the server logged the details"},
                        status_code=500)


def bind_unix_socket(path: str) -> socket.socket:
    """Bind a unix socket at `path` with mode 0660, replacing a stale socket file."""
    import os
    import stat

    from llmfit.errors import UsageError

    if not hasattr(socket, "AF_UNIX"):
        raise UsageError("--unix-socket is not supported on this platform; use --host/--port")
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise UsageError(f"--unix-socket {path}: a file that is not a socket is in the way")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody listens: a stale socket from an earlier run
        else:
            raise UsageError(f"--unix-socket {path}: another server is listening there")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o117)  # the socket is created 0660, never briefly wider
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise UsageError(f"--unix-socket {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o660)
    return sock


def bind_tcp(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket, with a clear error when the address is taken."""
    from llmfit.errors import UsageError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}") from None
    family, _, proto, _, address = infos[0]
    # proto must be IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY on accepted connections only
    # then, and without it every response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class _OncePerInterval(logging.Filter):
    """Let one record per message template through per interval (accept() errors under a
    connection flood would otherwise write megabytes per second)."""

    def __init__(self, seconds: float = 10.0) -> None:
        super().__init__()
        self.seconds, self.last = seconds, {}  # type: ignore[var-annotated]

    def filter(self, record: logging.LogRecord) -> bool:
        import time

        now, key = time.monotonic(), (record.name, str(record.msg))
        if now - self.last.get(key, -1e9) < self.seconds:
            return False
        self.last[key] = now
        return True


def _rate_limit_logs() -> None:
    for name in ("uvicorn.error", "asyncio", "llmfit.server"):
        logging.getLogger(name).addFilter(_OncePerInterval())


def run_server(service: LlmfitService, host: str, port: int, unix_socket: str | None,
               cors_origins: tuple[str, ...] = (), metrics_top: int = 20) -> None:
    """Serve until interrupted; prints where it listens."""
    import os
    import signal
    import threading

    import uvicorn

    from llmfit.http_protocol import HeaderDeadlineProtocol

    sock = bind_unix_socket(unix_socket) if unix_socket else bind_tcp(host, port)
    mine = _identity(unix_socket) if unix_socket else None
    where = f"unix:{unix_socket}" if unix_socket else f"http://{_url_host(host)}:{sock.getsockname()[1]}"
    config = uvicorn.Config(create_app(service, cors_origins, metrics_top), log_level="warning",
                            access_log=False, lifespan="off",
                            http=HeaderDeadlineProtocol,  # idle / slow-header clients dropped
                            timeout_keep_alive=5,  # idle keep-alive connections are closed
                            limit_concurrency=1000,  # beyond this: 503, not an unbounded queue
                            backlog=256, h11_max_incomplete_event_size=16 * 1024,  # header cap
                            timeout_graceful_shutdown=5)
    _rate_limit_logs()
    # Analyses run in a worker thread; a short GIL switch interval lets the event loop answer
    # /health and cached bodies between their steps (5 ms by default: too coarse for p99).
    sys.setswitchinterval(0.0005)
    server = _announcing_server(uvicorn.Server, where)(config)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = None
    # A Ctrl-C or SIGTERM is a clean stop at any moment: uvicorn shuts down gracefully on SIGINT
    # and SIGTERM, then re-raises the signal it caught; both become a KeyboardInterrupt, so a
    # stop (Ctrl-C, or `kubectl delete pod`) removes the socket file and exits 0. The line that
    # says where it listens comes once uvicorn has started, with its signal handlers in place.
    try:
        if main_thread:
            previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if unix_socket and mine is not None and _identity(unix_socket) == mine:
            os.unlink(unix_socket)  # only the socket this process created, nothing put there since
    print("llmfit serve: stopped", flush=True)


def _announcing_server(base: type, where: str) -> type:
    """uvicorn's Server, saying where it listens once it has started (its handlers in place)."""

    class AnnouncingServer(base):  # type: ignore[misc,valid-type]
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                print(f"llmfit serve: listening on {where} (Ctrl-C to stop)", flush=True)

    return AnnouncingServer


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the socket file at `path`, None when there is none (or not a socket)."""
    import os
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISSOCK(st.st_mode) else None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
