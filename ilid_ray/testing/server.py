"""Real local HTTP servers for fixture catalogs, with access logs tests can assert on.

Each catalog gets its own threaded server on 127.0.0.1 (robots.txt lives at a root, so one port
per shop), and one more listener on 127.0.0.2 plays the "private address" that crawled URLs point
at: the address guard must keep its log empty.

    with CatalogServer([FixtureCatalog("acme", faults=True)]) as server:
        spec, net = server.spec("acme"), server.network_config()
        ...
        assert not server.private_log
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterable, Mapping

import yaml

from ilid_ray.config import CatalogSpec, NetworkConfig
from ilid_ray.testing.catalog import FixtureCatalog, Reply

PRIVATE_HOST = "127.0.0.2"
SPEC_HEADER = ("# A fixture catalog (ilid_ray.testing): serve it with `ilid catalog serve`; a build that\n"
               "# crawls it needs `network: {allow_private: [127.0.0.1/32]}`.\n")


@dataclass(frozen=True)
class Access:
    host: str  # the listener's address
    port: int
    method: str
    path: str  # request target, query included
    status: int


class AccessLog:
    """Append-only, thread-safe list of requests."""

    def __init__(self) -> None:
        self._entries: list[Access] = []
        self._lock = threading.Lock()

    def add(self, entry: Access) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[Access]:
        with self._lock:
            return list(self._entries)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a kept-alive connection stalls
    # ~40 ms per response waiting for the client's delayed ACK (real servers set TCP_NODELAY too).
    disable_nagle_algorithm = True
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._serve(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(send_body=False)

    def _serve(self, send_body: bool) -> None:
        if self.server.media_delay_s and self.path.startswith("/media/"):
            time.sleep(self.server.media_delay_s)
        try:
            reply = self.server.respond(self.path)
        except Exception as exc:  # noqa: BLE001 - a fixture bug must show up as a 500, not a hang
            reply = Reply(500, "text/plain", f"fixture error: {exc!r}".encode())
        host, port = self.server.server_address[:2]
        self.server.log.add(Access(host, port, self.command, self.path, reply.status))
        body = reply.body
        length = reply.length if reply.length is not None else (len(body) if isinstance(body, bytes) else None)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not send_body:
            return
        try:
            for chunk in ([body] if isinstance(body, bytes) else body):
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. size cap)
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet; the AccessLog records
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], respond: Callable[[str], Reply], log: AccessLog,
                 media_delay_s: float = 0.0):
        self.respond, self.log, self.media_delay_s = respond, log, media_delay_s
        super().__init__(address, _Handler)


def _private_reply(target: str) -> Reply:
    """What the private listener answers: a plausible 200, so a guard failure would look like
    success to the crawler and only the log would tell."""
    return Reply(200, "image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9")


class CatalogServer:
    """Serve fixture catalogs (context manager). Ports are free ones unless `ports` fixes them.
    `media_delay_s` slows every image response (a slow CDN; lets tests stop a build mid-run)."""

    def __init__(self, catalogs: FixtureCatalog | Iterable[FixtureCatalog], host: str = "127.0.0.1",
                 ports: Mapping[str, int] | None = None, private_port: int = 0, media_delay_s: float = 0.0):
        catalogs = [catalogs] if isinstance(catalogs, FixtureCatalog) else list(catalogs)
        self.catalogs = {c.name: c for c in catalogs}
        if len(self.catalogs) != len(catalogs):
            raise ValueError("fixture catalog names must be unique")
        self.host, self.ports, self.private_port = host, dict(ports or {}), private_port
        self.media_delay_s = media_delay_s
        self._log, self._private_log = AccessLog(), AccessLog()
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> CatalogServer:
        try:
            private = self._listen("(private)", (PRIVATE_HOST, self.private_port), _private_reply,
                                   self._private_log)
            private_base = f"http://{PRIVATE_HOST}:{private.server_address[1]}"
            for name, catalog in self.catalogs.items():
                server = self._listen(name, (self.host, self.ports.get(name, 0)), catalog.respond, self._log)
                catalog.bind(f"http://{self.host}:{server.server_address[1]}", private_base)
        except BaseException:
            self.stop()
            raise
        return self

    def _listen(self, name: str, address: tuple[str, int], respond, log: AccessLog) -> _Server:
        try:
            server = _Server(address, respond, log, self.media_delay_s)
        except OSError as exc:
            raise OSError(f"fixture catalog {name}: cannot listen on {address[0]}:{address[1]}: {exc}") from exc
        self._servers[name] = server
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"fixture-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return server

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> CatalogServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ what tests and crawls use
    def base_url(self, name: str) -> str:
        return self.catalogs[name]._base()

    def spec(self, name: str) -> CatalogSpec:
        return self.catalogs[name].spec()

    def specs(self) -> list[CatalogSpec]:
        return [c.spec() for c in self.catalogs.values()]

    def network_config(self) -> NetworkConfig:
        """Allows exactly the catalogs' address; the private listener stays forbidden."""
        return NetworkConfig(allow_private=[f"{self.host}/32"])

    @property
    def access_log(self) -> list[Access]:
        """Every request to the catalogs (in arrival order)."""
        return self._log.entries()

    @property
    def private_log(self) -> list[Access]:
        """Every request to the private listener: must stay empty."""
        return self._private_log.entries()

    def requests_for(self, name: str) -> list[Access]:
        port = self._servers[name].server_address[1]
        return [a for a in self._log.entries() if a.port == port]

    def write_specs(self, folder: str | Path) -> list[Path]:
        """One catalog YAML per catalog (loadable with config.load_catalog_specs)."""
        return write_spec_files(self.specs(), Path(folder))


def write_spec_files(specs: Iterable[CatalogSpec], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        path = folder / f"{spec.name}.yaml"
        data = spec.model_dump(mode="json", exclude_defaults=True)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        path.write_text(SPEC_HEADER + text, encoding="utf-8")
        paths.append(path)
    return paths
