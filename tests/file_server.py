"""A real HTTP file server on loopback for download tests, with the ways servers misbehave.

Each served path has its own behaviour: honour ``Range``/``If-Range`` (the normal
case), ignore ``Range``, drop the connection after some bytes, hold the body at
a gate until the test opens it, answer with a fixed error status, or redirect.
Every request is recorded so tests can check what the client asked for.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Served:
    body: bytes = b""
    content_type: str = "application/octet-stream"
    ignore_range: bool = False
    drop_after: int | None = None
    """Close the connection after this many body bytes of a response…"""
    drops: int = 0
    """…for this many responses."""
    gate_after: int | None = None
    """Send this many body bytes, then wait until ``gate`` is set."""
    gate: threading.Event = field(default_factory=threading.Event)
    status: int | None = None
    """Answer every request with this status and no body."""
    redirect_to: str | None = None
    chunk: int = 16 * 1024

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up mid-body is what these tests do on purpose."""

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FileServer:
    def __init__(self, files: dict[str, Served], tls: ssl.SSLContext | None = None) -> None:
        self.files = files
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        handler = _handler(self)
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == path]

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def start(self) -> FileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        for served in self.files.values():
            served.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


@contextmanager
def serve(files: dict[str, Served], tls: ssl.SSLContext | None = None) -> Iterator[FileServer]:
    server = FileServer(files, tls).start()
    try:
        yield server
    finally:
        server.stop()


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            server.record(Seen("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
            served = server.files.get(self.path.split("?")[0])
            if served is None:
                self._empty(404)
                return
            if served.status is not None:
                self._empty(served.status)
                return
            if served.redirect_to is not None:
                self.send_response(302)
                self.send_header("Location", served.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send_body(served)

        def _empty(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send_body(self, served: Served) -> None:
            body, total = served.body, len(served.body)
            start = 0
            ranged = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if ranged and not served.ignore_range and (if_range in (None, served.etag)):
                match = re.fullmatch(r"bytes=(\d+)-", ranged)
                assert match, ranged
                start = int(match.group(1))
                if start >= total:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{total}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", served.content_type)
            self.send_header("Content-Length", str(total - start))
            self.send_header("ETag", served.etag)
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            limit = None
            if served.drop_after is not None and served.drops > 0:
                served.drops -= 1
                limit = served.drop_after
            sent = 0
            position = start
            while position < total:
                if served.gate_after is not None and sent >= served.gate_after:
                    served.gate.wait(30)
                step = min(served.chunk, total - position)
                if limit is not None:
                    step = min(step, limit - sent)
                if served.gate_after is not None and sent < served.gate_after:
                    step = min(step, served.gate_after - sent)
                if step <= 0:
                    break
                try:
                    self.wfile.write(body[position : position + step])
                    self.wfile.flush()
                except OSError:
                    return
                sent += step
                position += step
            if limit is not None and position < total:
                self.close_connection = True  # the socket closes with the body unfinished

    return Handler


def self_signed_tls(folder: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    from tests.servers import self_signed_certificate

    cert_file, key_file = self_signed_certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context
