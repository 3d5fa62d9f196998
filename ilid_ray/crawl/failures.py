"""Short, human reject reasons for failed requests ("http 404", "redirect loop", ...)."""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError, DownloadCancelledError, DownloadConnectionRefusedError,
    DownloadTimeoutError, IgnoreRequest, ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as twisted_errors

from ilid_ray.crawl.guard import BlockedRequest
from ilid_ray.net import ForbiddenAddress

TIMEOUTS = (DownloadTimeoutError, twisted_errors.TimeoutError, twisted_errors.TCPTimedOutError, TimeoutError)
DNS_ERRORS = (CannotResolveHostError, twisted_errors.DNSLookupError)
REFUSED = (DownloadConnectionRefusedError, twisted_errors.ConnectionRefusedError, ConnectionRefusedError)


def _cause(exc: BaseException | None, kind: type) -> BaseException | None:
    """`exc` or the first exception of type `kind` in its cause/context chain."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _redirect_reason(request) -> str:
    hops = [*request.meta.get("redirect_urls", []), request.url]
    if len(set(hops)) < len(hops):
        return "redirect loop"
    return f"too many redirects ({len(hops) - 1})"


def failure_reason(failure) -> str:
    """The reject reason for a Twisted Failure handed to an errback."""
    exc = failure.value
    if isinstance(exc, HttpError):
        return f"http {exc.response.status}"
    if isinstance(exc, BlockedRequest):
        return str(exc)
    forbidden = _cause(exc, ForbiddenAddress)
    if forbidden is not None:
        return str(forbidden)
    if isinstance(exc, IgnoreRequest):
        message = str(exc)
        if "robots.txt" in message:
            return "robots.txt disallow"
        if "max redirections" in message:
            return _redirect_reason(failure.request)
        return f"ignored: {message}"
    if isinstance(exc, TIMEOUTS):
        return "timeout"
    if isinstance(exc, DNS_ERRORS):
        return "dns lookup failed"
    if isinstance(exc, REFUSED):
        return "connection refused"
    if isinstance(exc, ResponseDataLossError):
        return "incomplete response"
    if isinstance(exc, DownloadCancelledError):
        return f"download cancelled: {exc}"
    return f"{type(exc).__name__}: {exc}".rstrip(": ")
