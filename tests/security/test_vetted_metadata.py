"""Issue 9, point 3: a vetted release's `.metadata` is pinned. `mirror vet` records the sha256 of each file's
core metadata; in `vetted` a changed core-metadata hash withholds the file like a changed file (explain says
why); a vetting without a metadata pin advertises only metadata the mirror extracted from the pinned wheel
itself, never upstream's unpinned `.metadata`. `reviewed` and `all` follow upstream as their rules say."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mirror.adapters.policy_dir import load_policies
from mirror.core.errors import PolicyError
from mirror.core.policy import edit
from mirror.core.policy.load import parse_project
from mirror.services.review import ReviewService

from ..support.dists import read_wheel_metadata, sha256_of
from ..support.fake_upstream import JSON_TYPE, FakeFile
from ..support.mirror_server import make_config
from ..support.policies import review, toml_key, vetted
from .conftest import get

OLD = datetime.now(UTC) - timedelta(days=90)  # past every cooldown
CHANGED = b"Metadata-Version: 2.1\nName: lib\nVersion: 1.0\nRequires-Dist: evil-dep\n\n"


def metadata_pin(version: str, pins: dict[str, str]) -> str:
    return f'[vetted."{version}".metadata]\n' + "".join(f"{toml_key(k)} = \"{v}\"\n" for k, v in pins.items())


@pytest.fixture
def wheel(upstream, tmp_path: Path) -> FakeFile:
    return upstream.add_wheel("lib", "1.0", tmp_path / "d", requires_dist=["base<2"], upload_time=OLD)


async def files_of(http, mirror, tier: str) -> dict[str, dict]:
    status, body, _ = await get(http, f"{mirror.base}/{tier}/simple/lib/", Accept=JSON_TYPE)
    assert status == 200, body
    return {f["filename"]: f for f in json.loads(body)["files"]}


async def test_vet_records_the_metadata_hash_and_the_policy_round_trips(upstream, tmp_path, wheel):
    sdist = upstream.add_sdist("lib", "1.0", tmp_path / "d", upload_time=OLD)
    config = make_config(tmp_path / "m", upstream.url)
    async with ReviewService(config) as service:
        await service.promote("lib", "alice", None)
        outcome = await service.vet("lib", "1.0", "alice", "read it")
    (vetting,) = load_policies(config.policies.path).of("lib").vettings.values()
    assert dict(vetting.metadata) == {wheel.filename: sha256_of(wheel.metadata)}  # the sdist has no .metadata
    assert dict(vetting.files) == {wheel.filename: wheel.sha256, sdist.filename: sdist.sha256}
    assert f".metadata sha256 {sha256_of(wheel.metadata)}" in "\n".join(outcome.lines)
    text = (config.policies.path / "projects" / "lib.toml").read_text()
    assert '[vetted."1.0".metadata]' in text
    assert sha256_of(wheel.metadata) in edit.snippet(text, "vetted", "1.0")  # the audit record shows it


def test_metadata_pins_are_validated_with_file_line_and_key() -> None:
    head = review() + "\n" + vetted("1.0", {"lib-1.0-py3-none-any.whl": "ab" * 32}) + "\n"
    ok = parse_project(head + metadata_pin("1.0", {"lib-1.0-py3-none-any.whl": "CD" * 32}), "lib.toml", "lib")
    assert dict(next(iter(ok.vettings.values())).metadata) == {"lib-1.0-py3-none-any.whl": "cd" * 32}
    with pytest.raises(PolicyError) as err:
        parse_project(head + metadata_pin("1.0", {"other-1.0.tar.gz": "cd" * 32}), "lib.toml", "lib")
    assert "not a file of this vetting" in str(err.value) and err.value.line == head.count("\n") + 2
    assert err.value.key == 'vetted."1.0".metadata."other-1.0.tar.gz"'
    with pytest.raises(PolicyError, match="sha256 of the file's .metadata"):
        parse_project(head + metadata_pin("1.0", {"lib-1.0-py3-none-any.whl": "nope"}), "lib.toml", "lib")
    written = edit.set_vetting(edit.new_project_file("lib"), "1.0", {"lib-1.0-py3-none-any.whl": "ab" * 32}, "a",
                               datetime(2026, 1, 1, tzinfo=UTC), metadata={"lib-1.0-py3-none-any.whl": "ef" * 32})
    assert dict(next(iter(parse_project(written, "lib.toml", "lib").vettings.values())).metadata) == {
        "lib-1.0-py3-none-any.whl": "ef" * 32}


async def test_changed_requires_dist_withholds_a_vetted_wheel(upstream, policies, start_mirror, http, wheel):
    policies.write_project("lib", review(), vetted("1.0", {wheel.filename: wheel.sha256}),
                           metadata_pin("1.0", {wheel.filename: sha256_of(wheel.metadata)}))
    mirror = await start_mirror(index_ttl=0)
    assert wheel.filename in await files_of(http, mirror, "vetted")
    # Upstream changes Requires-Dist and advertises the matching hash of the new .metadata; the wheel is the same.
    wheel.metadata = CHANGED
    assert await files_of(http, mirror, "vetted") == {}
    status, _, _ = await get(http, f"{mirror.base}/vetted/files/lib/{wheel.filename}.metadata")
    assert status == 404
    status, body, _ = await get(http, f"{mirror.base}/explain/lib/1.0")
    vetted_tier = next(t for t in json.loads(body)["tiers"] if t["tier"] == "vetted")
    assert not vetted_tier["admitted"] and "core metadata (.metadata)" in vetted_tier["files"][0]["rule"]
    assert sha256_of(CHANGED) in vetted_tier["files"][0]["rule"]
    # reviewed and all follow upstream (the release is past the cooldown; the vetting no longer covers it)
    for tier in ("reviewed", "all"):
        f = (await files_of(http, mirror, tier))[wheel.filename]
        assert f["core-metadata"] == {"sha256": sha256_of(CHANGED)}, tier
        status, body, _ = await get(http, f"{mirror.base}/{tier}/files/lib/{wheel.filename}.metadata")
        assert (status, body) == (200, CHANGED), tier


async def test_without_a_metadata_pin_vetted_serves_only_metadata_from_the_pinned_wheel(
        upstream, policies, start_mirror, http, wheel, tmp_path):
    policies.write_project("lib", review(), vetted("1.0", {wheel.filename: wheel.sha256}))  # an older vetting
    own = read_wheel_metadata(tmp_path / "d" / wheel.filename)
    wheel.metadata = CHANGED  # upstream's .metadata says something the wheel does not
    mirror = await start_mirror(index_ttl=0)
    f = (await files_of(http, mirror, "vetted"))[wheel.filename]
    assert f["core-metadata"] is False  # nothing extracted yet, and upstream's is not pinned
    status, body, error = await get(http, f"{mirror.base}/vetted/files/lib/{wheel.filename}")
    assert (status, error, body) == (200, None, wheel.content)
    f = (await files_of(http, mirror, "vetted"))[wheel.filename]
    assert f["core-metadata"] == {"sha256": sha256_of(own)}
    status, body, _ = await get(http, f"{mirror.base}/vetted/files/lib/{wheel.filename}.metadata")
    assert (status, body) == (200, own) and b"evil-dep" not in body
    # all keeps advertising upstream's own .metadata, as it always has
    assert (await files_of(http, mirror, "all"))[wheel.filename]["core-metadata"] == {"sha256": sha256_of(CHANGED)}
