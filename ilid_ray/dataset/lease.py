"""One writer per dataset root: a lease with expiry and heartbeat, taken by an atomic create.

The lease lives in numbered generations, `lease/000007.json`. Whoever creates generation N+1 (an
atomic create: `O_EXCL`-style locally, `If-None-Match: *` on S3) holds the root; N+1 may only be
created once N is released, expired, or held by a process of this machine that no longer runs (a
SIGKILLed build frees its root at once). The holder renews its expiry every quarter of the TTL and
checks, before it commits, that no later generation exists and that its lease has not run out.
Two builds started at once: exactly one creates the next generation; the other waits or fails
with a message naming the holder. A store that ignores conditional writes is refused unless forced.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ilid_ray.storage import Store

PREFIX = "lease"
DEFAULT_TTL_S = 60.0


class LeaseHeld(RuntimeError):
    """Another writer holds the root."""


class LeaseLost(RuntimeError):
    """This writer's lease ran out or was taken over; it must not commit."""


class LeaseUnsupported(RuntimeError):
    """The store cannot create objects atomically, so it cannot be leased safely."""


def _rel(generation: int) -> str:
    return f"{PREFIX}/{generation:06d}.json"


def _generations(store: Store) -> list[int]:
    names = (rel.rsplit("/", 1)[-1] for rel in store.list(PREFIX))
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


def _process_started(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _free(record: dict, now: float) -> str | None:
    """Why a lease record no longer binds anyone (released / expired / holder gone), or None."""
    if record.get("released"):
        return "released"
    if now >= record.get("expires_at", 0):
        return "expired"
    if record.get("host") == socket.gethostname() and _process_started(record["pid"]) != record.get("pid_started"):
        return "its process is gone"
    return None


def describe(record: dict, now: float) -> str:
    return (f"build {record.get('build') or '?'} (pid {record.get('pid')} on {record.get('host')}, since "
            f"{record.get('acquired_at')}, lease expires in {max(0, record.get('expires_at', 0) - now):.0f} s)")


@dataclass
class WriterLease:
    """A held lease; `check()` before committing, `release()` (or leave the `with`) when done."""

    store: Store
    generation: int
    record: dict
    ttl_s: float
    lost: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def acquire(cls, store: Store, *, what: str = "", wait_s: float = 0.0, ttl_s: float = DEFAULT_TTL_S,
                force: bool = False, poll_s: float = 1.0) -> WriterLease:
        forced = not store.honours_conditional_create()
        if forced and not force:
            raise LeaseUnsupported(
                f"{store.root}: this S3 store ignores conditional writes (If-None-Match: *), so it cannot "
                "guarantee a single writer; make sure no other build writes this root, then pass --force")
        deadline = time.time() + wait_s
        while True:
            generations = _generations(store)
            current = generations[-1] if generations else 0
            holder = _read(store, current) if current else None
            now = time.time()
            if holder is None or _free(holder, now):
                lease = cls._try_create(store, current + 1, what, ttl_s, forced)
                if lease is not None:
                    return lease
                continue  # another writer created that generation first: look again
            if now >= deadline:
                raise LeaseHeld(f"{store.root} is being written by {describe(holder, now)}; wait for it to "
                                "finish (ilid build --wait SECONDS), or rerun once its lease has expired")
            time.sleep(min(poll_s, max(0.0, deadline - now)))

    @classmethod
    def _try_create(cls, store: Store, generation: int, what: str, ttl_s: float, forced: bool):
        now = time.time()
        pid = os.getpid()
        record = {"generation": generation, "owner": uuid.uuid4().hex, "build": what,
                  "host": socket.gethostname(), "pid": pid, "pid_started": _process_started(pid),
                  "acquired_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "expires_at": now + ttl_s, "released": False, "forced": forced}
        if not store.create(json.dumps(record).encode(), _rel(generation)):
            return None
        if forced and (_read(store, generation) or {}).get("owner") != record["owner"]:
            return None  # a store without conditional writes: the last writer won, and it is not us
        lease = cls(store, generation, record, ttl_s)
        for old in _generations(store):
            if old < generation:
                store.delete(_rel(old))
        lease._start_heartbeat()
        return lease

    # ------------------------------------------------------------------ holding
    def _start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="ilid-lease-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            try:
                self._verify()
                self._write(expires_at=time.time() + self.ttl_s)
            except LeaseLost as exc:
                self.lost = str(exc)
                return
            except Exception:  # noqa: BLE001 - a store hiccup: retried at the next beat, checked at commit
                continue

    def _verify(self) -> None:
        if self.lost:
            raise LeaseLost(self.lost)
        newest = _generations(self.store)
        if not newest or newest[-1] != self.generation:
            raise LeaseLost(f"{self.store.root}: another writer took the lease over (generation "
                            f"{newest[-1] if newest else 'none'} after ours, {self.generation})")
        if time.time() >= self.record["expires_at"]:
            raise LeaseLost(f"{self.store.root}: our lease expired before it was renewed")

    def _write(self, **changes) -> None:
        self.record = {**self.record, **changes}
        self.store.put_bytes(json.dumps(self.record).encode(), _rel(self.generation))

    def check(self) -> None:
        """Raise LeaseLost unless this writer still holds the root (call right before committing)."""
        try:
            self._verify()
        except LeaseLost as exc:
            raise LeaseLost(f"{exc}; nothing was committed") from None

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self._verify()
        except LeaseLost:
            return  # someone else holds it now: leave their lease alone
        self._write(released=True, released_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __enter__(self) -> WriterLease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read(store: Store, generation: int) -> dict | None:
    try:
        return json.loads(store.get_bytes(_rel(generation)))
    except FileNotFoundError:
        return None
