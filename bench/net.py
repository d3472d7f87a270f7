"""HTTP on loopback only (every request the suite itself makes goes to 127.0.0.1) and port picking."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.parse
from dataclasses import dataclass

JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
HTML_ACCEPT = "text/html"
#: What the mirror itself sends upstream: the fetch "directly from upstream" a figure is compared with.
UPSTREAM_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
FORMATS = (("html", HTML_ACCEPT), ("json", JSON_ACCEPT))


def loopback(url: str) -> str:
    """``url`` unchanged if it names 127.0.0.1 or localhost; raises ValueError otherwise."""
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"refusing non-loopback URL {url}")
    return url


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    seconds: float


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> Response:
    """One GET on a new loopback connection. Raises OSError on connection errors and timeouts."""
    u = urllib.parse.urlsplit(loopback(url))
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request("GET", u.path + (f"?{u.query}" if u.query else ""), headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body,
                        time.perf_counter() - started)
    finally:
        conn.close()


def http_post(url: str) -> None:
    u = urllib.parse.urlsplit(loopback(url))
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=10)
    try:
        conn.request("POST", u.path)
        conn.getresponse().read()
    finally:
        conn.close()


class KeepAlive:
    """Sequential GETs on one kept-alive loopback connection (reconnects when the server closes it)."""

    def __init__(self, base: str, timeout: float = 30.0) -> None:
        u = urllib.parse.urlsplit(loopback(base))
        self.host, self.port, self.timeout = u.hostname or "127.0.0.1", u.port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, float]:
        """(status, seconds) of one GET of ``path``; the body is read and dropped."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=headers)
                resp = self.conn.getresponse()
                resp.read()
                return resp.status, time.perf_counter() - started
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


class Ports:
    """Free loopback ports near a preferred one, never the same one twice in a run."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def free(self, start: int) -> int:
        """The first free port from ``start`` on; raises OSError when 200 in a row are busy."""
        for p in range(start, start + 200):
            if p not in self.taken and port_free(p):
                self.taken.add(p)
                return p
        raise OSError(f"no free port near {start}")
