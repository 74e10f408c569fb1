"""A real HTTP server on 127.0.0.1 for download tests: Range, ETag, HEAD and injected faults."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    method: str
    path: str
    range: str | None


@dataclass
class FileServer:
    """Serves ``files`` (URL path -> bytes). Faults, each consumed by one GET of a path:

    ``cut_after[path] = [n, ...]`` sends the full headers, then n bytes, then drops the connection;
    ``fail[path] = [503, ...]`` answers with that status; ``ignore_range`` answers 200 to ranges.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, list[int]] = field(default_factory=dict)
    fail: dict[str, list[int]] = field(default_factory=dict)
    ignore_range: bool = False
    head_allowed: bool = True
    seen: list[Seen] = field(default_factory=list)
    modified: float = 1_700_000_000.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [
                s
                for s in self.seen
                if (method is None or s.method == method) and (path is None or s.path == path)
            ]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take(self, faults: dict[str, list[int]], path: str) -> int | None:
        with self._lock:
            queue = faults.get(path)
            return queue.pop(0) if queue else None


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _headers(self, status: int, data: bytes, length: int, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(length))
            self.send_header("ETag", '"' + hashlib.md5(data).hexdigest() + '"')
            self.send_header("Last-Modified", formatdate(server.modified, usegmt=True))
            self.send_header("Accept-Ranges", "bytes")
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()

        def _answer(self, body: bool) -> None:
            header = self.headers.get("Range")
            with server._lock:
                server.seen.append(Seen(self.command, self.path, header))
            data = server.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            if body:
                status = server._take(server.fail, self.path)
                if status is not None:
                    self.send_error(status)
                    return
            start, end, status, extra = 0, len(data) - 1, 200, {}
            if header and not server.ignore_range:
                first, _, last = header.removeprefix("bytes=").partition("-")
                start, end = int(first), int(last) if last else len(data) - 1
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
                extra["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            chunk = data[start : end + 1]
            self._headers(status, data, len(chunk), extra)
            if not body:
                return
            cut = server._take(server.cut_after, self.path)
            self.wfile.write(chunk if cut is None else chunk[:cut])
            self.wfile.flush()
            if cut is not None:
                self.close_connection = True

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:
            if not server.head_allowed:
                self.send_error(405)
                return
            self._answer(body=False)

    return Handler
