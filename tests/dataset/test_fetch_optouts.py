"""The downloader honours what an image's own host says (robots.txt, TDMRep) and what the image's
headers say, before reading its body; it never opens anything but http(s); and it is polite per
host (concurrency, 429 + Retry-After). Real local servers; the page host plays no part."""

from __future__ import annotations

import time

import pytest

from ilid_ray import records
from ilid_ray.config import DownloadConfig, NetworkConfig, OptOutSwitches
from ilid_ray.dataset.download import download_rows
from ilid_ray.dataset.fetch import FetchError, GuardedClient
from ilid_ray.testing.trap import TcpTrap

CFG = DownloadConfig(threads=4, timeout_s=3.0, deadline_s=10.0, retries=0, image_size=32)
LOOPBACK = NetworkConfig(allow_private=["127.0.0.1/32"])
ON = OptOutSwitches()


def reason_of(client: GuardedClient, url: str, switches=ON) -> str | None:
    try:
        client.fetch(url, switches)
    except FetchError as exc:
        return exc.reason
    return None


def test_image_host_rules_and_headers(host_factory):
    host = host_factory(
        robots=b"User-agent: *\nDisallow: /private/\n\nUser-agent: ilid-ray\nDisallow: /no-ilid/\n",
        tdmrep=b'[{"location": "/reserved/*", "tdm-reservation": 1}]',
        headers={"/big/noai.jpg": {"X-Robots-Tag": "noai, noimageai"},
                 "/big/scoped.jpg": {"X-Robots-Tag": "ilid-ray: noimageindex"},
                 "/big/tdm.jpg": {"tdm-reservation": "1"},
                 "/other-agent.jpg": {"X-Robots-Tag": "otherbot: noai"}})
    client = GuardedClient(CFG, LOOPBACK)
    cases = {
        "/no-ilid/a.jpg": "opt-out: image host robots.txt disallows it",
        "/reserved/b.jpg": "opt-out: tdmrep.json reserves /reserved/*",
        "/big/noai.jpg": "opt-out: X-Robots-Tag noai, noimageai",
        "/big/scoped.jpg": "opt-out: X-Robots-Tag noimageindex",
        "/big/tdm.jpg": "opt-out: tdm-reservation header",
        "/other-agent.jpg": None,
        "/free.jpg": None,
    }
    assert {p: reason_of(client, host.base + p) for p in cases} == cases
    assert "/no-ilid/a.jpg" not in host.paths and "/reserved/b.jpg" not in host.paths  # never requested
    assert host.paths.count("/robots.txt") == 1 and host.paths.count("/.well-known/tdmrep.json") == 1  # cached
    for path in ("/big/noai.jpg", "/big/scoped.jpg", "/big/tdm.jpg"):  # decided on the headers
        assert host.sent.get(path, 0) < host.big // 4, path


def test_switches_off_and_bare_fetches_ignore_the_rules(host_factory):
    host = host_factory(robots=b"User-agent: *\nDisallow: /\n", headers={"/a.jpg": {"X-Robots-Tag": "noai"}})
    client = GuardedClient(CFG, LOOPBACK)
    assert reason_of(client, host.base + "/a.jpg") == "opt-out: image host robots.txt disallows it"
    off = OptOutSwitches(image_robots_txt=False, x_robots_tag=False)
    assert reason_of(client, host.base + "/a.jpg", off) is None
    assert reason_of(client, host.base + "/a.jpg", None) is None


def test_unavailable_robots_txt_means_disallow(host_factory):
    host = host_factory()
    client = GuardedClient(CFG, LOOPBACK)
    dead = "http://127.0.0.1:9"  # nothing listens: robots.txt unreachable (RFC 9309: assume disallow)
    assert reason_of(client, dead + "/a.jpg").startswith("robots.txt of the image host unavailable")
    assert reason_of(client, host.base + "/a.jpg") is None  # a 404 robots.txt allows everything


def test_download_stage_uses_each_sources_switches(host_factory):
    host = host_factory(robots=b"User-agent: *\nDisallow: /\n")
    rows = [records.raw_row(f"https://shop.example/p/{s}", s, "label", ["d"], [host.base + f"/{s}.jpg"], "t")
            for s in ("strict", "lenient")]
    download_rows(rows, CFG, LOOPBACK, opt_outs={"lenient": OptOutSwitches(image_robots_txt=False)})
    assert rows[0]["reject_reason"] == "opt-out: image host robots.txt disallows it"
    assert rows[1]["status"] == records.OK and rows[1]["image"]


def test_non_http_image_urls_never_connect():
    with TcpTrap() as trap:
        rows = [records.raw_row(f"https://shop.example/p/{i}", "s", "label", ["d"], [url], "t")
                for i, url in enumerate([trap.url("ftp", "/a.jpg"), "file:///etc/hostname", trap.url("s3", "/b.jpg"),
                                         "data:image/jpeg;base64,/9j/"])]
        download_rows(rows, CFG, LOOPBACK)
        time.sleep(0.1)  # let the trap's accept loop see a connection if one had been made
        assert trap.connections == []
    assert [r["reject_reason"] for r in rows] == ["unsupported scheme: ftp", "unsupported scheme: file",
                                                   "unsupported scheme: s3", "unsupported scheme: data"]


def rows_for(host, n: int, folder: str = "slow") -> list[dict]:
    return [records.raw_row(f"https://shop.example/p/{i}", "s", "label", ["d"], [host.base + f"/{folder}/{i}.jpg"],
                            "t") for i in range(n)]


def test_per_host_concurrency(host_factory):
    limited, unlimited = host_factory(), host_factory()
    cfg = CFG.model_copy(update={"threads": 8, "per_host_concurrency": 2, "per_host_rate": 0})
    download_rows(rows_for(limited, 8), cfg, LOOPBACK)
    download_rows(rows_for(unlimited, 8), cfg.model_copy(update={"per_host_concurrency": 8}), LOOPBACK)
    assert limited.max_in_flight <= 2 < unlimited.max_in_flight


def test_retry_after_pauses_the_host(host_factory):
    host = host_factory(statuses={"/fast/0.jpg": lambda n: (429, {"Retry-After": "0.5"}) if n == 1 else (200, {})})
    cfg = CFG.model_copy(update={"threads": 4, "per_host_concurrency": 1, "per_host_rate": 0, "retries": 1,
                                 "backoff_s": 0.01})
    rows = rows_for(host, 4, "fast")
    download_rows(rows, cfg, LOOPBACK)
    assert all(r["status"] == records.OK for r in rows)
    (refused_at,) = [t for path, status, t in host.answered if status == 429]
    after = [t for t in host.arrivals if t > refused_at]
    assert len(after) == 4 and min(after) >= refused_at + 0.5  # nobody asked the host during its Retry-After
