"""The download stage against a real local HTTP server that misbehaves in every way we know of.

Every fault must end as a reject row with a specific reason; nothing raises, no row is lost.
"""

from __future__ import annotations

import copy
import hashlib
import io
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from ilid_ray.config import DownloadConfig, NetworkConfig
from ilid_ray import records
from ilid_ray.dataset.download import Downloader, download_rows
from ilid_ray.testing import image_cases as img

SIZE = 64
CFG = DownloadConfig(threads=8, timeout_s=3.0, deadline_s=20.0, retries=2, backoff_s=0.01,
                     max_bytes=1024 * 1024, max_pixels=10_000_000, max_redirects=3, image_size=SIZE,
                     max_decode_bytes=4 << 20)
LOOPBACK = NetworkConfig(allow_private=["127.0.0.1/32"])


class Server:
    """A threaded stdlib HTTP server on `host`; `routes[path](handler)` answers, `hits` counts."""

    def __init__(self, host: str = "127.0.0.1"):
        self.routes: dict = {}
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - stdlib name
                path = self.path.split("?")[0]
                with server._lock:
                    server.hits[path] += 1
                    nth = server.hits[path]
                route = server.routes.get(path)
                if route is None:
                    return send(self, 404, "text/plain", b"not found")
                route(self, nth)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.base = f"http://{host}:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send(handler, status: int, ctype: str | None, body: bytes, headers: dict | None = None) -> None:
    handler.send_response(status)
    if ctype:
        handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


def body(status: int, ctype: str | None, data: bytes, headers: dict | None = None):
    return lambda h, nth: send(h, status, ctype, data, headers)


def fail_first(status: int, then, headers: dict | None = None):
    """Answer `status` to the first request, then behave like `then` (a transient failure)."""
    return lambda h, nth: send(h, status, "text/plain", b"busy", headers) if nth == 1 else then(h, nth)


def redirect(location: str, status: int = 302):
    return lambda h, nth: send(h, status, None, b"", {"Location": location})


