"""Keep the crawler away from private, loopback, link-local and metadata addresses.

Two layers, both driven by `NetworkConfig.allow_private` (the Scrapy setting ILID_ALLOW_PRIVATE):

* `AddressGuardMiddleware` (first downloader middleware) resolves each request's host once and
  refuses it with `BlockedRequest` (an IgnoreRequest, so it reaches the request's errback and a
  product page becomes a reject "blocked: private address 10.0.0.7").
* `GuardedResolver` (Scrapy's TWISTED_DNS_RESOLVER) checks the address again when the connection
  is made, so a DNS answer that changes after the middleware's check (DNS rebinding) still cannot
  reach a forbidden address. IP-literal hosts never reach a resolver; the middleware covers them.
"""

from __future__ import annotations

import ipaddress
import logging

from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.threads import deferToThread

from ilid_ray.net import ForbiddenAddress, UnresolvableHost, check_host, forbidden_reason

log = logging.getLogger(__name__)
ALLOW_SETTING = "ILID_ALLOW_PRIVATE"


class BlockedRequest(IgnoreRequest):
    """The request's host resolves to a forbidden address; the message is the reject reason."""


def host_verdict(host: str, allow: tuple[str, ...]) -> str | None:
    """"blocked: ..." if the host must not be fetched, else None. Raises UnresolvableHost."""
    try:
        check_host(host, allow)
    except ForbiddenAddress as exc:
        return str(exc)
    return None


class AddressGuardMiddleware:
    def __init__(self, allow: tuple[str, ...], stats=None):
        self.allow = allow
        self.stats = stats
        self._verdicts: dict[str, str | None] = {}

    @classmethod
    def from_crawler(cls, crawler) -> AddressGuardMiddleware:
        return cls(tuple(crawler.settings.getlist(ALLOW_SETTING)), crawler.stats)

    async def process_request(self, request, spider=None) -> None:
        host = urlparse_cached(request).hostname
        if not host or urlparse_cached(request).scheme not in ("http", "https"):
            return None
        if host not in self._verdicts:
            try:
                self._verdicts[host] = await maybe_deferred_to_future(
                    deferToThread(host_verdict, host, self.allow))
            except UnresolvableHost:
                return None  # the download itself then fails with Scrapy's DNS error
        verdict = self._verdicts[host]
        if verdict:
            log.warning("refused %s: %s", request.url, verdict)
            if self.stats is not None:
                self.stats.inc_value("ilid/address_guard/refused")
            raise BlockedRequest(verdict)
        return None


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver that fails resolutions landing on a forbidden address."""

    def __init__(self, reactor, cache_size: int, timeout: float, allow: tuple[str, ...] = ()):
        super().__init__(reactor, cache_size, timeout)
        self.allow = tuple(allow)

    @classmethod
    def from_crawler(cls, crawler, reactor) -> GuardedResolver:
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, cache_size, settings.getfloat("DNS_TIMEOUT"),
                   tuple(settings.getlist(ALLOW_SETTING)))

    def getHostByName(self, name: str, timeout=()):  # noqa: N802 - Twisted's interface
        deferred = super().getHostByName(name, timeout)
        deferred.addCallback(self._check, name)
        return deferred

    def _check(self, address: str, name: str) -> str:
        kind = forbidden_reason(address, self.allow)
        if kind:
            log.warning("refused connection to %s: %s address %s", name, kind, address)
            raise ForbiddenAddress(name, ipaddress.ip_address(address), kind)
        return address
