"""Tiers are isolated however the URL is spelled.

Policies: ``alpha-pkg`` has a ``[review]`` and a vetted pin for exactly one file (its 1.0 wheel);
``beta-pkg`` has no policy at all. Files (upload times chosen so that only the policy decides):

================================  =====  ========  ======
file                              all    reviewed  vetted
================================  =====  ========  ======
alpha_pkg-1.0-py3-none-any.whl    yes    yes       yes (pinned)
alpha_pkg-1.0.tar.gz              yes    yes       no (not pinned)
alpha_pkg-2.0-py3-none-any.whl    yes    no (cooldown)  no
alpha_pkg-3.0-py3-none-any.whl    no (blocked while cached: see below)
beta_pkg-1.0-py3-none-any.whl     yes    no        no
================================  =====  ========  ======

Every file (and its ``.metadata``) is first fetched, hence cached, through ``/all/``; then 3.0 is blocked
(the policy file edited, the server restarted on the same cache). Then for every
tier, each file not admitted there is requested through that tier with path tricks: case changes and
non-normalized project names, ``%2F``, ``..`` and ``%2e%2e``, double slashes, trailing dots and
slashes, query strings, percent-encoded names, another project's name. Redirects are followed (a
non-normalized name redirects to the normalized URL, which must then be 404); the final answer must
be 404 and no byte of the file may come back.

The last test turns it around: the links on a tier's own pages, resolved as installers resolve them,
must stay inside that tier and project whatever file names upstream lists.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import UTC, datetime
from urllib.parse import quote, urljoin, urlsplit

import pytest
import pytest_asyncio

from ..support.dists import build_sdist
from ..support.fake_upstream import JSON_TYPE, FakeFile
from .conftest import (
    STATS,
    FaultyUpstream,
    QuickServer,
    RawResponse,
    fast_config,
    raw_request,
)

OLD = datetime(2020, 1, 1, tzinfo=UTC)
A, B = "alpha-pkg", "beta-pkg"
SIGNED = 'by = "alice"\nat = 2026-01-15T10:00:00Z\n'


def policy_text(pinned: tuple[str, str], block_3: bool) -> str:
    text = f"[review]\n{SIGNED}note = \"fault suite\"\n\n"
    text += f'[vetted."1.0"]\n{SIGNED}\n[vetted."1.0".files]\n"{pinned[0]}" = "{pinned[1]}"\n'
    if block_3:
        text += f'\n[[block]]\nversions = "==3.0"\nreason = "bad release"\n{SIGNED}'
    return text


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def setup(tmp_path_factory):
    """One upstream and one mirror for the module (the matrix below is ~1400 requests)."""
    root = tmp_path_factory.mktemp("tiers")
    upstream = FaultyUpstream()
    await upstream.start()
    dists = root / "dists"
    a1 = upstream.add_wheel(A, "1.0", dists, upload_time=OLD)
    a1s = upstream.add_sdist(A, "1.0", dists, upload_time=OLD)
    a2 = upstream.add_wheel(A, "2.0", dists)  # uploaded now: inside the 7-day cooldown of `reviewed`
    a3 = upstream.add_wheel(A, "3.0", dists, upload_time=OLD)
    b1 = upstream.add_wheel(B, "1.0", dists, upload_time=OLD)
    config = fast_config(root / "m", upstream.url)
    projects = config.policies.path / "projects"
    projects.mkdir(parents=True)
    policy = projects / f"{A}.toml"
    policy.write_text(policy_text((a1.filename, a1.sha256), block_3=False))
    mirror = await QuickServer(config).start()
    files = {f.filename: f for f in (a1, a1s, a2, a3, b1)}
    try:
        # Cache every file and every .metadata through `all`.
        for f in files.values():
            for suffix in ("", ".metadata") if f.metadata else ("",):
                target = f"/all/files/{project_of(f.filename)}/{f.filename}{suffix}"
                resp = await raw_request(mirror.port, "GET", target)
                assert resp.status == 200
        assert len(mirror.cached_files()) == 9  # 5 files + 4 wheel metadata
        # Now block 3.0, as a reviewer would by editing the policy file, and restart on the same cache.
        await mirror.stop()
        policy.write_text(policy_text((a1.filename, a1.sha256), block_3=True))
        await mirror.start()
        assert (await raw_request(mirror.port, "GET", f"/all/files/{A}/{a3.filename}")).status == 404
        yield mirror, files
    finally:
        await mirror.stop()
        await upstream.stop()


ADMITTED = {
    "all": {"alpha_pkg-1.0-py3-none-any.whl", "alpha_pkg-1.0.tar.gz", "alpha_pkg-2.0-py3-none-any.whl",
            "beta_pkg-1.0-py3-none-any.whl"},
    "reviewed": {"alpha_pkg-1.0-py3-none-any.whl", "alpha_pkg-1.0.tar.gz"},
    "vetted": {"alpha_pkg-1.0-py3-none-any.whl"},
}


def project_of(filename: str) -> str:
    return A if filename.startswith("alpha") else B


def tricks(tier: str, project: str, filename: str) -> list[str]:
    other = B if project == A else A
    under = project.replace("-", "_")
    return [
        f"/{tier}/files/{project}/{filename}",
        f"/{tier}/files/{project.upper()}/{filename}",
        f"/{tier}/files/{project.title()}/{filename}",
        f"/{tier}/files/{under}/{filename}",
        f"/{tier}/files/{project.replace('-', '.')}/{filename}",
        f"/{tier}/files/{project.replace('-', '--')}/{filename}",
        f"/{tier}/files/{quote(project, safe='').replace('-', '%2D')}/{filename}",
        f"/{tier}/files/{project}/{filename.upper()}",
        f"/{tier}/files/{project}/{filename.replace('_', '-')}",
        f"/{tier}/files/{project}./{filename}",
        f"/{tier}/files/{project}/{filename}.",
        f"/{tier}/files/{project}/{filename}%2E",
        f"/{tier}/files/{project}/{filename}/",
        f"/{tier}/files/{project}/{filename}%00",
        f"/{tier}/files/{project}/{filename}%20",
        f"/{tier}/files/{project}/{quote(filename, safe='').replace('a', '%61')}",
        f"/{tier}/files/{project}%2F{filename}",
        f"/{tier}/files%2F{project}%2F{filename}",
        f"/{tier}%2Ffiles%2F{project}%2F{filename}",
        f"/{tier}/files/{project}/..%2F{project}%2F{filename}",
        f"/{tier}/files/{project}/..%2F..%2F..%2Fall%2Ffiles%2F{project}%2F{filename}",
        f"/{tier}/files/{project}/%2e%2e/{project}/{filename}",
        f"/{tier}/files/{project}/../{project}/{filename}",
        f"/{tier}/files/x/../{project}/{filename}",
        f"/{tier}/files/./{project}/./{filename}",
        f"/{tier}/files/../../all/files/{project}/{filename}",
        f"/{tier}/files/%2e%2e/%2e%2e/all/files/{project}/{filename}",
        f"/{tier}/../all/files/{project}/{filename}",
        f"/{tier}//files/{project}/{filename}",
        f"/{tier}/files//{project}/{filename}",
        f"/{tier}/files/{project}//{filename}",
        f"//{tier}/files/{project}/{filename}",
        f"/{tier}./files/{project}/{filename}",
        f"/{tier.upper()}/files/{project}/{filename}",
        f"/{tier}/files/{project}/{filename}?tier=all",
        f"/{tier}/files/{project}/{filename}?/../../all/files/{project}/{filename}",
        f"/{tier}/files/{project}/{filename}#../../all",
        f"/{tier}/files/{project}/{filename};tier=all",
        f"/{tier}/files/{other}/{filename}",
    ]


async def follow(port: int, method: str, target: str) -> tuple[RawResponse, list[str]]:
    """Request ``target``, following same-server redirects (at most 5); the final answer and the trail."""
    trail = [target]
    for _ in range(5):
        resp = await raw_request(port, method, target)
        STATS["tier isolation requests"] += 1
        if resp.status not in (301, 302, 307, 308):
            return resp, trail
        location = resp.headers["location"]
        assert location.startswith("/") and not location.startswith("//"), location
        target = location
        trail.append(target)
    raise AssertionError(f"redirect loop: {trail}")


def not_admitted() -> list[tuple[str, str, str]]:
    every = ["alpha_pkg-1.0-py3-none-any.whl", "alpha_pkg-1.0.tar.gz", "alpha_pkg-2.0-py3-none-any.whl",
             "alpha_pkg-3.0-py3-none-any.whl", "beta_pkg-1.0-py3-none-any.whl"]
    out = []
    for tier, admitted in ADMITTED.items():
        for name in every:
            if name in admitted:
                continue
            out.append((tier, name, ""))
            if name.endswith(".whl"):
                out.append((tier, name, ".metadata"))
    return out


@pytest.mark.parametrize(("tier", "filename", "suffix"), not_admitted(),
                         ids=[f"{t}-{f}{s}" for t, f, s in not_admitted()])
async def test_file_not_admitted_is_404_whatever_the_path(setup, tier, filename, suffix):
    mirror, files = setup
    content = files[filename].metadata if suffix else files[filename].content
    assert mirror.storage.path_for("sha256", hashlib.sha256(content).hexdigest()).is_file()  # it IS cached
    for target in tricks(tier, project_of(filename), filename + suffix):
        for method in ("GET", "HEAD"):
            resp, trail = await follow(mirror.port, method, target)
            assert resp.status == 404, (method, trail, resp.status, resp.body[:200])
            assert content not in resp.raw and content[:64] not in resp.raw, trail
            assert b"PK\x03\x04" not in resp.raw and b"\x1f\x8b" not in resp.raw, trail


@pytest.mark.parametrize("tier", sorted(ADMITTED))
async def test_admitted_files_are_served_through_their_tier(setup, tier):
    """The positive control: the same requests do reach the files a tier admits."""
    mirror, files = setup
    for filename in sorted(ADMITTED[tier]):
        f = files[filename]
        for suffix, content in (("", f.content), (".metadata", f.metadata)):
            if content is None:
                continue
            resp, trail = await follow(mirror.port, "GET", f"/{tier}/files/{project_of(filename)}/{filename}{suffix}")
            assert resp.status == 200 and resp.body == content, (trail, resp.status)
            # A non-normalized project name redirects to the same tier, and the file is served there.
            resp, trail = await follow(mirror.port, "GET",
                                       f"/{tier}/files/{project_of(filename).upper()}/{filename}{suffix}")
            assert resp.status == 200 and resp.body == content and trail[-1].startswith(f"/{tier}/"), trail


@pytest.mark.parametrize("tier", ["reviewed", "vetted"])
async def test_pages_of_a_project_outside_the_tier_are_404_whatever_the_path(setup, tier):
    mirror, _ = setup
    for target in [f"/{tier}/simple/{B}/", f"/{tier}/simple/{B.upper()}/", f"/{tier}/simple/{B.replace('-', '_')}",
                   f"/{tier}/simple/{B}/?format=application/vnd.pypi.simple.v1+json",
                   f"/{tier}/simple/{B}%2F", f"/{tier}/simple/../../all/simple/{B}/",
                   f"/{tier}/simple/%2e%2e/%2e%2e/all/simple/{B}/", f"/{tier}//simple/{B}/",
                   f"/{tier}/simple//{B}/", f"/{tier}/simple/{B}./", f"/{tier}/simple/{A}/../{B}/"]:
        resp, trail = await follow(mirror.port, "GET", target)
        assert resp.status == 404, (trail, resp.status)
        assert b"beta_pkg-1.0" not in resp.raw, trail


async def test_tier_pages_list_exactly_the_admitted_files(setup):
    mirror, _ = setup
    for tier, admitted in ADMITTED.items():
        listed = set()
        for project in (A, B):
            resp, _ = await follow(mirror.port, "GET", f"/{tier}/simple/{project}/")
            if resp.status == 200:
                listed |= {name for name in (admitted | {"alpha_pkg-2.0-py3-none-any.whl",
                                                         "alpha_pkg-3.0-py3-none-any.whl",
                                                         "beta_pkg-1.0-py3-none-any.whl"})
                           if name.encode() in resp.body}
        assert listed == admitted, tier


async def test_tier_pages_never_link_outside_the_tier(tmp_path):
    """An upstream page can name a file anything. Whatever it names, every link on a tier's page must,
    once resolved the way installers resolve it (RFC 3986), stay at ``/<tier>/files/<project>/<name>``:
    otherwise upstream steers clients of `reviewed` to files that only `all` serves.

    Here upstream lists, on reviewed ``alpha-pkg``'s page, an sdist named
    ``../../../all/files/beta-pkg/beta_pkg-1.0.tar.gz`` carrying the hash of beta-pkg's real sdist.
    """
    upstream = FaultyUpstream()
    await upstream.start()
    mirror = None
    try:
        beta = build_sdist(tmp_path / "dists", B, "1.0").read_bytes()
        upstream.add_file(B, FakeFile("beta_pkg-1.0.tar.gz", beta, upload_time=OLD))
        upstream.add_file(A, FakeFile("../../../all/files/beta-pkg/beta_pkg-1.0.tar.gz", beta, upload_time=OLD))
        upstream.add_file(A, FakeFile("alpha_pkg-1.0.tar.gz", b"alpha", upload_time=OLD))
        config = fast_config(tmp_path / "m", upstream.url)
        (config.policies.path / "projects").mkdir(parents=True)
        (config.policies.path / "projects" / f"{A}.toml").write_text(f"[review]\n{SIGNED}")
        mirror = await QuickServer(config).start()
        escapes = []
        for tier in ("reviewed", "all"):
            page_path = f"/{tier}/simple/{A}/"
            for accept in ("text/html", JSON_TYPE):
                resp = await raw_request(mirror.port, "GET", page_path, [("Accept", accept)])
                assert resp.status == 200
                hrefs = ([f["url"] for f in json.loads(resp.body)["files"]] if accept == JSON_TYPE
                         else re.findall(r'href="([^"#]*)', resp.body.decode()))
                for href in hrefs:
                    resolved = urlsplit(urljoin(f"http://mirror{page_path}", html.unescape(href))).path
                    head, _, name = resolved.rpartition("/")
                    if head != f"/{tier}/files/{A}" or not name:
                        escapes.append(f"{tier} ({accept}): {href} -> {resolved}")
        assert escapes == []
    finally:
        if mirror is not None:
            await mirror.stop()
        await upstream.stop()
