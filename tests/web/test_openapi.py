"""The OpenAPI description against the implementation: a valid OpenAPI 3.1 document, the same operations as the
application's ``/api/v1`` routes (both ways), and every answer of a run through every operation valid against the
schema the description gives for its status."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
from openapi_spec_validator import validate

from mirror.web.openapi import description

from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer
from ..support.webface import bearer, make_token

OLD = datetime.now(UTC) - timedelta(days=30)


def test_the_description_is_valid_openapi() -> None:
    validate(description())


def _template(path: str) -> str:
    """aiohttp's ``{name}`` placeholders as OpenAPI writes them (the same braces)."""
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", r"{\1}", path)


async def test_described_operations_are_exactly_the_apps(site: MirrorServer) -> None:
    served = set()
    for resource in site.app.router.resources():
        path = _template(resource.canonical)
        if not path.startswith("/api/"):
            continue
        for route in resource:
            if route.method != "HEAD":  # aiohttp adds HEAD to every GET
                served.add((route.method, path))
    described = {(method.upper(), path) for path, ops in description()["paths"].items() for method in ops}
    assert served == described


class Checker:
    """Validates answers against the description's schema for their path, method and status."""

    def __init__(self) -> None:
        self.spec = description()
        self.checked: set[tuple[str, str, int]] = set()

    def response_schema(self, path: str, method: str, status: int) -> dict[str, Any] | None:
        operation = self.spec["paths"][path][method.lower()]
        response = operation["responses"].get(str(status))
        assert response is not None, f"{method} {path} answered {status}, which the description does not list"
        if "$ref" in response:
            response = self.spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        content = response.get("content")
        return content["application/json"]["schema"] if content else None

    def check(self, path: str, method: str, status: int, body: Any) -> None:
        schema = self.response_schema(path, method, status)
        if schema is not None:
            jsonschema.validate(body, {**schema, "components": self.spec["components"]},
                                cls=jsonschema.Draft202012Validator)
        self.checked.add((method.upper(), path, status))


async def test_every_answer_matches_the_description(site: MirrorServer, upstream: FakeUpstream, dists: Path,
                                                    http: aiohttp.ClientSession) -> None:
    upstream.add_wheel("demo-pkg", "1.0", dists, upload_time=OLD)
    admin = await make_token(site.app, "ada", "admin")
    reviewer = await make_token(site.app, "rita")
    checker = Checker()

    async def run(method: str, template: str, path: str, token: str | None, body: Any = None,
                  expect: int = 200) -> Any:
        headers = bearer(token) if token else {}
        async with http.request(method, site.base + path, json=body, headers=headers, allow_redirects=False) as resp:
            data = await resp.json() if resp.content_type == "application/json" else None
            assert resp.status == expect, (method, path, resp.status, data)
            checker.check(template, method, resp.status, data)
            return data

    project = "/api/v1/projects/{project}"
    release = project + "/releases/{version}"
    await run("GET", "/api/v1/me", "/api/v1/me", reviewer)
    await run("GET", "/api/v1/me", "/api/v1/me", None, expect=401)
    await run("GET", project, "/api/v1/projects/demo-pkg", reviewer)
    await run("GET", project, "/api/v1/projects/demo-pkg?version=1.0", reviewer)
    await run("POST", project + "/promote", "/api/v1/projects/demo-pkg/promote", reviewer, {"note": "ok"})
    await run("POST", project + "/promote", "/api/v1/projects/demo-pkg/promote", reviewer, {})  # nothing changed
    await run("POST", project + "/promote", "/api/v1/projects/no-such-project/promote", reviewer, {}, expect=422)
    await run("POST", release + "/vet", "/api/v1/projects/demo-pkg/releases/1.0/vet", reviewer, {"note": "read"})
    await run("POST", release + "/unvet", "/api/v1/projects/demo-pkg/releases/1.0/unvet", reviewer, {"reason": "x"})
    await run("POST", release + "/block", "/api/v1/projects/demo-pkg/releases/1.0/block", reviewer, {"reason": "x"})
    await run("POST", release + "/unblock", "/api/v1/projects/demo-pkg/releases/1.0/unblock", reviewer,
              {"reason": "x"}, expect=403)
    await run("POST", release + "/unblock", "/api/v1/projects/demo-pkg/releases/1.0/unblock", admin, {"reason": "x"})
    await run("POST", project + "/demote", "/api/v1/projects/demo-pkg/demote", reviewer, {"reason": "x"})
    await run("POST", project + "/block", "/api/v1/projects/demo-pkg/block", reviewer, {"reason": "x"})
    await run("POST", project + "/unblock", "/api/v1/projects/demo-pkg/unblock", admin, {"reason": "x"})
    await run("POST", project + "/demote", "/api/v1/projects/..x/demote", reviewer, {"reason": "x"}, expect=404)
    await run("GET", "/api/v1/demand", "/api/v1/demand?tier=reviewed&limit=5", reviewer)
    await run("GET", "/api/v1/demand", "/api/v1/demand?tier=nope", reviewer, expect=400)
    audit = await run("GET", "/api/v1/audit", "/api/v1/audit?project=demo-pkg&limit=2", reviewer)
    await run("GET", "/api/v1/audit", f"/api/v1/audit?before={audit['next_before']}", reviewer)
    await run("GET", "/api/v1/tokens", "/api/v1/tokens", admin)
    await run("GET", "/api/v1/tokens", "/api/v1/tokens", reviewer, expect=403)
    made = await run("POST", "/api/v1/tokens", "/api/v1/tokens", admin, {"name": "bot", "role": "admin"}, expect=201)
    await run("POST", "/api/v1/tokens", "/api/v1/tokens", admin, {"name": 3}, expect=400)
    await run("DELETE", "/api/v1/tokens/{key_id}", f"/api/v1/tokens/{made['key_id']}", admin)
    await run("DELETE", "/api/v1/tokens/{key_id}", f"/api/v1/tokens/{made['key_id']}", admin, expect=409)
    await run("DELETE", "/api/v1/tokens/{key_id}", "/api/v1/tokens/ffffffffffffffff", admin, expect=404)
    async with http.get(f"{site.base}/api/v1/openapi.json") as resp:
        assert resp.status == 200 and json.loads(await resp.read()) == json.loads(json.dumps(description()))
        checker.check("/api/v1/openapi.json", "GET", 200, None)
    # Every described operation was exercised with a successful answer.
    succeeded = {(m, p) for m, p, status in checker.checked if status < 300}
    described = {(m.upper(), p) for p, ops in description()["paths"].items() for m in ops}
    assert succeeded == described
