"""The writer lease of a dataset root (`ilid_ray.dataset.lease`) on a local folder and on s3rver."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from ilid_ray.dataset.lease import LeaseHeld, LeaseLost, LeaseUnsupported, WriterLease
from ilid_ray.storage import Store


def test_a_second_writer_is_refused_until_the_first_releases(tmp_path):
    store = Store(str(tmp_path))
    first = WriterLease.acquire(store, what="acme")
    with pytest.raises(LeaseHeld, match=r"is being written by build acme \(pid \d+"):
        WriterLease.acquire(store, what="boltz")
    first.release()
    with WriterLease.acquire(store, what="boltz") as second:
        assert second.generation == first.generation + 1
        assert store.list("lease") == ["lease/000002.json"]  # older generations are cleaned up
        second.check()


def test_writers_racing_for_a_free_root_get_exactly_one_lease(tmp_path):
    store = Store(str(tmp_path))
    start, outcomes = threading.Barrier(6), []

    def contend(i):
        start.wait()
        try:
            outcomes.append(WriterLease.acquire(store, what=f"w{i}"))
        except LeaseHeld:
            outcomes.append(None)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = [o for o in outcomes if o is not None]
    assert len(held) == 1 and len(outcomes) == 6
    held[0].release()


def test_a_waiting_writer_gets_the_root_when_the_holder_finishes(tmp_path):
    store = Store(str(tmp_path))
    first = WriterLease.acquire(store, what="first")
    threading.Timer(0.5, first.release).start()
    with WriterLease.acquire(store, what="second", wait_s=30, poll_s=0.1) as second:
        assert second.record["build"] == "second"


def test_the_lease_of_a_killed_process_is_free_at_once(tmp_path):
    store = Store(str(tmp_path))
    code = ("import sys; from ilid_ray.storage import Store; from ilid_ray.dataset.lease import WriterLease;"
            "WriterLease.acquire(Store(sys.argv[1]), what='dead', ttl_s=3600)")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)  # exits without releasing
    with WriterLease.acquire(store, what="next") as lease:
        assert lease.generation == 2


def test_an_expired_holder_may_not_commit(tmp_path):
    store = Store(str(tmp_path))
    stale = WriterLease.acquire(store, what="slow", ttl_s=3600)
    stale._stop.set()  # its heartbeat stops, as in a process frozen for longer than the TTL
    record = json.loads(store.get_bytes("lease/000001.json"))
    store.put_bytes(json.dumps({**record, "expires_at": 0}).encode(), "lease/000001.json")
    with WriterLease.acquire(store, what="new") as new:
        with pytest.raises(LeaseLost, match="another writer took the lease over.*nothing was committed"):
            stale.check()
        stale.release()  # leaves the new holder's lease alone
        new.check()


def test_s3_store_without_conditional_writes_is_refused_unless_forced(s3_server):
    store = Store(s3_server.root("lease-test"))
    assert not store.honours_conditional_create()  # s3rver ignores If-None-Match: *
    with pytest.raises(LeaseUnsupported, match="ignores conditional writes.*--force"):
        WriterLease.acquire(store, what="x")
    with WriterLease.acquire(store, what="x", force=True) as lease:
        assert lease.record["forced"]
        with pytest.raises(LeaseHeld):
            WriterLease.acquire(store, what="y", force=True)
    assert [r for r in store.list("lease") if ".probe-" in r] == []


def test_local_create_is_exclusive(tmp_path):
    store = Store(str(tmp_path))
    assert store.create(b"a", "x/y.json") and not store.create(b"b", "x/y.json")
    assert store.get_bytes("x/y.json") == b"a" and store.list("x") == ["x/y.json"]
