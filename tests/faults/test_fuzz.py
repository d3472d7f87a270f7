"""Hypothesis against one running mirror: request targets, methods and headers nobody should send.

One fake upstream and one mirror serve the whole module, on an event loop this module owns (the tests
are synchronous, so pytest-asyncio stays out of it and Hypothesis drives the loop one request at a time).
Requests go out through a raw socket client, so paths reach the server byte for byte (``..``, ``%2F``,
``%00``, unicode, 3000-character names) instead of being normalized by an HTTP library first.

For every request:

* the answer is never a 5xx (and always an HTTP answer);
* no response contains a byte of anything outside the cache: a canary file planted next to the cache
  directory, inside the cache root and in the policies directory never shows up, nor does /etc/passwd;
  a 200/206 on a files route is always (a range of) a real distribution or metadata file;
* upstream is never asked for anything but the index, a valid normalized PEP 503 project name, or a
  file that one of its pages lists.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import (
    STATS,
    FaultyUpstream,
    QuickServer,
    RawResponse,
    fast_config,
    raw_request,
)

OLD = datetime(2020, 1, 1, tzinfo=UTC)
NORMALIZED = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
FUZZ = settings(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass
class Rig:
    loop: asyncio.AbstractEventLoop
    upstream: FaultyUpstream
    mirror: QuickServer
    canaries: list[bytes]
    forbidden: list[bytes]
    blobs: list[bytes]  # every file and metadata body the mirror may legitimately serve
    listed: set[tuple[str, str]]  # (sha256, filename) upstream pages list
    filenames: list[str]
    seen_upstream: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def send(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> RawResponse:
        resp = self.loop.run_until_complete(raw_request(self.mirror.port, method, target, headers, body))
        STATS["requests fuzzed"] += 1
        self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
        if resp.status >= 500:
            STATS["5xx answers (fuzz)"] += 1
        self.check(method, target, resp)
        return resp

    def check(self, method: str, target: str, resp: RawResponse) -> None:
        assert 100 <= resp.status < 500, (method, target, resp.status, resp.raw[:400])
        for secret in self.canaries + self.forbidden:
            assert secret not in resp.raw, (method, target, "leaked a file outside the cache")
        path = target.split("?", 1)[0]
        if resp.status in (200, 206) and method == "GET" and "/files/" in path and resp.body:
            assert any(resp.body in blob for blob in self.blobs), (target, resp.body[:200])
        for _method, upath in self.upstream.requests[self.seen_upstream:]:
            self.check_upstream_path(upath, target)
        self.seen_upstream = len(self.upstream.requests)

    def check_upstream_path(self, upath: str, target: str) -> None:
        if upath == "/simple/":
            return
        parts = upath.split("/")
        if len(parts) == 4 and parts[1] == "simple" and parts[3] == "":
            assert NORMALIZED.fullmatch(parts[2]), (upath, "asked upstream for an invalid name, for", target)
            return
        if len(parts) == 4 and parts[1] == "pypi" and parts[3] == "json":  # the JSON API: advisories
            assert NORMALIZED.fullmatch(parts[2]), (upath, "asked the JSON API for an invalid name, for", target)
            return
        if len(parts) == 4 and parts[1] == "files":
            sha, filename = parts[2], parts[3].removesuffix(".metadata")
            assert (sha, filename) in self.listed, (upath, "asked upstream for an unlisted file, for", target)
            return
        raise AssertionError(f"unexpected upstream request {upath!r} for {target!r}")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("fuzz")
    dists = root / "dists"
    canaries = [b"CANARY-" + secrets.token_hex(16).encode() for _ in range(3)]
    (root / "canary.txt").write_bytes(canaries[0])                      # next to the cache directory
    loop = asyncio.new_event_loop()

    async def setup() -> Rig:
        upstream = FaultyUpstream()
        await upstream.start()
        demo = [upstream.add_wheel("demo-app", "1.0", dists, upload_time=OLD),
                upstream.add_sdist("demo-app", "1.0", dists, upload_time=OLD)]
        alpha = [upstream.add_wheel("alpha-pkg", "1.0", dists, upload_time=OLD),
                 upstream.add_wheel("alpha-pkg", "2.0", dists)]
        policies = root / "mirror" / "policies" / "projects"
        policies.mkdir(parents=True)
        (policies / "alpha-pkg.toml").write_text(
            f'# {canaries[2].decode()}\n[review]\nby = "alice"\nat = 2026-01-15T10:00:00Z\n\n'
            '[vetted."1.0"]\nby = "alice"\nat = 2026-01-15T10:00:00Z\n\n'
            f'[vetted."1.0".files]\n"{alpha[0].filename}" = "{alpha[0].sha256}"\n')
        mirror = QuickServer(fast_config(root / "mirror", upstream.url))
        await mirror.start()
        (mirror.config.storage.path / "canary.txt").write_bytes(canaries[1])  # inside the cache root
        files = demo + alpha
        blobs = [f.content for f in files] + [f.metadata for f in files if f.metadata]
        # Warm part of the cache, so both cached and cold files are fuzzed.
        await raw_request(mirror.port, "GET", f"/all/files/demo-app/{demo[0].filename}")
        return Rig(loop, upstream, mirror, canaries, forbidden_system_bytes(), blobs,
                   {(f.sha256, f.filename) for f in files}, [f.filename for f in files])

    rig = loop.run_until_complete(setup())
    assert rig.mirror.cached_files()
    yield rig

    async def teardown() -> None:
        await rig.mirror.stop()
        await rig.upstream.stop()

    loop.run_until_complete(teardown())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    for status, count in sorted(rig.statuses.items()):
        STATS[f"fuzz answers with status {status}"] += count


def forbidden_system_bytes() -> list[bytes]:
    out = []
    try:
        first = Path("/etc/passwd").read_bytes().splitlines()[0]
        if len(first) > 12:
            out.append(first)
    except (OSError, IndexError):
        pass
    return out


# --- strategies ---------------------------------------------------------------------------------------

SPECIAL_SEGMENTS = [
    "..", ".", "%2e%2e", "%2E%2e", ".%2e", "%2e", "%2F", "..%2F", "..%2F..%2Fcanary.txt",
    "%2e%2e%2f%2e%2e%2fcanary.txt", "..%5C..%5Ccanary.txt", "%00", "x%00.whl", "%2500", "%", "%zz", "%ff%fe",
    "canary.txt", "mirror.db", "..%2Fmirror.db", "cache", "tmp", "files", "simple", "explain", "healthz",
    "sha256", "etc", "passwd", "%2Fetc%2Fpasswd", "..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd", "~", "*", ";",
    "a" * 200, "a" * 201, "é", "%C3%A9", "\U0001f40d", "%F0%9F%90%8D",
]
PROJECT_SEGMENTS = ["demo-app", "Demo_App", "DEMO.APP", "demo--app", "demo-app.", "-demo-app", "demo%2Dapp",
                    "alpha-pkg", "ALPHA_pkg", "no-such-project", "ｄｅｍｏ-app", "demo\u200bapp", "demo%20app"]
TIERS = ["all", "reviewed", "vetted", "ALL", "Vetted", "all.", "", "..", "%2e%2e", "nosuch"]
KINDS = ["simple", "files", "explain", "healthz", "Simple", "files.", ""]

ASCII_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))
#: Raw unicode and controls mostly stop at the HTTP parser (400); percent-encoded they reach the routes.
raw_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=40)
encoded_text = raw_text.map(lambda t: quote(t, safe="-._~!$&'()*+,;=:@"))
ascii_text = st.text(st.sampled_from([c for c in ASCII_PRINTABLE if c not in "/?#"]), max_size=40)
text_segment = st.one_of(encoded_text, ascii_text, raw_text)
long_segment = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=150, max_size=3000)
escaped_bytes = st.binary(min_size=1, max_size=24).map(lambda b: "".join(f"%{x:02X}" for x in b))
segments = st.one_of(st.sampled_from(SPECIAL_SEGMENTS + PROJECT_SEGMENTS), encoded_text, ascii_text, long_segment,
                     escaped_bytes, raw_text)


def filenames_strategy() -> st.SearchStrategy[str]:
    real = ["demo_app-1.0-py3-none-any.whl", "demo_app-1.0.tar.gz", "alpha_pkg-1.0-py3-none-any.whl",
            "alpha_pkg-2.0-py3-none-any.whl"]
    variants = real + [r + ".metadata" for r in real] + [r.upper() for r in real] + [r + "." for r in real]
    variants += [quote(r, safe="") for r in real] + ["..%2F" + r for r in real] + [r + "%00" for r in real]
    return st.one_of(st.sampled_from(variants), segments)


structured_path = st.builds(
    lambda lead, tier, kind, project, filename, tail: f"{lead}{tier}/{kind}/{project}/{filename}{tail}",
    st.sampled_from(["/", "//", "/./", "/../"]),
    st.one_of(st.sampled_from(TIERS), segments),
    st.one_of(st.sampled_from(KINDS), segments),
    st.one_of(st.sampled_from(PROJECT_SEGMENTS), segments),
    st.one_of(filenames_strategy(), st.just("")),
    st.sampled_from(["", "/", "//", "/..", "/.", "%2F"]),
)
random_path = st.lists(segments, max_size=6).map(lambda parts: "/" + "/".join(parts))
queries = st.one_of(
    st.just(""),
    st.sampled_from(["?format=application/vnd.pypi.simple.v1+json", "?format=text/html", "?format=garbage",
                     "?format=", "?format", "?x=../../etc/passwd", "?" + "%00" * 3, "??", "?a=1&a=2"]),
    st.one_of(encoded_text, ascii_text).map(lambda t: "?" + t.replace("#", "%23")),
)
paths = st.builds(lambda p, q: p + q, st.one_of(structured_path, random_path), queries)
methods = st.one_of(st.just("GET"), st.sampled_from(METHODS))

MEDIA = ["application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.v1+html", "text/html",
         "application/vnd.pypi.simple.latest+json", "application/vnd.pypi.simple.latest+html",
         "application/vnd.pypi.simple.v2+json", "application/vnd.pypi.simple.v1+xml", "*/*", "text/*",
         "application/*", "application/json", "image/png", "*", "/", ""]
header_text = st.one_of(st.text(st.sampled_from(ASCII_PRINTABLE + " \t"), max_size=60),
                        st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=60))
qvalues = st.one_of(
    st.sampled_from(["0", "1", "0.5", "1.0", "1.001", "-1", "nan", "inf", "-inf", "", "abc", "0.0001", "1e400"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
)
media_range = st.one_of(st.sampled_from(MEDIA), st.from_regex(r"[a-z*]{1,8}/[a-z0-9+.*-]{1,16}", fullmatch=True))
accept_headers = st.one_of(
    st.sampled_from(MEDIA),
    st.lists(st.tuples(media_range, st.one_of(st.none(), qvalues)), min_size=1, max_size=6).map(
        lambda items: ", ".join(m if q is None else f"{m}; q={q}" for m, q in items)),
    header_text,
)
ints = st.one_of(st.integers(-10, 10**6), st.integers(-10**30, 10**30))
range_headers = st.one_of(
    st.sampled_from(["bytes=0-", "bytes=-0", "bytes=0-0", "bytes=-1", "bytes=5-2", "bytes=0-1,3-4", "bytes=-",
                     "bytes=", "bytes=99999999999999999999999-", "bytes=-99999999999999999999999", "bytes=--1",
                     "bytes=1--2", "items=0-1", "bytes=0-1, 0-1, 0-1", "bytes = 0-1", "BYTES=0-1",
                     "bytes=" + ",".join("0-1" for _ in range(500))]),
    st.lists(st.tuples(st.one_of(st.none(), ints), st.one_of(st.none(), ints)), min_size=1, max_size=5).map(
        lambda pairs: "bytes=" + ",".join(f"{'' if a is None else a}-{'' if b is None else b}" for a, b in pairs)),
    header_text,
)
etag_headers = st.one_of(
    st.sampled_from(["*", '""', '"', 'W/"x"', "W/", ",,,,", '"a", W/"b", *', "W/*", '"' + "a" * 5000 + '"']),
    header_text,
)
date_headers = st.one_of(st.sampled_from(["Thu, 01 Jan 1970 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
                                          "yesterday", "0", "-1", ""]), header_text)


@st.composite
def header_sets(draw) -> list[tuple[str, str]]:
    headers = []
    for name, strategy in (("Accept", accept_headers), ("Range", range_headers),
                           ("If-None-Match", etag_headers), ("If-Modified-Since", date_headers),
                           ("If-Range", st.one_of(etag_headers, date_headers)),
                           ("Accept-Encoding", st.one_of(st.sampled_from(["gzip", "gzip;q=0", "gzip;q=nan",
                                                                           "*;q=inf", "br, gzip;q=-1"]),
                                                         header_text))):
        if draw(st.booleans()):
            headers.append((name, draw(strategy)))
    return headers


# --- the properties -----------------------------------------------------------------------------------

@settings(FUZZ, max_examples=350)
@given(method=methods, path=paths, body=st.one_of(st.just(b""), st.binary(max_size=64)))
def test_fuzz_paths_and_methods(rig, method, path, body):
    rig.send(method, path, [], body if method in ("POST", "PUT", "PATCH") else b"")


REAL_TARGETS = [
    "/all/simple/", "/reviewed/simple/", "/vetted/simple/", "/all/simple/demo-app/", "/all/simple/alpha-pkg/",
    "/reviewed/simple/alpha-pkg/", "/vetted/simple/alpha-pkg/", "/reviewed/simple/demo-app/",
    "/all/files/demo-app/demo_app-1.0-py3-none-any.whl", "/all/files/demo-app/demo_app-1.0.tar.gz",
    "/all/files/demo-app/demo_app-1.0-py3-none-any.whl.metadata",
    "/vetted/files/alpha-pkg/alpha_pkg-1.0-py3-none-any.whl",
    "/reviewed/files/alpha-pkg/alpha_pkg-2.0-py3-none-any.whl",
    "/all/files/alpha-pkg/alpha_pkg-2.0-py3-none-any.whl.metadata", "/explain/demo-app", "/explain/alpha-pkg/1.0",
    "/healthz", "/",
]


@settings(FUZZ, max_examples=300)
@given(method=st.sampled_from(["GET", "GET", "HEAD"] + METHODS), target=st.sampled_from(REAL_TARGETS),
       query=queries, headers=header_sets())
def test_fuzz_headers_on_real_resources(rig, method, target, query, headers):
    rig.send(method, target + query, headers)


@settings(FUZZ, max_examples=200)
@given(method=methods, path=paths, headers=header_sets())
def test_fuzz_everything_at_once(rig, method, path, headers):
    rig.send(method, path, headers)


@settings(FUZZ, max_examples=80)
@given(version=st.one_of(text_segment, segments, st.sampled_from(["1.0", "1.0.0", "01.0", "1!2.0", "1.0+local",
                                                                  "v1", "1.0rc1", "9" * 128, "9" * 129])),
       project=st.sampled_from(["demo-app", "alpha-pkg", "Alpha_Pkg", "nope"]))
def test_fuzz_explain_versions(rig, project, version):
    rig.send("GET", f"/explain/{project}/{version}", [])


def test_fuzz_rig_saw_every_kind_of_answer(rig):
    """Sanity check of the fuzzing itself: it reached real content, not only 404s."""
    assert {200, 404}.issubset(rig.statuses), rig.statuses
    assert rig.upstream.count("/simple/") > 1
