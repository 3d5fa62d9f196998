"""The per-host politeness policy (pure, time passed in) and the gate actor a build shares."""

from __future__ import annotations

import time

import pytest

from ilid_ray.config import DownloadConfig, NetworkConfig
from ilid_ray.dataset.hostgate import POLL_S, GateClient, HostBusy, HostSlots, start_gate


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


@pytest.mark.slow
def test_one_gate_actor_is_shared_by_all_download_tasks(ray_local, host_factory):
    """Two download tasks (separate worker processes) given the build's one gate: together never
    more than per_host_concurrency requests in flight on the host."""
    from ilid_ray import records
    from ilid_ray.dataset.download import download_rows

    host = host_factory()
    cfg = DownloadConfig(threads=6, timeout_s=5.0, retries=0, image_size=32, per_host_concurrency=2,
                         per_host_rate=0)
    network = NetworkConfig(allow_private=["127.0.0.1/32"])
    gate = start_gate(cfg)
    task = ray_local.remote(download_rows)
    batches = [[records.raw_row(f"https://shop.example/p/{t}-{i}", "s", "l", ["d"],
                                [f"{host.base}/slow/{t}-{i}.jpg"], "t") for i in range(12)] for t in range(2)]
    done = ray_local.get([task.remote(rows, cfg, network, gate=gate) for rows in batches], timeout=120)
    assert all(r["status"] == records.OK for rows in done for r in rows)
    assert 1 <= host.max_in_flight <= 2
    for _ in range(100):  # releases are fire-and-forget: give the last ones a moment to land
        if ray_local.get(gate.hosts.remote(), timeout=30) == 0:
            break
        time.sleep(0.05)
    assert ray_local.get(gate.hosts.remote(), timeout=30) == 0  # every slot was given back
    ray_local.kill(gate)
