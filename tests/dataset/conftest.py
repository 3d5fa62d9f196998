"""Fixtures of the dataset tests. `host_factory`: CDN-like local image hosts for download tests: its own robots.txt and tdmrep.json, per-path
headers and statuses, huge bodies under /big/, slow answers under /slow/, and a log of arrivals,
answers and requests in flight."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ilid_ray.testing import image_cases as img

JPEG = img.jpeg(16, 16)
BIG = 64 * 1024 * 1024  # an opted-out image this large would take a while to read: it must not be
SLOW_S = 0.1


class ImageHost:
    """A CDN-like image host: its own robots.txt and tdmrep.json, per-path headers, a log."""

    big = BIG

    def __init__(self, robots: bytes | None = None, tdmrep: bytes | None = None, headers: dict | None = None,
                 statuses: dict | None = None):
        self.paths: list[str] = []
        self.sent: dict[str, int] = {}
        self.in_flight = self.max_in_flight = 0
        self.arrivals: list[float] = []
        self.answered: list[tuple[str, int, float]] = []  # (path, status, when the answer went out)
        lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                with lock:
                    host.paths.append(self.path)
                    host.arrivals.append(time.monotonic())
                    host.in_flight += 1
                    host.max_in_flight = max(host.max_in_flight, host.in_flight)
                try:
                    self._answer()
                finally:
                    with lock:
                        host.in_flight -= 1

            def _answer(self):
                special = {"/robots.txt": robots, "/.well-known/tdmrep.json": tdmrep}
                if self.path in special:
                    body = special[self.path]
                    return self._send(404 if body is None else 200, "text/plain", body or b"")
                status, extra = (statuses or {}).get(self.path, lambda n: (200, {}))(host.paths.count(self.path))
                if self.path.startswith("/slow/"):
                    time.sleep(SLOW_S)
                if self.path.startswith("/big/"):
                    return self._send(200, "image/jpeg", None, {**(headers or {}).get(self.path, {}), **extra})
                return self._send(status, "image/jpeg", JPEG if status == 200 else b"no",
                                  {**(headers or {}).get(self.path, {}), **extra})

            def _send(self, status, kind, body, extra=None):
                host.answered.append((self.path, status, time.monotonic()))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(BIG if body is None else len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                sent = 0
                try:
                    if body is None:
                        chunk = b"\0" * 65536
                        while sent < BIG:
                            self.wfile.write(chunk)
                            sent += len(chunk)
                    else:
                        self.wfile.write(body)
                        sent = len(body)
                except OSError:
                    self.close_connection = True
                host.sent[self.path] = sent

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads, self.httpd.block_on_close = True, False
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def host_factory():
    """Start ImageHost(**kwargs) servers on 127.0.0.1; all are closed after the test."""
    hosts = []

    def make(**kwargs) -> ImageHost:
        hosts.append(ImageHost(**kwargs))
        return hosts[-1]

    yield make
    for h in hosts:
        h.close()
