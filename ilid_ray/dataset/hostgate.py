"""Politeness for image hosts: at most `download.per_host_concurrency` fetches in flight and
`download.per_host_rate` fetch starts per second per host, and a host that answers 429 (or 503
with Retry-After) gets no request until its Retry-After has passed.

`HostSlots` is the pure policy (time is an argument, so it tests without sleeping). A build's
image workers split each host's budget: each holds a local HostSlots with its share (`share`), so
the limits hold for the whole build without a remote call per image (a Ray actor call cost the
fetch threads more CPU than the HTTP request itself). What one worker learns from a 429 it posts to
the build's `PauseBoard` actor; every worker reads the board at most once per `SYNC_S` while it
fetches, so the whole build leaves a paused host alone. `GateClient` is the fetch side: it asks
for a slot, sleeps the time the policy says, and gives up with "host busy" after
`download.host_wait_s` (every wait has a deadline).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

POLL_S = 0.05  # how soon to ask again when every slot of a host is taken
DEFAULT_429_S = 1.0  # a 429 without a usable Retry-After still pauses the host this long
GATE_CALL_S = 30.0  # deadline of one call to the gate actor


@dataclass
class _Host:
    active: int = 0
    next_start: float = 0.0
    blocked_until: float = 0.0


class HostSlots:
    """Per-host slots: `try_acquire` -> 0.0 (slot taken) or seconds to wait; `release` frees it."""

    def __init__(self, concurrency: int, rate: float = 0.0, max_retry_after_s: float = 300.0):
        self.concurrency = max(1, concurrency)
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.max_retry_after_s = max_retry_after_s
        self._hosts: dict[str, _Host] = {}

    def try_acquire(self, host: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        state = self._hosts.setdefault(host, _Host())
        wait = max(state.blocked_until - now, state.next_start - now)
        if wait > 0:
            return wait
        if state.active >= self.concurrency:
            return POLL_S
        state.active += 1
        state.next_start = now + self.interval
        return 0.0

    def release(self, host: str, status: int | None = None, retry_after: float | None = None,
                now: float | None = None) -> float:
        """Free a slot; a 429, or a 503 with Retry-After, pauses the host. Returns the seconds of
        that pause (0: none)."""
        now = time.monotonic() if now is None else now
        state = self._hosts.setdefault(host, _Host())
        state.active = max(0, state.active - 1)
        paused = 0.0
        if status == 429 or (status == 503 and retry_after is not None):
            paused = min(DEFAULT_429_S if retry_after is None else retry_after, self.max_retry_after_s)
            state.blocked_until = max(state.blocked_until, now + paused)
        if state.active == 0 and state.blocked_until <= now and state.next_start <= now:
            del self._hosts[host]  # idle: forget it (bounded memory over many hosts)
        return paused

    def pause(self, host: str, until: float) -> None:
        """No new start on `host` before `until` (monotonic seconds; capped like a Retry-After)."""
        state = self._hosts.setdefault(host, _Host())
        state.blocked_until = max(state.blocked_until, min(until, time.monotonic() + self.max_retry_after_s))

    def hosts(self) -> int:
        return len(self._hosts)


class PauseBoard:
    """Hosts paused by a 429 anywhere in the build: host -> until (wall-clock epoch seconds, so the
    time means the same on every node)."""

    def __init__(self):
        self._until: dict[str, float] = {}

    def pause(self, host: str, until: float) -> None:
        self._until[host] = max(until, self._until.get(host, 0.0))

    def paused(self) -> dict[str, float]:
        now = time.time()
        self._until = {h: t for h, t in self._until.items() if t > now}
        return dict(self._until)


def start_gate(**actor_options) -> Any:
    """The build's shared PauseBoard actor (needs Ray); `actor_options` e.g. place it."""
    import ray

    return ray.remote(PauseBoard).options(num_cpus=0, max_concurrency=1, **actor_options).remote()


def share_of(cfg, workers: int) -> HostSlots:
    """One of `workers` equal shares of each host's budget (concurrency floored, at least 1)."""
    rate = cfg.per_host_rate / workers if cfg.per_host_rate > 0 else 0.0
    return HostSlots(max(1, cfg.per_host_concurrency // workers), rate, cfg.host_wait_s)


@dataclass
class Outcome:
    """What the fetch that held a slot saw (set by the fetcher, read on release)."""

    status: int | None = None
    retry_after: float | None = None


class HostBusy(Exception):
    """No slot of the host came free within the wait deadline."""


SYNC_S = 1.0  # how often a fetching worker reads the build's pause board


class GateClient:
    """The fetch side of a gate: this worker's HostSlots (thread-safe here), plus the build's
    PauseBoard actor (optional) to share and learn 429 pauses."""

    def __init__(self, slots: HostSlots, max_wait_s: float, board: Any = None):
        self.slots, self.max_wait_s, self.board = slots, max_wait_s, board
        self._lock = threading.Lock()
        self._synced = 0.0  # monotonic time of the last read of the board

    def _sync(self) -> None:
        """Apply the board's pauses (at most once per SYNC_S; a board that does not answer in time
        is skipped: local politeness still holds)."""
        import ray

        with self._lock:
            if time.monotonic() - self._synced < SYNC_S:
                return
            self._synced = time.monotonic()
        try:
            paused = ray.get(self.board.paused.remote(), timeout=GATE_CALL_S)
        except Exception:  # noqa: BLE001 - a missing board must not stop the downloads
            return
        now, wall = time.monotonic(), time.time()
        with self._lock:
            for host, until in paused.items():
                self.slots.pause(host, now + (until - wall))

    def _try(self, host: str) -> float:
        if self.board is not None:
            self._sync()
        with self._lock:
            return self.slots.try_acquire(host)

    def _release(self, host: str, outcome: Outcome) -> None:
        with self._lock:
            paused = self.slots.release(host, outcome.status, outcome.retry_after)
        if paused and self.board is not None:  # tell the other workers (fire and forget)
            self.board.pause.remote(host, time.time() + paused)

    @contextmanager
    def slot(self, host: str) -> Iterator[Outcome]:
        deadline = time.monotonic() + self.max_wait_s
        while (wait := self._try(host)) > 0:
            if time.monotonic() + wait > deadline:
                raise HostBusy(f"host busy: no slot for {host} within {self.max_wait_s:g}s")
            time.sleep(wait)
        outcome = Outcome()
        try:
            yield outcome
        finally:
            self._release(host, outcome)
