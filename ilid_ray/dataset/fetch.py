"""A guarded HTTP client for image URLs taken from crawled pages (untrusted input).

Every connection resolves its host itself, checks EVERY resolved address with the network policy
(`ilid_ray.net.forbidden_reason`) and then connects to one of exactly those checked addresses, so a
DNS answer that changes between the check and the connect (DNS rebinding) cannot reach a private
host. TLS still verifies and sends SNI for the hostname. Redirects are followed by hand, one hop
at a time through the same guarded connections. Bodies are streamed under a byte cap and a
wall-clock deadline, so neither a huge nor a trickling response can hold a worker.

Failures raise `FetchError` whose `reason` is short and human ("http 404", "not an image:
text/html", "blocked: 127.0.0.2 is loopback"); they become the reject reason of the row.

Only http(s) is fetched ("unsupported scheme: ftp", also for a redirect hop). Given a catalog's
`opt_outs`, a fetch also honours the publisher: the robots.txt and TDMRep tdmrep.json of each hop's
origin (origin_rules.py), then the `X-Robots-Tag` / `tdm-reservation` headers of the answer,
checked before any of its body is read (each its own "opt-out: ..." reason). Each attempt holds a
slot of the URL's host from the host gate (hostgate.py): this client's share of the per-host
concurrency and rate, and a 429's Retry-After pauses the host for every worker of the build.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError, DecodeError, HTTPError, LocationParseError, LocationValueError,
    NameResolutionError, NewConnectionError, ProtocolError, ReadTimeoutError, SSLError,
)
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from ilid_ray.config import DownloadConfig, NetworkConfig, OptOutSwitches
from ilid_ray.dataset.hostgate import GateClient, HostBusy, share_of
from ilid_ray.dataset.origin_rules import OriginRuleCache
from ilid_ray.net import forbidden_reason, scheme_reason
from ilid_ray.optouts import agent_token, header_reason

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
SMALL_BODY = 64 * 1024  # error/redirect bodies up to this size are drained to keep the connection
CHUNK = 64 * 1024
RULES_BYTES = 512 * 1024  # robots.txt / tdmrep.json read at most this much (RFC 9309 asks >= 500 KiB)


class FetchError(Exception):
    """A URL gave no image. `retryable` marks transient failures (timeouts, 5xx, 429)."""

    def __init__(self, reason: str, retryable: bool = False, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    @property
    def reason(self) -> str:
        return str(self)


class BlockedAddress(FetchError):
    """The host resolved to an address the network policy forbids."""


@dataclass(frozen=True)
class Fetched:
    url: str  # the URL that finally answered (after redirects)
    data: bytes
    content_type: str


# --------------------------------------------------------------------------- guarded connections


class _GuardedConnectionMixin:
    """Replaces urllib3's resolve-and-connect with resolve, check all, connect to a checked address."""

    allow: tuple[str, ...] = ()  # CIDRs the operator allowed (bound per client by a subclass)

    def _new_conn(self) -> socket.socket:
        deadline = getattr(_attempt, "deadline", None)
        if deadline is not None and deadline.expired:
            raise ConnectTimeoutError(self, "fetch deadline passed")
        host = self._dns_host.strip("[]")
        try:
            infos = socket.getaddrinfo(host, self.port, allowed_gai_family(), socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        for *_, sockaddr in infos:
            reason = forbidden_reason(sockaddr[0], self.allow)
            if reason:
                raise BlockedAddress(f"blocked: {sockaddr[0]} is {reason}")
        error: OSError | None = None
        for family, socktype, proto, _, sockaddr in infos:
            sock = socket.socket(family, socktype, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, f"connect to {self.host} timed out") from error
        raise NewConnectionError(self, f"failed to connect to {self.host}: {error}") from error


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


# --------------------------------------------------------------------------- wall-clock deadline

_attempt = threading.local()


class Deadline:
    """Aborts one fetch attempt's connections when its wall-clock budget is spent.

    Socket timeouts bound each read, not the whole response: a server that trickles one byte at a
    time (in the headers or the body) never trips them. This timer shuts the attempt's sockets
    down from outside, which wakes the blocked read; the attempt then fails with "timeout".
    """

    def __init__(self, seconds: float):
        self.expired = False
        self._connections: list = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        _attempt.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        _attempt.deadline = None

    def watch(self, connection) -> None:
        with self._lock:
            self._connections.append(connection)
            if self.expired:
                _shutdown(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for connection in self._connections:
                _shutdown(connection)


def _shutdown(connection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:  # the plain-socket shutdown also works under TLS and keeps the SSL object
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedPoolMixin:
    """Hands every connection the current attempt uses to that attempt's Deadline."""

    def _get_conn(self, timeout: float | None = None):
        connection = super()._get_conn(timeout)
        deadline = getattr(_attempt, "deadline", None)
        if deadline is not None:
            deadline.watch(connection)
        return connection


def guarded_pool_manager(allow: list[str] | tuple[str, ...], maxsize: int = 16, num_pools: int = 64,
                         ca_certs: str | None = None) -> urllib3.PoolManager:
    """A PoolManager whose HTTP and HTTPS connections enforce the address policy with `allow`
    (`ca_certs`: a CA bundle to trust instead of the system's, e.g. a private CA)."""
    allow = tuple(allow)
    http_conn = type("GuardedHTTPConnection", (GuardedHTTPConnection,), {"allow": allow})
    https_conn = type("GuardedHTTPSConnection", (GuardedHTTPSConnection,), {"allow": allow})
    http_pool = type("GuardedHTTPConnectionPool", (_WatchedPoolMixin, HTTPConnectionPool),
                     {"ConnectionCls": http_conn})
    https_pool = type("GuardedHTTPSConnectionPool", (_WatchedPoolMixin, HTTPSConnectionPool),
                      {"ConnectionCls": https_conn})
    extra = {"ca_certs": ca_certs} if ca_certs else {}
    manager = urllib3.PoolManager(num_pools=num_pools, maxsize=maxsize, block=False, **extra)
    manager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}
    return manager


# --------------------------------------------------------------------------- client


def megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB"


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _discard(resp: urllib3.BaseHTTPResponse) -> None:
    """Give the connection back: drain a small body, close the socket of a large/unknown one."""
    length = resp.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= SMALL_BODY:
        resp.drain_conn()
    else:
        resp.close()
    resp.release_conn()


def _translate(exc: Exception, url: str) -> FetchError:
    """urllib3's exceptions -> a FetchError with a short reason and the right retry decision."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, NameResolutionError):
        return FetchError(f"dns: cannot resolve {urlsplit(url).hostname}")
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError, TimeoutError)):
        return FetchError("timeout", retryable=True)
    if isinstance(exc, SSLError):
        return FetchError(f"tls: {exc}")
    if isinstance(exc, NewConnectionError):
        return FetchError("connection failed", retryable=True)
    if isinstance(exc, ProtocolError):
        return FetchError("connection broken", retryable=True)
    if isinstance(exc, DecodeError):
        return FetchError("bad content encoding")
    if isinstance(exc, (LocationParseError, LocationValueError)):
        return FetchError("bad url")
    if isinstance(exc, (HTTPError, OSError)):
        return FetchError(f"http error: {type(exc).__name__}", retryable=True)
    raise exc


class GuardedClient:
    """Fetches image URLs with the download config's limits; thread-safe, one per worker."""

    def __init__(self, cfg: DownloadConfig, network: NetworkConfig, ca_certs: str | None = None, gate=None,
                 share: int = 1):
        """`gate`: the build's PauseBoard actor (429 pauses shared by all workers), or None;
        `share`: how many workers split each host's budget (this client keeps 1/share of it)."""
        self.cfg = cfg
        self.agent = agent_token(network.user_agent)
        self.headers = {"User-Agent": network.user_agent, "Accept": "image/*"}
        self.timeout = urllib3.Timeout(connect=cfg.timeout_s, read=cfg.timeout_s)
        self.pool = guarded_pool_manager(network.allow_private, maxsize=max(1, cfg.threads), ca_certs=ca_certs)
        self.gate = GateClient(share_of(cfg, share), cfg.host_wait_s, board=gate)
        self.origins = OriginRuleCache(self._get_rules_file, self.agent, FetchError, BlockedAddress)

    def close(self) -> None:
        self.pool.clear()

    def fetch(self, url: str, opt_outs: OptOutSwitches | None = None) -> Fetched:
        """GET an image, retrying transient failures with exponential backoff and jitter.
        `opt_outs`: the publisher opt-outs to honour (None: none, a bare fetch)."""
        reason = scheme_reason(url)
        if reason:
            raise FetchError(reason)
        attempt = 0
        while True:
            try:
                return self._gated_once(url, opt_outs)
            except FetchError as exc:
                if not exc.retryable or attempt >= self.cfg.retries:
                    raise
                time.sleep(self._backoff(attempt, exc.retry_after))
                attempt += 1

    def _gated_once(self, url: str, opt_outs: OptOutSwitches | None) -> Fetched:
        """One attempt inside a slot of the URL's host; a 429 seen here pauses the host."""
        try:
            with self.gate.slot(urlsplit(url).netloc.lower()) as outcome:
                try:
                    return self._fetch_once(url, opt_outs)
                except FetchError as exc:
                    outcome.status, outcome.retry_after = exc.status, exc.retry_after
                    raise
        except HostBusy as exc:
            raise FetchError(str(exc)) from exc

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = self.cfg.backoff_s * (2 ** attempt) * random.uniform(0.5, 1.5)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cfg.timeout_s))
        return delay

    def _fetch_once(self, url: str, opt_outs: OptOutSwitches | None = None) -> Fetched:
        with Deadline(self.cfg.deadline_s) as deadline:
            try:
                return self._follow(url, lambda resp, final: self._accept(resp, final, opt_outs), opt_outs)
            except FetchError as exc:
                if deadline.expired:
                    raise FetchError("timeout", retryable=True) from exc
                raise

    def _get_rules_file(self, url: str) -> tuple[int, bytes]:
        """(status, first RULES_BYTES of the body) of a robots.txt / tdmrep.json, redirects followed
        (runs inside the image attempt's deadline and host slot)."""
        def small(resp, _url):
            try:
                body = resp.read(RULES_BYTES, decode_content=True) if resp.status == 200 else b""
            except Exception as exc:  # noqa: BLE001
                raise _translate(exc, _url) from exc
            finally:
                _discard(resp)
            return resp.status, body
        return self._follow(url, small)

    def _follow(self, url: str, accept, opt_outs: OptOutSwitches | None = None):
        """One GET with redirects followed by hand, each hop through the guarded connections;
        `accept(response, url)` reads the final answer. With `opt_outs`, each hop's origin rules
        (robots.txt, tdmrep.json) are checked before it is requested."""
        seen = {url}
        current = url
        for _ in range(self.cfg.max_redirects + 1):
            reason = scheme_reason(current)
            if reason is None and opt_outs is not None:
                reason = self.origins.reason(current, opt_outs.image_robots_txt, opt_outs.tdmrep)
            if reason:
                raise FetchError(reason)
            try:
                resp = self.pool.request("GET", current, headers=self.headers, redirect=False,
                                         retries=False, preload_content=False, timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 - translated or re-raised
                raise _translate(exc, current) from exc
            if resp.status in REDIRECT_STATUSES:
                location = resp.headers.get("Location")
                _discard(resp)
                if not location:
                    raise FetchError(f"http {resp.status} without location")
                current = urljoin(current, location.strip())
                if current in seen:
                    raise FetchError("redirect loop")
                seen.add(current)
                continue
            return accept(resp, current)
        raise FetchError(f"too many redirects: > {self.cfg.max_redirects}")

    def _accept(self, resp: urllib3.BaseHTTPResponse, url: str, opt_outs: OptOutSwitches | None = None) -> Fetched:
        """Status, opt-out headers, content type and size checks, then the capped body read."""
        if resp.status != 200:
            _discard(resp)
            transient = resp.status == 429 or resp.status >= 500
            raise FetchError(f"http {resp.status}", retryable=transient,
                             retry_after=_retry_after(resp.headers.get("Retry-After")), status=resp.status)
        if opt_outs is not None:
            reason = header_reason(resp.headers.getlist, self.agent, opt_outs.x_robots_tag, opt_outs.tdmrep)
            if reason:
                _discard(resp)
                raise FetchError(reason)
        content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not content_type.startswith("image/"):
            _discard(resp)
            raise FetchError(f"not an image: {content_type or 'no content type'}")
        cap = self.cfg.max_bytes
        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > cap:
            _discard(resp)
            raise FetchError(f"too large: > {megabytes(cap)}")
        body = bytearray()
        try:
            for chunk in resp.stream(CHUNK, decode_content=True):
                body += chunk
                if len(body) > cap:
                    raise FetchError(f"too large: > {megabytes(cap)}")
        except FetchError:
            _discard(resp)
            raise
        except Exception as exc:  # noqa: BLE001
            _discard(resp)
            raise _translate(exc, url) from exc
        resp.release_conn()
        return Fetched(url=url, data=bytes(body), content_type=content_type)
