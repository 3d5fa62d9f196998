"""Reject reasons for failed requests, and the connect-time address check of the resolver."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import textwrap

from scrapy import Request
from scrapy.exceptions import DownloadTimeoutError, IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import DNSLookupError
from twisted.python.failure import Failure

from ilid_ray.crawl.failures import failure_reason
from ilid_ray.crawl.guard import BlockedRequest
from ilid_ray.net import ForbiddenAddress

URL = "http://shop.example.com/p/1.html"


def failed(exc: Exception, request: Request | None = None) -> Failure:
    failure = Failure(exc)
    failure.request = request or Request(URL)
    return failure


def test_reasons():
    response = Response(URL, status=404, request=Request(URL))
    assert failure_reason(failed(HttpError(response, "Ignoring non-200 response"))) == "http 404"
    assert failure_reason(failed(IgnoreRequest("Forbidden by robots.txt"))) == "robots.txt disallow"
    assert failure_reason(failed(BlockedRequest("blocked: private address 10.0.0.1 (intranet)"))) == \
        "blocked: private address 10.0.0.1 (intranet)"
    assert failure_reason(failed(DownloadTimeoutError("took too long"))) == "timeout"
    assert failure_reason(failed(DNSLookupError("no such host"))) == "dns lookup failed"
    wrapped = RuntimeError("connection failed")
    wrapped.__cause__ = ForbiddenAddress("rebound.example.com", ipaddress.ip_address("10.9.8.7"), "private")
    assert failure_reason(failed(wrapped)) == "blocked: private address 10.9.8.7 (rebound.example.com)"


def test_redirect_loop_is_told_apart_from_a_long_chain():
    looping = Request(f"{URL}?loop=1", meta={"redirect_urls": [URL, f"{URL}?loop=1", URL, f"{URL}?loop=1", URL]})
    assert failure_reason(failed(IgnoreRequest("max redirections reached"), looping)) == "redirect loop"
    chain = Request(f"{URL}?hop=5", meta={"redirect_urls": [f"{URL}?hop={i}" for i in range(5)]})
    assert failure_reason(failed(IgnoreRequest("max redirections reached"), chain)) == "too many redirects (5)"


def test_resolver_refuses_names_that_resolve_to_forbidden_addresses():
    """The DNS-rebinding layer: resolution itself fails for a forbidden address (fresh process:
    it runs a Twisted reactor)."""
    script = textwrap.dedent("""
        from twisted.internet import reactor
        from ilid_ray.crawl.guard import GuardedResolver
        results = []
        def resolve(resolver, name):
            d = resolver.getHostByName(name)
            d.addCallbacks(results.append, lambda f: results.append(type(f.value).__name__ + ": " + str(f.value)))
            return d
        strict, allowing = GuardedResolver(reactor, 0, 5.0), GuardedResolver(reactor, 0, 5.0, ("127.0.0.0/8",))
        d = resolve(strict, "localhost")
        d.addBoth(lambda _: resolve(allowing, "localhost"))
        d.addBoth(lambda _: reactor.stop())
        reactor.run()
        print(results)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['ForbiddenAddress: blocked: loopback address 127.0.0.1 (localhost)', '127.0.0.1']"
