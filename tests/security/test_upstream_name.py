"""Issue 9, point 4: rules are keyed by the name the client asked for (normalized), never by a name upstream's
page supplies; a mismatch is logged."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mirror.core.simple.parse import parse_project_page

from ..support.fake_upstream import JSON_TYPE
from ..support.policies import block, review
from .conftest import get

DAY = timedelta(days=1)


async def versions(http, mirror, tier: str, project: str = "victim") -> list[str]:
    status, body, _ = await get(http, f"{mirror.base}/{tier}/simple/{project}/", Accept=JSON_TYPE)
    assert status == 200, (tier, body)
    data = json.loads(body)
    assert data["name"] == project
    return sorted({f["filename"].split("-")[1] for f in data["files"]})


async def test_a_page_naming_another_project_escapes_none_of_the_rules(upstream, policies, start_mirror, http,
                                                                      tmp_path: Path, caplog):
    caplog.set_level(logging.WARNING, logger="mirror.pages")
    now = datetime.now(UTC)
    for version, age in (("1.0", 100), ("1.1", 100), ("1.2", 10), ("1.3", 100)):
        upstream.add_wheel("victim", version, tmp_path / "d", upload_time=now - age * DAY)
    upstream.stated_names["victim"] = "Escape"  # the page of victim says its name is "escape"
    # victim: 1.0 blocked, 1.1 excluded, a 30-day cooldown (1.2 is 10 days old)
    policies.write_project("victim", review(exclude=["1.1"], cooldown_days=30), block("bad", versions="==1.0"))
    # escape: reviewed with no rule at all; its rules must not apply to victim's page
    policies.write_project("escape", review(cooldown_days=0))
    mirror = await start_mirror()
    assert await versions(http, mirror, "all") == ["1.1", "1.2", "1.3"]
    assert await versions(http, mirror, "reviewed") == ["1.3"]
    status, _, _ = await get(http, f"{mirror.base}/all/files/victim/victim-1.0-py3-none-any.whl")
    assert status == 404
    assert any("names another project 'Escape'" in r.getMessage() for r in caplog.records)


def test_the_parsed_page_is_named_by_the_request() -> None:
    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "other", "files": []}).encode()
    detail = parse_project_page(body, JSON_TYPE, project="Victim", page_url="http://up.example/simple/victim/")
    assert detail.name == "victim" and detail.upstream_name == "other"
