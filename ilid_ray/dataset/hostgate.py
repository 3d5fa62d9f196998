"""Politeness for image hosts: at most `download.per_host_concurrency` fetches in flight and
`download.per_host_rate` fetch starts per second per host, and a host that answers 429 (or 503
with Retry-After) gets no request until its Retry-After has passed.

`HostSlots` is the pure policy (time is an argument, so it tests without sleeping). In a build one
`HostGate` actor (a Ray actor over HostSlots) is shared by every download task, so the limits hold
for the whole build, not per task; without Ray a Downloader keeps a local HostSlots. `GateClient`
is the fetch side: it asks for a slot, sleeps the time the policy says, and gives up with
"host busy" after `download.host_wait_s` (every wait has a deadline).
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
                now: float | None = None) -> None:
        """Free a slot; a 429, or a 503 with Retry-After, pauses the host for everyone."""
        now = time.monotonic() if now is None else now
        state = self._hosts.setdefault(host, _Host())
        state.active = max(0, state.active - 1)
        if status == 429 or (status == 503 and retry_after is not None):
            pause = DEFAULT_429_S if retry_after is None else retry_after
            state.blocked_until = max(state.blocked_until, now + min(pause, self.max_retry_after_s))
        if state.active == 0 and state.blocked_until <= now and state.next_start <= now:
            del self._hosts[host]  # idle: forget it (bounded memory over many hosts)

    def hosts(self) -> int:
        return len(self._hosts)


def start_gate(cfg) -> Any:
    """The build's shared HostGate actor for a DownloadConfig (needs Ray)."""
    import ray

    actor = ray.remote(HostSlots).options(num_cpus=0, max_concurrency=1)
    return actor.remote(cfg.per_host_concurrency, cfg.per_host_rate, cfg.host_wait_s)


@dataclass
class Outcome:
    """What the fetch that held a slot saw (set by the fetcher, read on release)."""

    status: int | None = None
    retry_after: float | None = None


class HostBusy(Exception):
    """No slot of the host came free within the wait deadline."""


class GateClient:
    """The fetch side of a gate: a local HostSlots (thread-safe here) or a HostGate actor handle."""

    def __init__(self, backend: HostSlots | Any, max_wait_s: float):
        self.backend, self.max_wait_s = backend, max_wait_s
        self._local = isinstance(backend, HostSlots)
        self._lock = threading.Lock()

    def _try(self, host: str) -> float:
        if self._local:
            with self._lock:
                return self.backend.try_acquire(host)
        import ray

        return ray.get(self.backend.try_acquire.remote(host), timeout=GATE_CALL_S)

    def _release(self, host: str, outcome: Outcome) -> None:
        if self._local:
            with self._lock:
                self.backend.release(host, outcome.status, outcome.retry_after)
        else:  # fire and forget: actor calls from one caller run in order
            self.backend.release.remote(host, outcome.status, outcome.retry_after)

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
