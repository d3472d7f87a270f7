"""Issue 9, point 5, the pure rules behind it: which addresses are internal, which redirects may be followed,
the resolver that applies the address rule at connect time, and the `file_hosts` setting."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import pytest

from mirror.adapters.upstream import GuardedResolver
from mirror.config import parse_config
from mirror.core.errors import ConfigError
from mirror.core.fetch_rules import FetchRules, HostRule, Origin, internal_address, origin_of, parse_host_rule


class _Fixed:
    """A resolver answering one address for every name."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict]:
        return [{"hostname": host, "host": self.address, "port": port, "family": family, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("address, allowed", [
    ("203.0.113.7", True), ("93.184.216.34", True), ("2001:db8::1", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.20.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("0.0.0.0", False), ("::1", False), ("fe80::1", False), ("fd00::1", False),
    ("::ffff:127.0.0.1", False), ("100.64.0.1", False),
])
async def test_the_resolver_drops_internal_addresses_of_untrusted_hosts(address, allowed):
    rules = FetchRules(Origin("https", "up.example", 443), (parse_host_rule("files.internal.example"),))
    resolver = GuardedResolver(rules, _Fixed(address))  # type: ignore[arg-type]
    if allowed:
        assert (await resolver.resolve("cdn.example", 443))[0]["host"] == address
    else:
        with pytest.raises(OSError, match="internal addresses"):
            await resolver.resolve("cdn.example", 443)
    # the configured upstream and the file hosts may be internal: the operator said so
    assert await resolver.resolve("up.example", 443)
    assert await resolver.resolve("files.internal.example", 8443)
    with contextlib.nullcontext() if allowed else pytest.raises(OSError):
        await resolver.resolve("up.example", 80)  # another port of the upstream's host is another origin


def test_file_hosts_is_validated_with_file_line_and_key() -> None:
    text = '[upstream]\nurl = "http://up.example/simple/"\nfile_hosts = ["files.example", "http://x/path"]\n'
    with pytest.raises(ConfigError) as err:
        parse_config({"upstream": {"url": "http://up.example/simple/", "file_hosts": ["files.example",
                                                                                       "http://x/path"]}},
                     text=text, source=Path("config.toml"))
    assert err.value.key == "upstream.file_hosts" and err.value.line == 3 and "no path" in str(err.value)
    config = parse_config({"upstream": {"file_hosts": ["files.example:8443", "https://cdn.example"]}})
    assert config.upstream.file_hosts == ("files.example:8443", "https://cdn.example")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.9.9.9", "10.0.0.1", "172.16.0.1", "192.168.0.1",
                                     "169.254.169.254", "0.0.0.0", "100.64.1.1", "224.0.0.1", "255.255.255.255",
                                     "::", "::1", "fe80::1%eth0", "fc00::1", "::ffff:10.0.0.1", "64:ff9b::a00:1",
                                     "2002:7f00:1::1", "not an address"])
def test_internal_addresses(address: str) -> None:
    assert internal_address(address)


@pytest.mark.parametrize("address", ["203.0.113.80", "8.8.8.8", "2001:db8::1", "2606:4700::1111", "64:ff9b::808:808"])
def test_public_addresses(address: str) -> None:
    assert not internal_address(address)


RULES = FetchRules(Origin("https", "up.example", 443), (parse_host_rule("cdn.example"),
                                                        parse_host_rule("http://10.0.0.5:8080")))


@pytest.mark.parametrize("fetched, target, problem", [
    ("https://files.example/a.whl", "https://files.example/b/a.whl", None),  # same origin
    ("https://files.example/a.whl", "https://FILES.example:443/b", None),
    ("https://files.example/a.whl", "https://cdn.example/a.whl", None),  # a file host
    ("https://files.example/a.whl", "http://cdn.example:81/a.whl", None),  # a bare host: any port and scheme
    ("https://files.example/a.whl", "http://10.0.0.5:8080/a.whl", None),  # listed with its port
    ("https://files.example/a.whl", "http://files.example/a.whl", "another origin"),  # scheme changed
    ("https://files.example/a.whl", "https://files.example:8443/a.whl", "another origin"),
    ("https://files.example/a.whl", "https://evil.example/a.whl", "another origin"),
    ("https://files.example/a.whl", "http://10.0.0.5:8081/a.whl", "another origin"),
    ("https://files.example/a.whl", "file:///etc/passwd", "not http(s)"),
    ("https://files.example/a.whl", "gopher://files.example/x", "not http(s)"),
    ("https://files.example/a.whl", "https:///nohost", "not http(s)"),
    ("http://127.0.0.1:9/a.whl", "http://127.0.0.1:9/b.whl", "internal address"),  # same origin, internal
])
def test_redirect_rules(fetched: str, target: str, problem: str | None) -> None:
    found = RULES.redirect_problem(fetched, target)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_url_rules() -> None:
    assert RULES.url_problem("https://files.example/a.whl") is None
    assert RULES.url_problem("https://203.0.113.9/a.whl") is None
    assert "internal" in RULES.url_problem("http://169.254.169.254/latest/meta-data/")
    assert "internal" in RULES.url_problem("http://[::1]:8080/a")
    assert RULES.url_problem("http://10.0.0.5:8080/a.whl") is None  # listed in file_hosts
    assert "not an http(s) URL" in RULES.url_problem("ftp://files.example/a")
    assert RULES.trusted("UP.example", 443) and not RULES.trusted("up.example", 80)


def test_host_rules_parse() -> None:
    assert parse_host_rule("Files.Example") == HostRule("files.example")
    assert parse_host_rule("files.example:8443") == HostRule("files.example", 8443)
    assert parse_host_rule("[::1]:8080") == HostRule("::1", 8080)
    assert parse_host_rule("https://cdn.example") == HostRule("cdn.example", 443, "https")
    for bad in ("", "a b", "http://x/path", "ftp://x", "user@x", "x:notaport", "https://u:p@x"):
        with pytest.raises(ValueError):
            parse_host_rule(bad)
    assert origin_of("HTTPS://Up.Example/simple/") == Origin("https", "up.example", 443)


@pytest.mark.parametrize(("text", "key", "line", "fragment"), [
    ("[upstream]\nfile_timeout = 0\n", "upstream.file_timeout", 2, "greater than 0"),
    ("[upstream]\nfile_timeout = 'long'\n", "upstream.file_timeout", 2, "wrong type"),
    ("[upstream]\n\nmax_file_bytes = -1\n", "upstream.max_file_bytes", 3, "greater than 0"),
    ("[upstream]\nmax_file_bytes = 1.5\n", "upstream.max_file_bytes", 2, "wrong type"),
    ("[upstream]\nfile_hosts = 'files.example'\n", "upstream.file_hosts", 2, "wrong type"),
    ("[upstream]\nfile_hosts = [1]\n", "upstream.file_hosts", 2, "must be a string"),
    ("[upstream]\nfile_hosts = ['gopher://x']\n", "upstream.file_hosts", 2, "only http and https"),
])
def test_download_limits_and_file_hosts_name_file_line_and_key(tmp_path: Path, text: str, key: str, line: int,
                                                               fragment: str) -> None:
    from mirror.config import load_config

    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert (err.file, err.key, err.line) == (str(path), key, line) and fragment in str(err), str(err)


@pytest.mark.parametrize(("fetched", "target", "problem"), [
    ("https://files.example/a.whl", "ftp://files.example/a", "redirect to a URL that is not http(s)"),
    ("https://files.example/a.whl", "https://evil.example/a", "redirect to another origin (not listed in [upstream] "
                                                              "file_hosts)"),
    # a file host listed with its scheme admits that scheme only
    ("https://files.example/a.whl", "https://10.0.0.5:8080/a.whl", "redirect to another origin (not listed in "
                                                                   "[upstream] file_hosts)"),
    ("https://files.example/a.whl", "http://192.168.0.1/a.whl", "redirect to another origin (not listed in "
                                                                "[upstream] file_hosts)"),
    ("http://192.168.0.1/a.whl", "http://192.168.0.1/b.whl", "192.168.0.1 is an internal address"),
])
def test_redirect_problems_are_worded_for_the_log(fetched: str, target: str, problem: str) -> None:
    assert RULES.redirect_problem(fetched, target) == problem


def test_url_problems_are_worded_for_the_log() -> None:
    assert RULES.url_problem("ftp://files.example/a") == "not an http(s) URL"
    assert RULES.url_problem("http://[fe80::1]/a") == "fe80::1 is an internal address"


@pytest.mark.parametrize(("origin", "text"), [
    (Origin("https", "up.example", 443), "https://up.example:443"),
    (Origin("http", "::1", 8080), "http://[::1]:8080"),
    (Origin("http", "10.0.0.5", 80), "http://10.0.0.5:80"),
])
def test_an_origin_is_written_as_scheme_host_and_port(origin: Origin, text: str) -> None:
    assert str(origin) == text


@pytest.mark.parametrize(("address", "internal"), [
    ("2002:0808:0808::1", False),      # 6to4 of 8.8.8.8: the embedded address is judged
    ("2002:c0a8:0001::1", True),       # 6to4 of 192.168.0.1
    ("203.0.113.80%eth0", False),      # everything after the first % is a zone id, dropped
    ("203.0.113.80%a%b", False),
    ("fe80::1%a%b", True),
    ("203.0.113.80 x", True),          # not an address at all: refused
    ("203.0.113.80/32", True),
])
def test_embedded_addresses_and_zone_ids(address: str, internal: bool) -> None:
    assert internal_address(address) is internal


@pytest.mark.parametrize(("entry", "problem"), [
    ("a b", "'a b' is not a host name"),
    ("  ", "'  ' is not a host name"),
    ("https://cdn.example/path", "'https://cdn.example/path': write an origin only (scheme://host[:port]), no path "
                                 "or credentials"),
    ("https://cdn.example?x=1", "no path or credentials"),
    ("https://cdn.example#top", "no path or credentials"),
    ("https://user@cdn.example", "no path or credentials"),
    ("https://user:secret@cdn.example", "no path or credentials"),
    ("ftp://cdn.example", "'ftp://cdn.example': only http and https origins are allowed"),
    ("cdn.example:http", "'cdn.example:http': bad port"),
    ("cdn.example:99999", "'cdn.example:99999': bad port"),
    ("cdn.example/path", "'cdn.example/path' is not host or host:port"),
    ("cdn.example?x", "'cdn.example?x' is not host or host:port"),
    ("cdn.example#x", "'cdn.example#x' is not host or host:port"),
    ("user@cdn.example", "'user@cdn.example' is not host or host:port"),
    (":8080", "':8080' is not host or host:port"),
])
def test_a_bad_file_host_is_refused_with_the_reason(entry: str, problem: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_host_rule(entry)
    assert problem in str(err.value)


@pytest.mark.parametrize(("entry", "rule"), [
    ("https://cdn.example/", HostRule("cdn.example", 443, "https")),  # a bare trailing slash is still an origin
    ("http://CDN.example:8080", HostRule("cdn.example", 8080, "http")),
    (" cdn.example:81 ", HostRule("cdn.example", 81)),
])
def test_file_host_forms(entry: str, rule: HostRule) -> None:
    assert parse_host_rule(entry) == rule
