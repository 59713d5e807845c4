"""A local server that speaks the Hugging Face Hub's HTTP API for the calls pocketprof makes.

Repositories are folders of real GGUF files the tests write. It answers the model search
(``/api/models``), the file listing (``/api/models/REPO/tree/REV``), and ``resolve`` (HEAD
and GET) the way the Hub does: a 302 to a content URL with ``X-Linked-Size`` and
``X-Linked-Etag``, then ranged GETs (206). It serves 404s with the Hub's ``X-Error-Code``, a
401 for a gated repository without a token, and faults on request: a connection cut
mid-download (once), a body that never ends, a listing whose size lies. It counts the bytes
it served per file. Loopback only; it stops with its ``with`` block.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Repo:
    folder: Path
    downloads: int = 0
    gated: bool = False
    params: int | None = None
    last_modified: str = "2026-11-01T00:00:00.000Z"


@dataclass
class Faults:
    cut_after: dict[str, int] = field(default_factory=dict)  # file name -> bytes before the first GET is cut
    endless: set[str] = field(default_factory=set)  # file names whose GET ignores Range and never ends
    listed_size: dict[str, int] = field(default_factory=dict)  # file name -> the size the listing claims


class FakeHub:
    token = "hf_test_token"

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.faults = Faults()
        self.served: dict[str, int] = {}  # "repo/file" -> bytes sent
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="hub-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def add(self, repo_id: str, folder: Path, **kw: Any) -> Repo:
        self.repos[repo_id] = Repo(folder, **kw)
        return self.repos[repo_id]

    def count(self, repo_id: str, name: str, n: int) -> None:
        with self._lock:
            key = f"{repo_id}/{name}"
            self.served[key] = self.served.get(key, 0) + n

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self.route(head=True)

            def do_GET(self) -> None:
                self.route(head=False)

            # -- helpers ---------------------------------------------------------
            def send_json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def error(self, status: int, code: str, message: str) -> None:
                self.send_json({"error": message}, status, {"X-Error-Code": code, "X-Error-Message": message})

            def authorized(self) -> bool:
                return self.headers.get("Authorization", "") == f"Bearer {hub.token}"

            # -- routes ----------------------------------------------------------
            def route(self, head: bool) -> None:
                parsed = urllib.parse.urlparse(self.path)
                parts = [urllib.parse.unquote(p) for p in parsed.path.strip("/").split("/")]
                query = urllib.parse.parse_qs(parsed.query)
                hub.requests.append((self.command, parsed.path, {k.lower(): v for k, v in self.headers.items()}))
                if parts[:2] == ["api", "models"] and len(parts) == 2:
                    return self.search(query)
                if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "tree":
                    return self.tree("/".join(parts[2:4]))
                if parts[:2] == ["api", "models"] and len(parts) in (4, 6):
                    return self.info("/".join(parts[2:4]))
                if len(parts) >= 5 and parts[2] == "resolve":
                    return self.resolve("/".join(parts[:2]), "/".join(parts[4:]))
                if parts[0] == "cdn" and len(parts) >= 4:
                    return self.content("/".join(parts[1:3]), "/".join(parts[3:]), head)
                self.error(404, "RepoNotFound", "no such route")

            def search(self, query: dict[str, list[str]]) -> None:
                text = (query.get("search") or [""])[0].lower()
                limit = int((query.get("limit") or ["50"])[0])
                hits = [(rid, r) for rid, r in hub.repos.items() if text in rid.lower()]
                key = (query.get("sort") or ["downloads"])[0]
                hits.sort(key=lambda x: x[1].last_modified if key == "lastModified" else x[1].downloads, reverse=True)
                rows = []
                for rid, r in hits[:limit]:
                    row: dict[str, Any] = {
                        "id": rid,
                        "_id": hashlib.md5(rid.encode()).hexdigest()[:24],
                        "modelId": rid,
                        "downloads": r.downloads,
                        "likes": 0,
                        "lastModified": r.last_modified,
                        "createdAt": r.last_modified,
                        "tags": ["gguf"],
                        "private": False,
                        "gated": "auto" if r.gated else False,
                        "library_name": "gguf",
                    }
                    if r.params:
                        row["gguf"] = {"total": r.params, "architecture": "llama", "context_length": 2048}
                    rows.append(row)
                self.send_json(rows)

            def files(self, repo_id: str) -> list[Path] | None:
                repo = hub.repos.get(repo_id)
                return None if repo is None else sorted(p for p in repo.folder.iterdir() if p.is_file())

            def tree(self, repo_id: str) -> None:
                found = self.files(repo_id)
                if found is None:
                    return self.error(404, "RepoNotFound", f"Repository {repo_id} not found")
                rows = []
                for p in found:
                    size = hub.faults.listed_size.get(p.name, p.stat().st_size)
                    oid = hashlib.sha256(p.name.encode()).hexdigest()
                    rows.append(
                        {
                            "type": "file",
                            "oid": oid[:40],
                            "size": size,
                            "path": p.name,
                            "lfs": {"oid": oid, "size": size, "pointerSize": 134},
                        }
                    )
                self.send_json(rows)

            def info(self, repo_id: str) -> None:
                found = self.files(repo_id)
                if found is None:
                    return self.error(404, "RepoNotFound", f"Repository {repo_id} not found")
                repo = hub.repos[repo_id]
                self.send_json(
                    {
                        "id": repo_id,
                        "modelId": repo_id,
                        "sha": COMMIT,
                        "private": False,
                        "gated": "auto" if repo.gated else False,
                        "downloads": repo.downloads,
                        "tags": ["gguf"],
                        "siblings": [{"rfilename": p.name} for p in found],
                        "lastModified": repo.last_modified,
                    }
                )

            def resolve(self, repo_id: str, name: str) -> None:
                found = self.files(repo_id)
                if found is None:
                    return self.error(404, "RepoNotFound", f"Repository {repo_id} not found")
                if hub.repos[repo_id].gated and not self.authorized():
                    return self.error(401, "GatedRepo", f"Access to model {repo_id} is restricted (gated)")
                path = hub.repos[repo_id].folder / name
                if not path.is_file():
                    return self.error(404, "EntryNotFound", f"{name} does not exist in {repo_id}")
                size = path.stat().st_size
                etag = hashlib.sha256(name.encode()).hexdigest()
                self.send_response(302)
                self.send_header("Location", f"{hub.url}/cdn/{repo_id}/{urllib.parse.quote(name)}")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{etag}"')
                self.send_header("X-Linked-Size", str(size))
                self.send_header("ETag", f'"{etag[:40]}"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def content(self, repo_id: str, name: str, head: bool) -> None:
                repo = hub.repos.get(repo_id)
                path = repo.folder / name if repo else None
                if path is None or not path.is_file():
                    return self.error(404, "EntryNotFound", f"{name} not found")
                size = path.stat().st_size
                start, end = 0, size - 1
                ranged = self.headers.get("Range", "")
                if ranged.startswith("bytes=") and name not in hub.faults.endless:
                    a, _, b = ranged[6:].partition("-")
                    start = int(a or 0)
                    end = min(int(b), size - 1) if b else size - 1
                if name in hub.faults.endless and not head:
                    return self.endless(repo_id, name)
                length = max(0, end - start + 1)
                self.send_response(206 if ranged else 200)
                # the Hub's own headers: a redirect within one host is followed, and the client reads them here
                etag = hashlib.sha256(name.encode()).hexdigest()
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{etag}"')
                self.send_header("X-Linked-Size", str(size))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(length))
                self.send_header("ETag", f'"{hashlib.sha256(name.encode()).hexdigest()}"')
                if ranged:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                if head:
                    return
                cut = hub.faults.cut_after.get(name)
                if cut is not None and length > cut:
                    del hub.faults.cut_after[name]  # once: the next request resumes
                else:
                    cut = None
                with path.open("rb") as fh:
                    fh.seek(start)
                    left = length if cut is None else min(length, cut)
                    while left > 0:
                        chunk = fh.read(min(1 << 16, left))
                        if not chunk:
                            break
                        try:
                            self.wfile.write(chunk)
                        except (BrokenPipeError, ConnectionResetError):
                            return
                        hub.count(repo_id, name, len(chunk))
                        left -= len(chunk)
                if cut is not None:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the cut: the client sees a short body

            def endless(self, repo_id: str, name: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()  # no length: the body goes on until the client hangs up
                block = b"GGUF" + b"\0" * ((1 << 16) - 4)
                try:
                    for _ in range(4096):  # bounded: 256 MB at most, whatever the client does
                        self.wfile.write(block)
                        hub.count(repo_id, name, len(block))
                except (BrokenPipeError, ConnectionResetError):
                    return

        return Handler
