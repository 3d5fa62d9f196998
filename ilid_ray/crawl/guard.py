"""Keep the crawler to http(s) URLs of the catalog's domains, away from private, loopback,
link-local and metadata addresses.

Two layers, the address part driven by `NetworkConfig.allow_private` (the Scrapy setting
ILID_ALLOW_PRIVATE):

* `AddressGuardMiddleware` (first downloader middleware) refuses every request whose scheme is not
  http(s) ("unsupported scheme: ftp") or whose host is outside the spider's `allowed_domains`
  ("offsite: ..."; `dont_filter` does not get around it), then resolves the host once (under the
  DNS timeout) and refuses forbidden addresses. Refusals are `BlockedRequest` (an IgnoreRequest, so
  they reach the request's errback and a product page becomes a reject "blocked: private address
  10.0.0.7"). Scrapy's non-http download handlers are disabled as well (settings.py).
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
from twisted.internet import defer
from twisted.internet.threads import deferToThread

from ilid_ray.net import (ForbiddenAddress, UnresolvableHost, check_host, forbidden_reason, host_in_domains,
                          scheme_reason)

log = logging.getLogger(__name__)
ALLOW_SETTING = "ILID_ALLOW_PRIVATE"


OFFSITE = "offsite: host not in allowed_domains"


class BlockedRequest(IgnoreRequest):
    """The request may not be made (scheme, offsite, forbidden address); the message is the reason."""


def host_verdict(host: str, allow: tuple[str, ...]) -> str | None:
    """"blocked: ..." if the host must not be fetched, else None. Raises UnresolvableHost."""
    try:
        check_host(host, allow)
    except ForbiddenAddress as exc:
        return str(exc)
    return None


def request_verdict(url: str, host: str | None, domains: list[str] | tuple[str, ...]) -> str | None:
    """Why a request may not be made before any lookup (scheme, missing host, offsite), or None."""
    reason = scheme_reason(url)
    if reason:
        return reason
    if not host:
        return "bad url: no host"
    if domains and not host_in_domains(host, domains):
        return OFFSITE
    return None


class AddressGuardMiddleware:
    def __init__(self, allow: tuple[str, ...], stats=None, crawler=None, dns_timeout: float = 20.0):
        self.allow = allow
        self.stats = stats
        self.crawler = crawler
        self.dns_timeout = dns_timeout
        self._verdicts: dict[str, str | None] = {}

    @classmethod
    def from_crawler(cls, crawler) -> AddressGuardMiddleware:
        return cls(tuple(crawler.settings.getlist(ALLOW_SETTING)), crawler.stats, crawler,
                   crawler.settings.getfloat("DNS_TIMEOUT"))

    def _domains(self, spider) -> list[str]:
        spider = spider or getattr(self.crawler, "spider", None)
        return list(getattr(spider, "allowed_domains", None) or ())

    async def process_request(self, request, spider=None) -> None:
        host = urlparse_cached(request).hostname
        verdict = request_verdict(request.url, host, self._domains(spider))
        if verdict is None:
            if host not in self._verdicts:
                from twisted.internet import reactor

                lookup = deferToThread(host_verdict, host, self.allow)
                lookup.addTimeout(self.dns_timeout, reactor)  # every network wait has a deadline
                try:
                    self._verdicts[host] = await maybe_deferred_to_future(lookup)
                except UnresolvableHost:
                    return None  # the download itself then fails with Scrapy's DNS error
                except defer.TimeoutError:
                    raise BlockedRequest("dns lookup timed out") from None
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
