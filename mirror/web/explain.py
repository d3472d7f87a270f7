"""``/explain/<project>[/<version>]``: the ``mirror explain`` answer as JSON, for anonymous clients.

It names the deciding rule and where it is written (relative to the policy directory), never a reviewer's
note; ``[server] explain = "off"`` removes it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from packaging.utils import canonicalize_name

from mirror.core.policy.paths import relative_paths
from mirror.web.names import is_project_name
from mirror.web.state import SERVICES, Services


async def explain_data(services: Services, project: str, version: str | None) -> dict[str, Any]:
    """The explain answer of ``project`` (normalized) and ``version`` as JSON data, with the policy version."""
    # The very decision the tiers serve: same pages, evidence and policies (from the policies alone, saying
    # so, when upstream cannot be reached and nothing is cached).
    result = await services.prepared.explain(project, version)
    # Anonymous clients see where a rule is written relative to the policy directory, never the server's paths.
    data: dict[str, Any] = relative_paths(result.as_dict(), str(services.config.policies.path))
    data["policy_version"] = services.policies.current.version
    return data


async def explain_route(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    name = request.match_info["project"]
    version = request.match_info.get("version")
    if not is_project_name(name) or (version is not None and not 0 < len(version) <= 128):
        raise web.HTTPNotFound(text="not a valid project name or version\n")
    data = await explain_data(services, canonicalize_name(name), version)
    return web.json_response(data, headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application, mode: str = "public") -> None:
    """The ``/explain`` routes when ``mode`` ([server] explain) is "public"; with "off" they do not exist (404)."""
    if mode != "public":
        return
    app.router.add_get("/explain/{project}", explain_route)
    app.router.add_get("/explain/{project}/{version}", explain_route)
