"""The dashboard `llmfit serve` shows at `/`: static files shipped as package data, read once.

Only the server imports this (`llmfit top` never pays for it). The page is plain HTML, CSS and
JavaScript calling the public REST API with relative URLs, so it works against any llmfit node.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

# Served under /ui/{file}; the page itself (index.html) only at `/`. The page links them, and
# calls the API, by relative URLs: behind a proxy's path prefix it still finds its node.
ASSET_TYPES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
               "icon.svg": "image/svg+xml"}
# Assets are linked with ?v=<content hash>, so a day's caching never mixes an old script with a
# new page; the page itself is revalidated on every load (ETag → 304).
ASSET_CACHE = "public, max-age=86400"
PAGE_CACHE = "no-cache"
# Everything comes from this node: no inline script or style, no other origin.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass(frozen=True)
class StaticFile:
    """One file's bytes and the headers it is served with."""

    body: bytes
    media_type: str
    cache_control: str
    etag: str

    @classmethod
    def of(cls, body: bytes, media_type: str, cache_control: str) -> StaticFile:
        return cls(body, media_type, cache_control, f'"{hashlib.sha256(body).hexdigest()[:20]}"')

    def response(self, request: Request, extra: dict[str, str] | None = None) -> Response:
        """200 with the bytes, or 304 when the browser's copy is current."""
        headers = {"Cache-Control": self.cache_control, "ETag": self.etag,
                   "X-Content-Type-Options": "nosniff", **(extra or {})}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def _read(name: str) -> bytes:
    return resources.files(__name__).joinpath(name).read_bytes()


def wants_html(accept: str) -> bool:
    """Whether an Accept header asks for a page: it names text/html, at a quality at least that of
    application/json. `*/*` alone (curl, scripts) and `application/json` get the JSON index."""
    quality: dict[str, float] = {}
    for part in accept.lower().split(","):
        kind, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[kind] = max(q, quality.get(kind, 0.0))
    html = quality.get("text/html", 0.0)
    return html > 0 and html >= quality.get("application/json", 0.0)


class Dashboard:
    """The page and its assets as bytes, built once per app."""

    def __init__(self) -> None:
        self.assets = {name: StaticFile.of(_read(name), kind, ASSET_CACHE)
                       for name, kind in ASSET_TYPES.items()}
        page = _read("index.html").decode("utf-8")
        for name, asset in self.assets.items():  # link each asset by its content's version
            page = page.replace(f'"ui/{name}"', f'"ui/{name}?v={asset.etag.strip(chr(34))[:12]}"')
        self.page = StaticFile.of(page.encode("utf-8"), "text/html; charset=utf-8", PAGE_CACHE)

    def page_response(self, request: Request) -> Response:
        """The dashboard page (for `GET /` from a browser)."""
        return self.page.response(request, {"Content-Security-Policy": PAGE_POLICY,
                                            "Vary": "Accept", "Referrer-Policy": "no-referrer"})

    async def asset(self, request: Request) -> Response:
        """GET /ui/{file}: one of the page's assets, else the API's JSON 404."""
        found = self.assets.get(request.path_params["file"])
        if found is None:
            raise HTTPException(404)
        return found.response(request)

    @property
    def total_bytes(self) -> int:
        """The page and all its assets: what a first visit downloads."""
        return len(self.page.body) + sum(len(a.body) for a in self.assets.values())
