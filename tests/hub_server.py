"""A small Hugging Face Hub on loopback: answers the endpoints huggingface_hub calls with the
recorded answers of tests/data/hub/repos.json, and counts the requests it serves."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from loopback import LoopbackServer

REPOS = json.loads((Path(__file__).parent / "data" / "hub" / "repos.json").read_text())


class HubHandler(BaseHTTPRequestHandler):
    server_version = "fake-hub/1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, head: bool = False) -> None:
        self._send(status, json.dumps({"error": message}).encode(),
                   {"X-Error-Code": code, "X-Error-Message": message}, head)

    def _route(self, head: bool) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        url = urlparse(self.path)
        path = unquote(url.path)
        if path == "/api/models":
            query = parse_qs(url.query)
            author = query.get("author", [""])[0]
            found = [r["info"] for name, r in REPOS.items() if name.split("/")[0] == author]
            found.sort(key=lambda i: -i.get("downloads", 0))
            limit = int(query.get("limit", ["1000"])[0])
            return self._send(200, json.dumps(found[:limit]).encode(), head=head)
        if path.startswith("/api/models/"):
            repo = path[len("/api/models/"):].split("/revision/")[0]
            if repo not in REPOS:
                return self._error(401, "RepoNotFound", "Repository not found", head)
            return self._send(200, json.dumps(REPOS[repo]["info"]).encode(), head=head)
        if "/resolve/" in path:
            repo, _, rest = path.lstrip("/").partition("/resolve/")
            entry = REPOS.get(repo)
            if entry is None:
                return self._error(401, "RepoNotFound", "Repository not found", head)
            if entry.get("gated"):
                return self._error(401, "GatedRepo", f"Access to model {repo} is restricted.", head)
            filename = rest.partition("/")[2]
            if filename != "config.json" or "config" not in entry:
                return self._error(404, "EntryNotFound", f"{filename} does not exist", head)
            body = json.dumps(entry["config"]).encode()
            sha = entry["info"]["sha"]
            return self._send(200, body, {"X-Repo-Commit": sha, "ETag": f'"{sha[:20]}-cfg"'}, head)
        return self._error(404, "NotFound", "no such endpoint", head)

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)


class FakeHub(LoopbackServer):
    """Start with `with FakeHub() as hub:`; `hub.url` is the HF_ENDPOINT to use."""

    def __init__(self) -> None:
        super().__init__(HubHandler, requests=[])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[str]:
        return self.server.requests  # type: ignore[attr-defined]
