"""The address policy and the guarded connections: every resolved address is checked, the socket
goes to a checked address (DNS rebinding cannot slip through), TLS still verifies the hostname."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ilid_ray.config import DownloadConfig, NetworkConfig
from ilid_ray.dataset.fetch import BlockedAddress, FetchError, GuardedClient
from ilid_ray.net import forbidden_reason
from ilid_ray.testing import image_cases as img

CFG = DownloadConfig(threads=2, timeout_s=3.0, retries=0)
JPEG = img.jpeg(16, 16)


@pytest.mark.parametrize("address,reason", [
    ("8.8.8.8", None), ("2606:4700:4700::1111", None),
    ("127.0.0.2", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.1", "private"), ("192.168.1.1", "private"), ("fd12::1", "private"),
    ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"),
    ("::ffff:169.254.169.254", "cloud metadata"), ("fe80::1%eth0", "link-local"),
    ("0.0.0.0", "unspecified"), ("224.0.0.251", "multicast"),
])
def test_policy_names_what_the_downloader_reports(address, reason):
    assert forbidden_reason(address, []) == reason


@pytest.mark.parametrize("address", ["100.64.0.1", "240.0.0.1", "2002:a00:1::", "192.0.2.1", "::"])
def test_policy_refuses_other_non_public_space(address):
    assert forbidden_reason(address, []) is not None


def test_allow_list_opens_exactly_its_cidrs():
    assert forbidden_reason("127.0.0.1", ["127.0.0.1/32"]) is None
    assert forbidden_reason("127.0.0.2", ["127.0.0.1/32"]) == "loopback"
    assert forbidden_reason(ipaddress.ip_address("10.1.2.3"), ["10.1.0.0/16"]) is None


class Listener:
    """A stdlib HTTP(S) server on one address that serves a JPEG and counts requests."""

    def __init__(self, host: str, port: int = 0, tls: ssl.SSLContext | None = None):
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(JPEG)))
                self.end_headers()
                self.wfile.write(JPEG)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads, self.httpd.block_on_close = True, False
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def twin_listeners():
    """Two listeners on the same port: 127.0.0.2 (to be allowed) and 127.0.0.3 (to stay forbidden)."""
    for _ in range(20):
        first = Listener("127.0.0.2")
        try:
            second = Listener("127.0.0.3", first.port)
        except OSError:
            first.close()
            continue
        yield first, second
        first.close()
        second.close()
        return
    pytest.skip("no port free on both 127.0.0.2 and 127.0.0.3")


def fake_dns(monkeypatch, answers: dict[str, list[list[str]]]):
    """A DNS whose answer for a name changes from one lookup to the next (what a rebinding
    attacker's name server does); other names resolve normally."""
    real = socket.getaddrinfo
    calls: dict[str, int] = {}

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in answers:
            return real(host, port, family, type, proto, flags)
        n = calls.get(host, 0)
        calls[host] = n + 1
        ips = answers[host][min(n, len(answers[host]) - 1)]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ips]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_connection_goes_to_the_checked_address_not_a_rebound_one(monkeypatch, twin_listeners):
    allowed, forbidden = twin_listeners
    calls = fake_dns(monkeypatch, {"rebind.test": [["127.0.0.2"], ["127.0.0.3"]]})
    client = GuardedClient(CFG, NetworkConfig(allow_private=["127.0.0.2/32"]))
    fetched = client.fetch(f"http://rebind.test:{allowed.port}/a.jpg")
    assert fetched.data == JPEG
    assert calls["rebind.test"] == 1  # resolved once, and that answer was used to connect
    assert allowed.requests == 1 and forbidden.requests == 0
    client.close()


def test_every_resolved_address_is_checked(monkeypatch, twin_listeners):
    allowed, forbidden = twin_listeners
    fake_dns(monkeypatch, {"mixed.test": [["127.0.0.2", "127.0.0.3"]]})
    client = GuardedClient(CFG, NetworkConfig(allow_private=["127.0.0.2/32"]))
    with pytest.raises(BlockedAddress, match="blocked: 127.0.0.3 is loopback"):
        client.fetch(f"http://mixed.test:{allowed.port}/a.jpg")
    assert allowed.requests == 0 and forbidden.requests == 0  # refused before any connect


def test_unknown_host_is_a_dns_reason():
    client = GuardedClient(CFG, NetworkConfig())
    with pytest.raises(FetchError, match="dns: cannot resolve nothing.invalid"):
        client.fetch("http://nothing.invalid/a.jpg")


def _self_signed(tmp_path, hostname: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_tls_verifies_the_hostname_while_connecting_to_the_checked_ip(monkeypatch, tmp_path):
    cert, key = _self_signed(tmp_path, "images.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = Listener("127.0.0.2", tls=context)
    fake_dns(monkeypatch, {"images.test": [["127.0.0.2"]], "other.test": [["127.0.0.2"]]})
    network = NetworkConfig(allow_private=["127.0.0.2/32"])
    try:
        trusted = GuardedClient(CFG, network, ca_certs=cert)
        assert trusted.fetch(f"https://images.test:{listener.port}/a.jpg").data == JPEG
        with pytest.raises(FetchError, match="^tls: "):  # same IP, but the certificate names images.test
            trusted.fetch(f"https://other.test:{listener.port}/a.jpg")
        with pytest.raises(FetchError, match="^tls: "):  # the system CAs don't know the self-signed cert
            GuardedClient(CFG, network).fetch(f"https://images.test:{listener.port}/a.jpg")
        with pytest.raises(BlockedAddress):
            GuardedClient(CFG, NetworkConfig()).fetch(f"https://images.test:{listener.port}/a.jpg")
    finally:
        listener.close()
    assert listener.requests == 1
