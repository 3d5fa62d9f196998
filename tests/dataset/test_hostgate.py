"""The per-host politeness policy (pure, time passed in) and the gate actor a build shares."""

from __future__ import annotations

import time

import pytest

from ilid_ray.config import DownloadConfig, NetworkConfig
from ilid_ray.dataset.hostgate import POLL_S, GateClient, HostBusy, HostSlots, share_of, start_gate


def test_concurrency_per_host():
    slots = HostSlots(concurrency=2)
    assert [slots.try_acquire("a", now=0.0) for _ in range(3)] == [0.0, 0.0, POLL_S]
    assert slots.try_acquire("b", now=0.0) == 0.0  # another host has its own slots
    slots.release("a", now=0.1)
    assert slots.try_acquire("a", now=0.1) == 0.0


def test_rate_spaces_starts():
    slots = HostSlots(concurrency=10, rate=4.0)
    assert slots.try_acquire("a", now=0.0) == 0.0
    assert slots.try_acquire("a", now=0.1) == pytest.approx(0.15)
    assert slots.try_acquire("a", now=0.25) == 0.0


def test_429_pauses_the_host_for_its_retry_after_capped():
    slots = HostSlots(concurrency=4, max_retry_after_s=30.0)
    slots.try_acquire("a", now=0.0)
    slots.release("a", status=429, retry_after=5.0, now=1.0)
    assert slots.try_acquire("a", now=2.0) == pytest.approx(4.0)
    assert slots.try_acquire("a", now=6.0) == 0.0
    slots.release("a", status=429, retry_after=3600.0, now=7.0)
    assert slots.try_acquire("a", now=8.0) == pytest.approx(29.0)  # capped at max_retry_after_s
    slots.release("b", status=503, now=0.0)  # a 503 without Retry-After pauses nothing
    assert slots.try_acquire("b", now=0.0) == 0.0


def test_idle_hosts_are_forgotten():
    slots = HostSlots(concurrency=1)
    for i in range(100):
        slots.try_acquire(f"h{i}", now=0.0)
        slots.release(f"h{i}", now=0.0)
    assert slots.hosts() == 0


def test_a_wait_past_the_deadline_gives_up():
    slots = HostSlots(concurrency=1)
    slots.try_acquire("a", now=None)
    slots.release("a", status=429, retry_after=60.0)
    with pytest.raises(HostBusy, match="host busy: no slot for a within 0.2s"):
        with GateClient(slots, max_wait_s=0.2).slot("a"):
            pass


def test_a_share_splits_the_host_budget():
    cfg = DownloadConfig(concurrency=2, per_host_concurrency=5, per_host_rate=10.0)
    share = share_of(cfg, 2)
    assert share.concurrency == 2 and share.interval == pytest.approx(0.2)  # 5 // 2 slots, 10/2 starts/s
    assert share_of(cfg.model_copy(update={"per_host_rate": 0}), 2).interval == 0.0  # unlimited stays so
    with pytest.raises(ValueError, match="per_host_concurrency \\(1\\) is below concurrency \\(2\\)"):
        DownloadConfig(concurrency=2, per_host_concurrency=1)


@pytest.mark.slow
def test_workers_of_a_build_share_each_host_budget_and_its_pauses(ray_local, host_factory):
    """Two downloaders in separate worker processes, each with its share of the build's budget
    (as the image workers get it): together never more than per_host_concurrency requests in flight
    on the host; a 429 one of them sees pauses the host for the other through the board."""
    from ilid_ray import records
    from ilid_ray.dataset.download import download_rows

    host = host_factory(statuses={"/slow/limit.jpg": lambda n: (429, {"Retry-After": "30"})})
    cfg = DownloadConfig(threads=6, timeout_s=5.0, retries=0, image_size=32, concurrency=2,
                         per_host_concurrency=2, per_host_rate=0, host_wait_s=2.0)
    network = NetworkConfig(allow_private=["127.0.0.1/32"])
    board = start_gate()

    def rows(tag: str, paths: list[str]) -> list[dict]:
        return [records.raw_row(f"https://shop.example/p/{tag}-{i}", "s", "l", ["d"], [f"{host.base}{p}"], "t")
                for i, p in enumerate(paths)]

    @ray_local.remote
    def download(batch, **kwargs):
        from ilid_ray.dataset.download import Downloader

        downloader = Downloader(cfg, network, gate=board, share=2, **kwargs)
        try:
            return downloader(batch)
        finally:
            downloader.close()

    batches = [rows(str(t), [f"/slow/{t}-{i}.jpg" for i in range(12)]) for t in range(2)]
    done = ray_local.get([download.remote(batch) for batch in batches], timeout=120)
    assert all(r["status"] == records.OK for batch in done for r in batch)
    assert 1 <= host.max_in_flight <= 2

    ray_local.get(download.remote(rows("limit", ["/slow/limit.jpg"])), timeout=60)  # answered 429
    assert host.base.split("//")[1] in ray_local.get(board.paused.remote(), timeout=30)
    limited = max(when for path, status, when in host.answered if status == 429)
    later = ray_local.get(download.remote(rows("after", ["/slow/after.jpg"])), timeout=60)[0]
    assert later["status"] == records.OK
    asked = host.arrivals[host.paths.index("/slow/after.jpg")]
    assert asked - limited >= 1.5  # a fresh downloader waited out the pause (Retry-After capped at host_wait_s)
    ray_local.kill(board)
