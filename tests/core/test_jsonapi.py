"""The JSON API documents a tier serves (pure): built from the tier's view, described by upstream's document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from packaging.specifiers import SpecifierSet

from mirror.core.errors import ParseError
from mirror.core.jsonapi import (
    JsonDocument,
    Links,
    admitted_releases,
    file_entry,
    find_release,
    latest_release,
    parse_document,
    project_document,
    release_document,
)
from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.evaluate import canonical_version
from mirror.core.policy.model import Block, Location, PolicySet, ProjectPolicy, Review, Signature, Vetting
from mirror.core.tiers import NO_EVIDENCE, decide_page

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
SIG = Signature("alice", NOW)
HERE = Location("projects/demo.toml", 3)
LINKS = Links(lambda f: f"https://mirror.example/t/files/demo/{f.filename}", "https://mirror.example/ui/projects/demo",
              lambda v: f"https://mirror.example/ui/projects/demo/{v}")


def sha(text: str) -> str:
    return (text.encode().hex() * 64)[:64]


def wheel(version: str, *, age_days: float = 30, yanked: bool | str = False, requires_python: str | None = None
          ) -> DistFile:
    return DistFile(f"demo-{version}-py3-none-any.whl", f"https://up.example/demo-{version}.whl",
                    {"sha256": sha(version)}, requires_python=requires_python, size=100,
                    upload_time=NOW - timedelta(days=age_days), yanked=yanked)


def sdist(version: str, *, age_days: float = 30) -> DistFile:
    return DistFile(f"demo-{version}.tar.gz", f"https://up.example/demo-{version}.tar.gz",
                    {"sha256": sha(version + "s")}, size=50, upload_time=NOW - timedelta(days=age_days))


def view(tier: Tier, files: list[DistFile], policy: ProjectPolicy | None = None):
    policies = PolicySet(projects={"demo": policy} if policy else {}, version="t")
    detail = ProjectDetail(name="demo", files=tuple(files), last_serial=7, upstream_name="Demo")
    return decide_page(tier, "demo", detail, NO_EVIDENCE, policies, NOW)


def upstream_doc(files: list[DistFile], version: str, **info) -> JsonDocument:
    """Upstream's document as the public index writes it, parsed."""
    releases: dict[str, list] = {}
    for f in files:
        releases.setdefault(f.version, []).append({
            "filename": f.filename, "url": f.url, "packagetype": "bdist_wheel" if f.filename.endswith(".whl")
            else "sdist", "python_version": "py3" if f.filename.endswith(".whl") else "source",
            "digests": {"sha256": f.sha256, "md5": "0" * 32, "blake2b_256": "b" * 64}, "comment_text": "hi",
            "has_sig": False, "size": f.size})
    data = {"info": {"name": "Demo", "version": version, "summary": "A demo", "requires_dist": ["dep>=1"],
                     "license": "MIT", "classifiers": ["License :: OSI Approved :: MIT License"],
                     "home_page": "https://demo.example", "package_url": "https://up.example/project/demo/",
                     **info},
            "releases": releases, "urls": releases.get(version, []), "last_serial": 9,
            "vulnerabilities": [{"id": "PYSEC-1", "aliases": ["CVE-1"], "details": "bad", "fixed_in": ["2.0"],
                                 "link": "https://osv.example/PYSEC-1", "source": "osv", "summary": None,
                                 "withdrawn": None}],
            "ownership": {"organization": None, "roles": [{"role": "Owner", "user": "alice"}]}}
    return parse_document(json.dumps(data).encode())


def test_latest_release_follows_warehouse_order() -> None:
    assert latest_release({"1.0": [wheel("1.0")], "2.0": [wheel("2.0")]}) == "2.0"
    assert latest_release({"1.0": [wheel("1.0")], "2.0rc1": [wheel("2.0rc1")]}) == "1.0"  # final first
    assert latest_release({"1.0": [wheel("1.0")], "2.0": [wheel("2.0", yanked=True)]}) == "1.0"  # not yanked first
    assert latest_release({"1.0": [wheel("1.0", yanked=True)], "2.0rc1": [wheel("2.0rc1")]}) == "2.0rc1"
    assert latest_release({"2.0": [wheel("2.0", yanked="x")]}) == "2.0"  # only yanked: the highest
    assert latest_release({}) is None


