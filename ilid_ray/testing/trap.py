"""A raw TCP listener on 127.0.0.1 that records every connection made to it, whatever the
protocol (an FTP client, an HTTP client, anything). Fixture catalogs point non-http(s) URLs
(`ftp://127.0.0.1:<trap>/...`) at it: an address the network policy allows, so only the scheme
guard stands between the crawl and a connection, and the trap's log says whether it held.

    with TcpTrap() as trap:
        ...
        assert trap.connections == []
"""

from __future__ import annotations

import socket
import threading


class TcpTrap:
    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._connections: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tcp-trap", daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self._connections.append(peer[:2])
            conn.close()  # say nothing: an FTP client would wait for a greeting forever

    @property
    def connections(self) -> list[tuple[str, int]]:
        """(peer address, peer port) of every connection accepted so far."""
        with self._lock:
            return list(self._connections)

    def url(self, scheme: str, path: str = "/") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"

    def __enter__(self) -> TcpTrap:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
