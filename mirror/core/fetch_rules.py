"""Where the mirror may connect when it fetches files and provenance: the rules against SSRF. Pure.

The mirror fetches only URLs that upstream pages list (never one a client names), and of those only:

- http and https URLs;
- redirects to the same origin as the URL being fetched, or to a host listed in ``[upstream] file_hosts``;
- hosts whose addresses are not internal (loopback, link-local, private, shared, unspecified, multicast,
  reserved), unless that exact host and port is the configured upstream's or listed in ``file_hosts``.

The address rule is applied to the *resolved* addresses when a connection is made (see
:class:`mirror.adapters.upstream.GuardedResolver`), so a name that resolves to an internal address, or
re-resolves to one later, does not pass; an address written literally in a URL is checked here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: Networks a fetch must never reach unless the operator configured that host. The documentation ranges
#: (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are not in the list: nothing routes to
#: them internally, and some test networks use them as public addresses.
_INTERNAL = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))
#: IPv6 prefixes that embed an IPv4 address (NAT64, 6to4): the embedded address is judged.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")


def internal_address(address: str) -> bool:
    """True when ``address`` (an IP literal) is loopback, link-local, private, shared, unspecified,
    multicast or reserved, including IPv4 addresses carried in IPv6 (mapped, NAT64, 6to4).

    Anything that is not an IP address at all counts as internal (refused): callers pass resolved
    addresses.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip in _6TO4:
            ip = ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    return any(ip in net for net in _INTERNAL if net.version == ip.version)


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Origin:
    """scheme://host:port of a URL (host lowercase, port explicit)."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def origin_of(url: str) -> Origin | None:
    """The origin of an http(s) URL, or None for any other scheme, a missing host or a bad port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return Origin(scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme])


@dataclass(frozen=True, slots=True)
class HostRule:
    """One ``file_hosts`` entry: a host, optionally restricted to one port and one scheme."""

    host: str
    port: int | None = None
    scheme: str | None = None

    def matches(self, host: str, port: int, scheme: str | None = None) -> bool:
        return (host.lower() == self.host and (self.port is None or self.port == port)
                and (self.scheme is None or scheme is None or self.scheme == scheme))


def parse_host_rule(entry: str) -> HostRule:
    """``host``, ``host:port``, ``[v6]:port`` or ``http(s)://host[:port]`` → a rule; raises ValueError."""
    text = entry.strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{entry!r} is not a host name")
    if "://" in text:
        parts = urlsplit(text)
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{entry!r}: write an origin only (scheme://host[:port]), no path or credentials")
        origin = origin_of(text)
        if origin is None:
            raise ValueError(f"{entry!r}: only http and https origins are allowed")
        return HostRule(origin.host, origin.port, origin.scheme)
    parts = urlsplit("//" + text)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{entry!r}: bad port") from None
    if not parts.hostname or parts.path or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{entry!r} is not host or host:port")
    return HostRule(parts.hostname.lower(), port)


@dataclass(frozen=True, slots=True)
class FetchRules:
    """The rules for one configured upstream (``upstream``: its origin) and its ``file_hosts``."""

    upstream: Origin
    file_hosts: tuple[HostRule, ...] = ()
    #: hosts:ports the HTTP client must reach to fetch anything at all (configured proxies)
    infrastructure: tuple[HostRule, ...] = ()

    def trusted(self, host: str, port: int) -> bool:
        """Whether connections to ``host``:``port`` may go to internal addresses (configured by the operator)."""
        host = host.lower()
        return ((host, port) == (self.upstream.host, self.upstream.port)
                or any(r.matches(host, port) for r in (*self.file_hosts, *self.infrastructure)))

    def url_problem(self, url: str) -> str | None:
        """Why the mirror must not fetch ``url`` (an http(s) URL upstream listed), or None when it may.

        Checks the scheme and an IP address written in the URL; a host name is checked when it is
        resolved (see the module docstring).
        """
        origin = origin_of(url)
        if origin is None:
            return "not an http(s) URL"
        if _ip_literal(origin.host) and internal_address(origin.host) and not self.trusted(origin.host, origin.port):
            return f"{origin.host} is an internal address"
        return None

    def redirect_problem(self, fetched: str, target: str) -> str | None:
        """Why a redirect from a fetch of ``fetched`` (the URL upstream listed) to ``target`` must not be
        followed, or None: ``target`` must be an http(s) URL of the same origin or of a ``file_hosts`` host."""
        to = origin_of(target)
        if to is None:
            return "redirect to a URL that is not http(s)"
        if to != origin_of(fetched) and not any(r.matches(to.host, to.port, to.scheme) for r in self.file_hosts):
            return "redirect to another origin (not listed in [upstream] file_hosts)"
        return self.url_problem(target)
