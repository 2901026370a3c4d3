"""Starlette app for `llmfit serve`: parse the request, ask the service, answer JSON."""

from __future__ import annotations

import logging
import socket
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from llmfit.errors import LlmfitError
from llmfit.openapi import openapi_document
from llmfit.query import MODELS, SEARCH, TOP, Endpoint, Query, parse_query
from llmfit.service import LlmfitService

log = logging.getLogger("llmfit.server")
Handler = Callable[[Request], Awaitable[Response]]


def _params(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def _what_if(request: Request) -> Query | None:
    params = _params(request)
    keys = {k: params[k] for k in ("ram_gb", "vram_gb", "cpu_cores") if k in params}
    return parse_query(keys) if keys else None


def create_app(service: LlmfitService) -> Starlette:
    """The REST API of api-contract.md over one service."""

    async def index(request: Request) -> Response:
        return JSONResponse({"name": "llmfit", "endpoints": [
            "/health", "/api/v1/system", "/api/v1/models", "/api/v1/models/top",
            "/api/v1/models/{name}", "/openapi.json"]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "node": service.node})

    async def system(request: Request) -> Response:
        return JSONResponse(service.system_body(_what_if(request)))

    def listing(endpoint: Endpoint) -> Handler:
        async def handler(request: Request) -> Response:
            name = request.path_params.get("name")
            query = parse_query(_params(request), endpoint, name=name)
            return JSONResponse(service.models_body(query))
        return handler

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/api/v1/system", system, methods=["GET"]),
        Route("/api/v1/models", listing(MODELS), methods=["GET"]),
        Route("/api/v1/models/top", listing(TOP), methods=["GET"]),
        Route("/api/v1/models/{name:path}", listing(SEARCH), methods=["GET"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: _http_error, LlmfitError: _llmfit_error, Exception: _unexpected_error}
    return Starlette(routes=routes, exception_handlers=handlers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: f"no such endpoint: {request.url.path}",
                405: f"method {request.method} is not allowed on {request.url.path}; use GET"}
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
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def run_server(service: LlmfitService, host: str, port: int, unix_socket: str | None) -> None:
    """Serve until interrupted; prints where it listens."""
    import os

    import uvicorn

    sock = bind_unix_socket(unix_socket) if unix_socket else bind_tcp(host, port)
    where = f"unix:{unix_socket}" if unix_socket else f"http://{_url_host(host)}:{sock.getsockname()[1]}"
    print(f"llmfit serve: listening on {where} (Ctrl-C to stop)", flush=True)
    config = uvicorn.Config(create_app(service), log_level="warning", access_log=False,
                            lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if unix_socket and os.path.exists(unix_socket):
            os.unlink(unix_socket)
    print("llmfit serve: stopped", flush=True)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