def close_delimited(ctype: str, total: int):
    """No Content-Length: the body ends when the server closes (the cap must count bytes)."""
    def answer(h, nth):
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        chunk = b"\xff" * 65536
        try:
            for _ in range(total // len(chunk)):
                h.wfile.write(chunk)
        except OSError:
            pass  # the client hung up once over the cap
    return answer


def broken_transfer(data: bytes):
    """Announce the full length, send half, hang up."""
    def answer(h, nth):
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data[: len(data) // 2])
        h.close_connection = True
    return answer


def slow_headers(seconds: float):
    def answer(h, nth):
        time.sleep(seconds)
        with __import__("contextlib").suppress(OSError):
            send(h, 200, "image/jpeg", img.jpeg(32, 32))
    return answer


def trickle(interval_s: float):
    """Headers at once, then one byte per interval: each read is quick, the whole never ends."""
    def answer(h, nth):
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        try:
            for _ in range(100000):
                h.wfile.write(b"\xff")
                h.wfile.flush()
                time.sleep(interval_s)
        except OSError:
            pass
    return answer


def trickle_headers(interval_s: float):
    """The status line and headers themselves arrive one byte per interval (slow-loris)."""
    def answer(h, nth):
        h.close_connection = True
        try:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n" * 1000:
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                time.sleep(interval_s)
        except OSError:
            pass
    return answer


JPEG = img.jpeg(1200, 800)


@pytest.fixture(scope="module")
def servers():
    with Server() as main, Server("127.0.0.2") as private:
        private.routes["/secret.jpg"] = body(200, "image/jpeg", JPEG)
        main.routes.update({
            "/ok.jpg": body(200, "image/jpeg", JPEG),
            "/moved.jpg": redirect("/ok.jpg", 301),
            "/flaky.jpg": fail_first(500, body(200, "image/jpeg", JPEG)),
            "/busy.jpg": fail_first(429, body(200, "image/jpeg; charset=binary", JPEG), {"Retry-After": "0"}),
            "/always-500.jpg": body(503, "text/plain", b"down"),
            "/forbidden.jpg": body(403, "text/html", b"<html>no</html>"),
            "/page.jpg": body(200, "text/html; charset=utf-8", b"<!DOCTYPE html><html>shop</html>"),
            "/liar.jpg": body(200, "image/jpeg", b"<!DOCTYPE html><html>not a jpeg</html>"),
            "/no-type.jpg": body(200, None, JPEG),
            "/truncated.jpg": body(200, "image/jpeg", img.truncated(JPEG)),
            "/broken.jpg": broken_transfer(JPEG),
            "/huge.jpg": body(200, "image/jpeg", b"\xff" * (2 * 1024 * 1024)),
            "/huge-stream.jpg": close_delimited("image/jpeg", 3 * 1024 * 1024),
            "/loop-a": redirect("/loop-b"),
            "/loop-b": redirect("/loop-a"),
            "/chain/0": redirect("/chain/1"), "/chain/1": redirect("/chain/2"),
            "/chain/2": redirect("/chain/3"), "/chain/3": redirect("/chain/4"),
            "/chain/4": body(200, "image/jpeg", JPEG),
            "/to-private": redirect(private.url("/secret.jpg")),
            "/to-file": redirect("file:///etc/passwd"),
            "/bomb.png": body(200, "image/png", img.bomb_png(5000, 5000)),
            "/deep.png": body(200, "image/png", img.png16(1000, 1000)),
            "/cmyk.jpg": body(200, "image/jpeg", img.cmyk_jpeg(96, 64)),
            "/alpha.png": body(200, "image/png", img.alpha_png(96, 64)),
            "/exif.jpg": body(200, "image/jpeg", img.exif_rotated_jpeg(80, 40, orientation=6)),
            "/image.webp": body(200, "image/webp", img.webp(96, 64)),
            "/slow.jpg": slow_headers(4.0),
            "/trickle.jpg": trickle(0.1),
            "/trickle-headers.jpg": trickle_headers(0.1),
        })
        yield main, private


def row_for(urls: list[str], n: int = 0) -> dict:
    return records.raw_row(f"https://shop.example/p/{n}/{urls[0] if urls else ''}", "shop", "label",
                           ["data"], urls, "2026-01-01T00:00:00Z")


FAULTS = [
    ("/404.jpg", "http 404"),
    ("/forbidden.jpg", "http 403"),
    ("/always-500.jpg", "http 503"),
    ("/page.jpg", "not an image: text/html"),
    ("/no-type.jpg", "not an image: no content type"),
    ("/liar.jpg", "not an image: html"),
    ("/truncated.jpg", "truncated image"),
    ("/broken.jpg", "connection broken"),
    ("/huge.jpg", "too large: > 1 MB"),
    ("/huge-stream.jpg", "too large: > 1 MB"),
    ("/loop-a", "redirect loop"),
    ("/chain/0", "too many redirects: > 3"),
    ("/to-private", None),  # reason depends on the private server's port: checked below
    ("/to-file", "unsupported scheme: file"),
    ("/bomb.png", "decompression bomb: 5000x5000 pixels > 10000000"),
    ("/deep.png", "decode memory: a 1000x1000 I;16 image needs about 10.5 MiB > the budget of 4.0 MiB"),
]


def test_every_fault_becomes_a_reject_with_its_reason(servers):
    main, private = servers
    rows = [row_for([main.url(path)], n) for n, (path, _) in enumerate(FAULTS)]
    out = download_rows(rows, CFG, LOOPBACK)
    assert out is rows and len(out) == len(FAULTS)
    for row, (path, reason) in zip(out, FAULTS):
        assert row["status"] == records.REJECTED, path
        assert row["reject_stage"] == "download"
        assert row["image"] is None and row["image_sha256"] is None
        if reason is not None:
            assert row["reject_reason"] == reason, path
    blocked = out[[p for p, _ in FAULTS].index("/to-private")]
    assert blocked["reject_reason"] == "blocked: 127.0.0.2 is loopback"
    assert private.hits["/secret.jpg"] == 0  # the private listener was never contacted
    assert main.hits["/always-500.jpg"] == CFG.retries + 1  # 5xx retried, then given up
    assert main.hits["/forbidden.jpg"] == 1  # 4xx never retried


def test_transient_failures_are_retried(servers):
    main, _ = servers
    rows = [row_for([main.url("/flaky.jpg")], 1), row_for([main.url("/busy.jpg")], 2)]
    out = download_rows(rows, CFG, LOOPBACK)
    assert [r["status"] for r in out] == [records.OK, records.OK]
    assert main.hits["/flaky.jpg"] == 2 and main.hits["/busy.jpg"] == 2


def test_good_images_of_every_kind_are_normalised(servers):
    main, _ = servers
    paths = ["/ok.jpg", "/cmyk.jpg", "/alpha.png", "/exif.jpg", "/image.webp", "/moved.jpg"]
    rows = [row_for([main.url(p)], n) for n, p in enumerate(paths)]
    download_rows(rows, CFG, LOOPBACK)
    for row, path in zip(rows, paths):
        assert row["status"] == records.OK, (path, row["reject_reason"])
        assert row["image_url"] == main.url(path)  # the URL the row listed, even after a redirect
        assert row["image_ext"] == "jpg" and (row["width"], row["height"]) == (SIZE, SIZE)
        assert row["image_sha256"] == hashlib.sha256(row["image"]).hexdigest()
        decoded = Image.open(io.BytesIO(row["image"]))
        assert decoded.format == "JPEG" and decoded.size == (SIZE, SIZE) and decoded.mode == "RGB"
    by_path = dict(zip(paths, rows))
    assert (by_path["/ok.jpg"]["orig_width"], by_path["/ok.jpg"]["orig_height"]) == (1200, 800)
    assert (by_path["/exif.jpg"]["orig_width"], by_path["/exif.jpg"]["orig_height"]) == (40, 80)
    alpha = np.asarray(Image.open(io.BytesIO(by_path["/alpha.png"]["image"])))
    assert alpha[SIZE // 2, -2].min() > 240  # transparent half came out white, not black
    exif = np.asarray(Image.open(io.BytesIO(by_path["/exif.jpg"]["image"])))
    assert exif[2, SIZE // 2, 0] > 200 and exif[2, SIZE // 2, 1] < 80  # red band on top: upright


def test_urls_are_tried_in_order_and_all_reasons_kept(servers):
    main, _ = servers
    fallback = row_for([main.url("/404.jpg"), main.url("/page.jpg"), main.url("/ok.jpg")], 1)
    hopeless = row_for([main.url("/404.jpg"), main.url("/page.jpg")], 2)
    empty = row_for([], 3)
    download_rows([fallback, hopeless, empty], CFG, LOOPBACK)
    assert fallback["status"] == records.OK and fallback["image_url"] == main.url("/ok.jpg")
    assert hopeless["reject_reason"] == "http 404; not an image: text/html"
    assert empty["reject_reason"] == "no image url"


def test_rejected_rows_pass_through_untouched(servers):
    main, _ = servers
    row = records.reject(row_for([main.url("/untouched.jpg")], 1), "postfilter", "missing label")
    before = copy.deepcopy(row)
    download_rows([row], CFG, LOOPBACK)
    assert row == before and main.hits["/untouched.jpg"] == 0


def test_private_addresses_are_refused_without_an_allow_list(servers):
    main, _ = servers
    before = main.hits["/ok.jpg"]
    row = download_rows([row_for([main.url("/ok.jpg")])], CFG, NetworkConfig())[0]
    assert row["reject_reason"] == "blocked: 127.0.0.1 is loopback"
    assert main.hits["/ok.jpg"] == before


def test_slow_server_times_out(servers):
    main, _ = servers
    cfg = CFG.model_copy(update={"timeout_s": 0.5, "retries": 0})
    row = download_rows([row_for([main.url("/slow.jpg")])], cfg, LOOPBACK)[0]
    assert row["reject_reason"] == "timeout"


def test_trickling_server_hits_the_deadline(servers):
    main, _ = servers
    cfg = CFG.model_copy(update={"timeout_s": 2.0, "deadline_s": 1.0, "retries": 0})
    started = time.monotonic()
    rows = [row_for([main.url("/trickle.jpg")], 1), row_for([main.url("/trickle-headers.jpg")], 2)]
    download_rows(rows, cfg, LOOPBACK)
    assert [r["reject_reason"] for r in rows] == ["timeout", "timeout"]
    assert time.monotonic() - started < 30  # the deadline ended them, not the hours-long trickles


def test_one_downloader_serves_many_batches_and_png_output(servers):
    main, _ = servers
    downloader = Downloader(CFG.model_copy(update={"image_format": "png"}), LOOPBACK)
    try:
        first = downloader([row_for([main.url("/ok.jpg")], 1)])
        second = downloader([row_for([main.url("/image.webp")], 2)])
    finally:
        downloader.close()
    for row in first + second:
        assert row["status"] == records.OK and row["image_ext"] == "png"
        assert Image.open(io.BytesIO(row["image"])).format == "PNG"
