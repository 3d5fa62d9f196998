"""Which network addresses crawled URLs may reach (SSRF policy), shared by the crawler and the
image downloader.

Crawled pages are untrusted: an image URL or a redirect can point at `localhost`, the cloud
metadata service or a machine on the private network. Every fetch therefore resolves the host and
refuses private, loopback, link-local, multicast, reserved, unspecified and metadata addresses,
unless an address lies in an explicitly allowed CIDR (`NetworkConfig.allow_private`; the local
fixture catalog needs `127.0.0.1/32`, production configs leave it empty).

A caller that opens the connection itself should connect to one of the addresses `check_host`
returned (not resolve the name again), so a DNS answer that changes between check and connect
(DNS rebinding) cannot slip a private address through.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Iterable, Union
from urllib.parse import urlsplit

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# Cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba, Oracle).
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192",
))


ALLOWED_SCHEMES = frozenset({"http", "https"})


def scheme_reason(url: str) -> str | None:
    """The reject reason of a URL whose scheme is not http(s) (ftp, file, data, s3, ...), else None.
    Checked before anything else: such a URL is never resolved nor connected to."""
    scheme = urlsplit(url.strip()).scheme.lower()
    return None if scheme in ALLOWED_SCHEMES else f"unsupported scheme: {scheme or 'none'}"


def host_in_domains(host: str, domains: Iterable[str]) -> bool:
    """Scrapy's offsite rule: the host is one of `domains` or a subdomain of one (ports ignored)."""
    host = (host or "").lower().rstrip(".")
    return any(host == d.lower() or host.endswith("." + d.lower()) for d in domains)


class ForbiddenAddress(Exception):
    """The host resolves to an address that crawled URLs must not reach."""

    def __init__(self, host: str, address: IPAddress, kind: str):
        named = "" if host.strip("[]") == str(address) else f" ({host})"
        super().__init__(f"blocked: {kind} address {address}{named}")
        self.host = host
        self.address = address
        self.kind = kind


class UnresolvableHost(OSError):
    """DNS gave no address for the host."""


@functools.lru_cache(maxsize=64)
def _networks(allow: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in allow)


def parse_allow(allow: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings -> networks (cached; invalid CIDRs raise ValueError)."""
    return _networks(tuple(allow))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to (mapped, 6to4, Teredo), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def forbidden_reason(ip: str | IPAddress, allow: Iterable[str] = ()) -> str | None:
    """The kind of address `ip` is if it must not be fetched ("private", "loopback",
    "link-local", "cloud metadata", ...), or None if it may be.

    An address inside an allowed CIDR is always permitted: the allow-list is the explicit opt-in.
    IPv6 addresses that embed an IPv4 address (::ffff:10.0.0.1, 6to4, Teredo) are judged by it.
    """
    address = ipaddress.ip_address(ip.split("%", 1)[0]) if isinstance(ip, str) else ip
    if any(address in net for net in parse_allow(allow) if net.version == address.version):
        return None
    if address.version == 6:
        inner = _embedded_ipv4(address)
        if inner is not None:
            return forbidden_reason(inner, allow)
    checks = (
        (address in METADATA_ADDRESSES, "cloud metadata"),
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),  # before private: Python counts 240.0.0.0/4 as both
        (address.is_private, "private"),
        (not address.is_global, "non-public"),
    )
    return next((kind for hit, kind in checks if hit), None)


def resolve_host(host: str, port: int | None = None) -> list[IPAddress]:
    """All addresses of `host` (an IP literal resolves to itself), in resolver order, deduplicated."""
    literal = host.strip("[]")
    try:
        return [ipaddress.ip_address(literal)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(literal, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"cannot resolve {host!r}: {exc}") from exc
    out: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])  # drop an IPv6 zone id
        if address not in out:
            out.append(address)
    if not out:
        raise UnresolvableHost(f"cannot resolve {host!r}: no addresses")
    return out


def check_host(host: str, allow: Iterable[str] = (), port: int | None = None) -> list[IPAddress]:
    """Resolve `host` and return its addresses if every one of them may be fetched.

    Raises ForbiddenAddress if any address is forbidden (a name with one public and one private
    address is refused: the connection could land on either), UnresolvableHost if DNS fails.
    """
    addresses = resolve_host(host, port)
    for address in addresses:
        kind = forbidden_reason(address, allow)
        if kind:
            raise ForbiddenAddress(host, address, kind)
    return addresses
