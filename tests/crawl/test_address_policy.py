"""The SSRF address policy (ilid_ray.net) shared by the crawler and the image downloader."""

from __future__ import annotations

import pytest

from ilid_ray.net import ForbiddenAddress, UnresolvableHost, check_host, forbidden_reason


@pytest.mark.parametrize("ip, kind", [
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.254", "private"),
    ("192.168.1.10", "private"), ("127.0.0.1", "loopback"), ("127.0.0.2", "loopback"),
    ("169.254.169.254", "cloud metadata"), ("169.254.10.1", "link-local"), ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"), ("240.0.0.1", "reserved"), ("100.64.0.1", "non-public"),
    ("::1", "loopback"), ("fc00::1", "private"), ("fd12:3456::1", "private"), ("fe80::1", "link-local"),
    ("fd00:ec2::254", "cloud metadata"), ("::", "unspecified"), ("ff02::1", "multicast"),
    ("::ffff:10.0.0.1", "private"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "cloud metadata"),
    ("2002:a00:1::", "private"),  # 6to4 wrapping 10.0.0.1
    ("fe80::1%eth0", "link-local"),
])
def test_forbidden_addresses(ip, kind):
    assert forbidden_reason(ip) == kind


@pytest.mark.parametrize("ip", ["8.8.8.8", "93.184.216.34", "172.32.0.1", "2606:4700:4700::1111",
                                "::ffff:8.8.8.8"])
def test_public_addresses_pass(ip):
    assert forbidden_reason(ip) is None


def test_allow_list_opens_exactly_its_networks():
    allow = ["127.0.0.1/32", "10.20.0.0/16"]
    assert forbidden_reason("127.0.0.1", allow) is None
    assert forbidden_reason("127.0.0.2", allow) == "loopback"
    assert forbidden_reason("10.20.5.5", allow) is None
    assert forbidden_reason("10.21.0.1", allow) == "private"
    assert forbidden_reason("::ffff:127.0.0.1", allow) is None  # mapped form of an allowed address
    assert forbidden_reason("::1", allow) == "loopback"
    with pytest.raises(ValueError):
        forbidden_reason("10.0.0.1", ["not-a-cidr"])


def test_check_host_resolves_names_and_literals():
    with pytest.raises(ForbiddenAddress, match=r"blocked: loopback address 127\.0\.0\.1 \(localhost\)"):
        check_host("localhost")
    assert [str(a) for a in check_host("localhost", ["127.0.0.0/8", "::1/128"])][0] in ("127.0.0.1", "::1")
    with pytest.raises(ForbiddenAddress, match=r"^blocked: private address 192\.168\.0\.1$"):
        check_host("192.168.0.1")
    with pytest.raises(ForbiddenAddress, match="loopback"):
        check_host("[::1]")
    with pytest.raises(ForbiddenAddress, match="loopback"):
        check_host("2130706433")  # the integer spelling of 127.0.0.1
    with pytest.raises(UnresolvableHost):
        check_host("no-such-host.invalid")