def test_the_all_tier_document_is_upstreams_with_mirror_urls() -> None:
    files = [wheel("1.0"), sdist("1.0"), wheel("2.0")]
    doc = project_document(view(Tier.ALL, files), upstream_doc(files, "2.0"), None, LINKS)
    assert doc is not None
    assert list(doc["releases"]) == ["1.0", "2.0"]
    assert [f["filename"] for f in doc["urls"]] == ["demo-2.0-py3-none-any.whl"]
    assert doc["info"]["version"] == "2.0" and doc["info"]["requires_dist"] == ["dep>=1"]
    assert doc["info"]["package_url"] == "https://mirror.example/ui/projects/demo"
    assert doc["info"]["release_url"] == "https://mirror.example/ui/projects/demo/2.0"
    assert doc["vulnerabilities"][0]["id"] == "PYSEC-1" and doc["_mirror"]["vulnerabilities"] == "upstream"
    entry = doc["releases"]["1.0"][1]
    assert entry["url"] == "https://mirror.example/t/files/demo/demo-1.0.tar.gz"
    assert entry["packagetype"] == "sdist" and entry["python_version"] == "source"
    wheel_entry = doc["releases"]["1.0"][0]
    assert wheel_entry["digests"] == {"sha256": sha("1.0"), "md5": "0" * 32, "blake2b_256": "b" * 64}
    assert wheel_entry["comment_text"] == "hi"
    assert doc["last_serial"] == 9 and doc["ownership"]["roles"] == [{"role": "Owner", "user": "alice"}]


def test_a_tier_serves_only_its_releases_and_describes_the_latest_it_serves() -> None:
    files = [wheel("1.0"), wheel("2.0", age_days=1)]  # 2.0 is inside the 7-day cooldown
    policy = ProjectPolicy("demo", "demo.toml", review=Review(SIG, HERE))
    doc = project_document(view(Tier.REVIEWED, files, policy), upstream_doc(files, "2.0"), None, LINKS)
    assert doc is not None
    assert list(doc["releases"]) == ["1.0"]
    assert doc["info"]["version"] == "1.0"
    # Upstream described 2.0: release metadata of 1.0 is unknown, never 2.0's passed off as 1.0's.
    assert doc["info"]["requires_dist"] is None and doc["info"]["license"] is None
    assert doc["info"]["classifiers"] == []
    assert doc["info"]["summary"] == "A demo" and doc["info"]["home_page"] == "https://demo.example"
    assert doc["vulnerabilities"] == [] and doc["_mirror"] == {"tier": "reviewed", "info": "derived",
                                                               "vulnerabilities": "unknown"}
    # With upstream's per-release document of 1.0, everything is upstream's own.
    own = upstream_doc(files, "1.0", requires_dist=["old-dep"])
    doc = project_document(view(Tier.REVIEWED, files, policy), upstream_doc(files, "2.0"), own, LINKS)
    assert doc is not None and doc["info"]["requires_dist"] == ["old-dep"]
    assert doc["_mirror"]["info"] == "upstream"


def test_nothing_served_means_no_document() -> None:
    files = [wheel("1.0", age_days=1)]
    policy = ProjectPolicy("demo", "demo.toml", review=Review(SIG, HERE))
    assert project_document(view(Tier.REVIEWED, files, policy), None, None, LINKS) is None
    blocked = ProjectPolicy("demo", "demo.toml", blocks=(Block(None, "evil", SIG, HERE),))
    assert project_document(view(Tier.ALL, files, blocked), None, None, LINKS) is None


def test_release_documents_match_versions_canonically_and_have_no_releases_key() -> None:
    files = [wheel("2.0.0"), wheel("1.0")]
    v = view(Tier.ALL, files)
    assert find_release(v, "2.0") == "2.0.0" and find_release(v, "2") == "2.0.0" and find_release(v, "3") is None
    doc = release_document(v, "2", upstream_doc(files, "2.0.0"), None, LINKS)
    assert doc is not None and "releases" not in doc
    assert doc["info"]["version"] == "2.0.0" and [f["filename"] for f in doc["urls"]] == [files[0].filename]
    assert release_document(v, "3.0", None, None, LINKS) is None


