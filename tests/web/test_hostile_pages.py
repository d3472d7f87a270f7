"""Through the mirror: one bad field of an upstream page is dropped (and logged), never the page;
the page's project name is the one the client asked for (issue 17 point 9, issue 9 point 4)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ..support.fake_upstream import JSON_TYPE, FakeUpstream
from ..support.mirror_server import MirrorServer, make_config


class EditingUpstream(FakeUpstream):
    """The fake upstream, its JSON project pages passed through ``edit`` (a hostile or sloppy index)."""

    edit: Callable[[dict[str, Any]], None] = staticmethod(lambda data: None)

    def _project_json(self, *args: Any) -> bytes:
        data = json.loads(super()._project_json(*args))
        self.edit(data)
        return json.dumps(data).encode()


@pytest.fixture
async def editing(tmp_path: Path) -> AsyncIterator[tuple[EditingUpstream, MirrorServer]]:
    up = EditingUpstream()
    await up.start()
    mirror = MirrorServer(make_config(tmp_path, up.url))
    await mirror.start()
    yield up, mirror
    await mirror.stop()
    await up.stop()


async def test_bad_fields_are_dropped_with_a_log_line(editing: Any, dists: Path, caplog: Any) -> None:
    up, mirror = editing
    up.add_wheel("demo", "1.0", dists)
    up.add_wheel("demo", "2.0", dists)

    def edit(data: dict[str, Any]) -> None:
        data["files"][0]["provenance"] = "/integrity/demo/1.0/x/provenance"  # relative: invalid
        data["files"][1]["upload-time"] = "last tuesday"
        data["name"] = "someone-else"

    up.edit = edit
    caplog.set_level(logging.WARNING, logger="mirror.pages")
    async with aiohttp.ClientSession() as http, http.get(mirror.index() + "demo/", headers={"Accept": JSON_TYPE}) as r:
        assert r.status == 200
        page = await r.json(content_type=None)
    assert page["name"] == "demo"
    assert [f["filename"] for f in page["files"]] == ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"]
    assert page["files"][0]["provenance"] is None and "upload-time" not in page["files"][1]
    logged = [r.getMessage() for r in caplog.records if "upstream page repaired" in r.getMessage()]
    assert len(logged) == 2 and any("field=provenance" in m for m in logged)
    assert any("field=upload-time" in m for m in logged)
    assert any("names another project 'someone-else'" in r.getMessage() for r in caplog.records)
