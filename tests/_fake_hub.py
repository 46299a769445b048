"""A loopback HTTP server that answers the few Hugging Face Hub API calls a dataset push makes.

create_repo (POST /api/repos/create), README validation (POST /api/validate-yaml), preupload
(every file "regular"), tree listing (GET .../tree/{rev}/{path}) and commit (NDJSON). Files are
kept in memory per repo, so a test can read back exactly what was uploaded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

_REPO = r"/api/datasets/(?P<repo>[^/]+/[^/]+)"


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, authorization header
        self.commits: list[dict[str, Any]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                hub._handle(self, "GET")

            def do_POST(self) -> None:
                hub._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- routing ---------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(h.path)
        path = unquote(url.path)
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        self.requests.append((method, path, h.headers.get("Authorization")))
        routes = [
            ("POST", r"/api/repos/create", self._create),
            ("POST", r"/api/validate-yaml", lambda m, b: (200, {"errors": [], "warnings": []}, {})),
            ("POST", _REPO + r"/preupload/(?P<rev>[^/]+)", self._preupload),
            ("GET", _REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<sub>.*))?", self._tree),
            ("POST", _REPO + r"/commit/(?P<rev>[^/]+)", self._commit),
        ]
        for verb, pattern, fn in routes:
            m = re.fullmatch(pattern, path)
            if verb == method and m:
                status, payload, headers = fn(m, body)
                return self._reply(h, status, payload, headers)
        self._reply(h, 404, {"error": f"no route {method} {path}"}, {})

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    # -- endpoints -------------------------------------------------------------------------------
    def _create(self, m: re.Match, body: bytes):
        req = json.loads(body)
        repo = f"{req['organization']}/{req['name']}"
        if repo in self.repos:
            return 409, {"error": "You already created this dataset repo", "url": f"{self.url}/datasets/{repo}"}, {}
        self.repos[repo] = {"type": req.get("type"), "visibility": req.get("visibility"), "files": {}}
        return 200, {"url": f"{self.url}/datasets/{repo}"}, {}

    def _missing_repo(self, repo: str):
        return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}

    def _preupload(self, m: re.Match, body: bytes):
        if m["repo"] not in self.repos:
            return self._missing_repo(m["repo"])
        files = json.loads(body)["files"]
        return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}, {}

    def _tree(self, m: re.Match, body: bytes):
        if m["repo"] not in self.repos:
            return self._missing_repo(m["repo"])
        sub = (m["sub"] or "").strip("/")
        files = {p: c for p, c in self.repos[m["repo"]]["files"].items() if not sub or p.startswith(sub + "/")}
        if sub and not files:
            return 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}
        return 200, [{"type": "file", "path": p, "size": len(c), "oid": hashlib.sha1(c).hexdigest()} for p, c in sorted(files.items())], {}

    def _commit(self, m: re.Match, body: bytes):
        if m["repo"] not in self.repos:
            return self._missing_repo(m["repo"])
        lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
        files = self.repos[m["repo"]]["files"]
        for item in lines[1:]:
            v = item["value"]
            if item["key"] == "file":
                files[v["path"]] = base64.b64decode(v["content"])
            elif item["key"] == "deletedFile":
                files.pop(v["path"], None)
            elif item["key"] == "deletedFolder":
                for p in [p for p in files if p.startswith(v["path"].rstrip("/") + "/")]:
                    files.pop(p)
        oid = hashlib.sha1(body).hexdigest()
        self.commits.append({"repo": m["repo"], "oid": oid, "header": lines[0]["value"],
                             "ops": [(i["key"], i["value"]["path"]) for i in lines[1:]]})
        return 200, {"commitUrl": f"{self.url}/datasets/{m['repo']}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}, {}