def test_a_blocked_release_is_absent() -> None:
    files = [wheel("1.0"), wheel("2.0")]
    policy = ProjectPolicy("demo", "demo.toml", blocks=(Block(SpecifierSet("==2.0"), "bad", SIG, HERE),))
    v = view(Tier.ALL, files, policy)
    doc = project_document(v, upstream_doc(files, "2.0"), None, LINKS)
    assert doc is not None and list(doc["releases"]) == ["1.0"] and doc["info"]["version"] == "1.0"
    assert release_document(v, "2.0", None, None, LINKS) is None


def test_vetted_serves_the_pinned_files_only() -> None:
    files = [wheel("1.0"), sdist("1.0")]
    policy = ProjectPolicy("demo", "demo.toml", review=Review(SIG, HERE), vettings={
        canonical_version("1.0"): Vetting("1.0", {files[0].filename: files[0].sha256}, SIG, HERE)})
    doc = project_document(view(Tier.VETTED, files, policy), None, None, LINKS)
    assert doc is not None and [f["filename"] for f in doc["releases"]["1.0"]] == [files[0].filename]
    assert doc["_mirror"]["info"] == "simple-api"


def test_upstreams_json_cannot_add_files_change_hashes_or_rename_the_project() -> None:
    files = [wheel("1.0")]
    hostile = json.dumps({
        "info": {"name": "evil", "version": "1.0", "summary": {"nested": "junk"}},
        "releases": {"1.0": [{"filename": files[0].filename, "digests": {"sha256": "f" * 64, "md5": "e" * 32}},
                             {"filename": "evil-1.0-py3-none-any.whl", "url": "https://evil.example/x.whl",
                              "digests": {"sha256": "a" * 64}}]},
        "vulnerabilities": [{"no": "id"}, "junk", {"id": "X-1", "aliases": "not a list"}],
        "ownership": {"roles": [{"role": "Owner"}, {"role": "Owner", "user": "eve"}]},
    }).encode()
    doc = project_document(view(Tier.ALL, files), parse_document(hostile), None, LINKS)
    assert doc is not None
    assert [f["filename"] for f in doc["releases"]["1.0"]] == [files[0].filename]
    entry = doc["releases"]["1.0"][0]
    assert entry["digests"] == {"sha256": files[0].sha256}  # their md5 belongs to other bytes: dropped
    assert entry["url"].startswith("https://mirror.example/")
    assert doc["info"]["name"] == "Demo"  # the page's own name, not the document's
    assert doc["info"]["summary"] is None
    assert doc["vulnerabilities"] == [{"id": "X-1", "aliases": [], "fixed_in": [], "source": None, "link": None,
                                       "details": "", "summary": None, "withdrawn": None}]
    assert doc["ownership"]["roles"] == [{"role": "Owner", "user": "eve"}]


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"info": 1}', b'{"releases": {}}'])
def test_documents_that_are_not_json_api_documents_are_parse_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_document(body)


def test_file_entries_have_the_public_indexs_fields() -> None:
    f = wheel("1.0", yanked="broken", requires_python=">=3.9")
    entry = file_entry(f, "https://m.example/x", None)
    assert set(entry) >= {"comment_text", "digests", "downloads", "filename", "has_sig", "md5_digest",
                          "packagetype", "python_version", "requires_python", "size", "upload_time",
                          "upload_time_iso_8601", "url", "yanked", "yanked_reason"}
    assert entry["yanked"] is True and entry["yanked_reason"] == "broken" and entry["requires_python"] == ">=3.9"
    assert entry["upload_time"] == "2026-10-26T12:00:00"
    assert entry["upload_time_iso_8601"] == "2026-10-26T12:00:00.000000Z"
    assert entry["python_version"] == "py3" and entry["core-metadata"] is False


def test_admitted_releases_are_in_version_order() -> None:
    files = [wheel("10.0"), wheel("9.0"), wheel("1.0a1")]
    assert list(admitted_releases(view(Tier.ALL, files))) == ["1.0a1", "9.0", "10.0"]
