"""The admin API under ``/api/v1`` (described by ``/api/v1/openapi.json``, :mod:`mirror.web.openapi`).

Changes run the reviewer commands' own code (:class:`mirror.services.admin.AdminActions`) with the token's name
as the actor. Bodies are JSON (``{"note": ...}`` / ``{"reason": ...}``), or a form posted by the UI's buttons:
then the answer is a redirect back to the page (``next``) with the outcome shown there. Every route needs a
token or a browser session (401 without, 403 for a role that may not, 403 for a session without its CSRF
token, 429 past the rate limit); errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from aiohttp import web
from packaging.utils import canonicalize_name

from mirror.adapters.db.audit import AuditRecord
from mirror.adapters.db.tokens import TokenRecord
from mirror.core.auth import Action, TokenError
from mirror.core.errors import ReviewError
from mirror.core.models import Tier
from mirror.core.policy.paths import relative_paths
from mirror.services.admin import Change
from mirror.services.review.audit import AuditUnavailable
from mirror.web.auth import FORM_TYPES, authorize, json_error, read_form
from mirror.web.explain import explain_data
from mirror.web.names import is_project_name
from mirror.web.openapi import openapi_route
from mirror.web.state import SERVICES
from mirror.web.templating import flash, local_target

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: The text each change must have (the CLI's --reason), checked before anything runs.
_REQUIRED = {Action.DEMOTE: "reason", Action.BLOCK: "reason", Action.UNBLOCK: "reason", Action.UNVET: "reason"}
_MAX_PAGE = 500


async def read_body(request: web.Request) -> tuple[dict[str, Any], bool]:
    """The request's body as a dict, and whether it was a form; 400/415 JSON errors for anything else."""
    if request.content_type in FORM_TYPES:
        return await read_form(request), True
    try:
        text = (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise json_error(400, "the body is not UTF-8 text") from None
    if not text.strip():
        return {}, False
    if request.content_type not in ("application/json", "application/octet-stream"):
        raise json_error(415, "send a JSON object (Content-Type: application/json)")
    try:
        data = json.loads(text)
    except ValueError:
        raise json_error(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise json_error(400, "the body must be a JSON object")
    return data, False


def _project(request: web.Request) -> str:
    raw = request.match_info["project"]
    if not is_project_name(raw):
        raise json_error(404, f"{raw[:100]!r} is not a valid project name")
    return canonicalize_name(raw)


def change_handler(action: Action, *, release: bool) -> Handler:
    """The route of ``action`` on a project (``release`` False) or on one of its releases."""

    async def handler(request: web.Request) -> web.StreamResponse:
        services = request.app[SERVICES]
        identity = await authorize(request, action)
        body, is_form = await read_body(request)
        name = _project(request)
        version = request.match_info.get("version") if release else None
        target = local_target(body.get("next"), f"/ui/projects/{name}") if is_form else ""
        required = _REQUIRED.get(action)
        try:
            if required and not str(body.get(required) or "").strip():
                raise ReviewError(f"'{required}' is required: say why (it is recorded in the audit log)")
            outcome = await services.admin.apply(Change(action, name, version, identity.name, body))
        except AuditUnavailable as exc:
            _refused(request, 503, str(exc), target)
        except ReviewError as exc:
            _refused(request, 422, str(exc), target)
        lines = relative_paths(list(outcome.lines), str(services.config.policies.path))
        if is_form:
            response = web.HTTPSeeOther(target)
            flash(response, request, True, lines)
            raise response
        return web.json_response({
            "ok": True, "action": action.value, "project": name, "version": version, "by": identity.name,
            "lines": lines, "audit_ids": list(outcome.audit_ids),
            "policy_version": services.policies.current.version}, headers={"Cache-Control": "no-store"})

    return handler


def _refused(request: web.Request, status: int, message: str, target: str) -> NoReturn:
    """Answer a refused change: back to the form's page with the message, or a JSON error."""
    text = relative_paths(message, str(request.app[SERVICES].config.policies.path))
    if target:
        response = web.HTTPSeeOther(target)
        flash(response, request, False, text.splitlines())
        raise response
    raise json_error(status, text)


def _int(request: web.Request, key: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise json_error(400, f"'{key}' must be an integer") from None
    if not low <= value <= high:
        raise json_error(400, f"'{key}' must be between {low} and {high}")
    return value


async def project_route(request: web.Request) -> web.Response:
    await authorize(request, Action.READ)
    version = request.query.get("version") or None
    if version is not None and len(version) > 128:
        raise json_error(400, "'version' is too long")
    data = await explain_data(request.app[SERVICES], _project(request), version)
    return web.json_response(data, headers={"Cache-Control": "no-store"})


async def demand_route(request: web.Request) -> web.Response:
    await authorize(request, Action.READ)
    tier = request.query.get("tier") or None
    if tier is not None and tier not in {t.value for t in Tier}:
        raise json_error(400, "'tier' must be all, reviewed or vetted")
    offset = _int(request, "offset", 0, 0, 10_000_000) or 0
    limit = _int(request, "limit", 50, 1, _MAX_PAGE) or 50
    rows, total = await request.app[SERVICES].ui.demand_page(tier, offset, limit)
    return web.json_response({"total": total, "offset": offset, "limit": limit, "entries": [{
        "tier": r.entry.tier, "project": r.entry.project, "version": r.entry.version or None,
        "count": r.entry.count, "first_at": r.entry.first_at, "last_at": r.entry.last_at,
        "admitted": r.decision.admitted, "rule": r.decision.rule, "change": r.decision.change,
    } for r in rows]}, headers={"Cache-Control": "no-store"})


def _record(r: AuditRecord) -> dict[str, Any]:
    return {"id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "target": r.target,
            "note": r.note, "before": r.before, "after": r.after}


async def audit_route(request: web.Request) -> web.Response:
    await authorize(request, Action.READ)
    project = request.query.get("project") or None
    if project is not None:
        if not is_project_name(project):
            raise json_error(400, "'project' is not a valid project name")
        project = canonicalize_name(project)
    actor = request.query.get("actor") or None
    before = _int(request, "before", None, 1, 2**62)
    limit = _int(request, "limit", 50, 1, _MAX_PAGE) or 50
    records = await request.app[SERVICES].ui.audit_page(project, actor, before, limit)
    following = records[-1].id if len(records) == limit else None
    return web.json_response({"records": [_record(r) for r in records], "next_before": following},
                             headers={"Cache-Control": "no-store"})


async def me_route(request: web.Request) -> web.Response:
    identity = await authorize(request, Action.READ)
    return web.json_response({"name": identity.name, "role": identity.role.value,
                              "session": identity.session_id is not None}, headers={"Cache-Control": "no-store"})


def _token(t: TokenRecord, now: float) -> dict[str, Any]:
    return {"key_id": t.key_id, "name": t.name, "role": t.role, "created_at": t.created_at,
            "expires_at": t.expires_at, "revoked_at": t.revoked_at, "last_used_at": t.last_used_at,
            "valid": t.valid_at(now)}


async def tokens_route(request: web.Request) -> web.Response:
    await authorize(request, Action.TOKENS)
    now = time.time()
    tokens = await request.app[SERVICES].tokens.tokens()
    return web.json_response({"tokens": [_token(t, now) for t in tokens]}, headers={"Cache-Control": "no-store"})


async def create_token_route(request: web.Request) -> web.Response:
    await authorize(request, Action.TOKENS)
    body, _ = await read_body(request)
    name, role, days = body.get("name"), body.get("role", "reviewer"), body.get("expires_days")
    if not isinstance(name, str) or not isinstance(role, str) or (
            days is not None and (isinstance(days, bool) or not isinstance(days, int | float))):
        raise json_error(400, "give 'name' (a string), optionally 'role' (reviewer or admin) and 'expires_days'")
    try:
        record, text = await request.app[SERVICES].tokens.create(name, role, days)
    except TokenError as exc:
        raise json_error(422, str(exc)) from None
    return web.json_response({"token": text, **_token(record, record.created_at)}, status=201,
                             headers={"Cache-Control": "no-store"})


async def revoke_token_route(request: web.Request) -> web.Response:
    await authorize(request, Action.TOKENS)
    key_id = request.match_info["key_id"]
    services = request.app[SERVICES]
    if await services.tokens.get(key_id) is None:
        raise json_error(404, f"no token with key id {key_id[:40]!r}")
    try:
        revoked = await services.tokens.revoke(key_id)
    except TokenError as exc:
        raise json_error(409, str(exc)) from None
    return web.json_response({"revoked": [t.key_id for t in revoked]}, headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    """Every ``/api/v1`` route (the OpenAPI test checks this list against the description)."""
    router = app.router
    router.add_get("/api/v1/openapi.json", openapi_route)
    router.add_get("/api/v1/me", me_route)
    router.add_get("/api/v1/projects/{project}", project_route)
    for action in (Action.PROMOTE, Action.DEMOTE, Action.BLOCK, Action.UNBLOCK):
        router.add_post(f"/api/v1/projects/{{project}}/{action.value}", change_handler(action, release=False))
    for action in (Action.VET, Action.UNVET, Action.BLOCK, Action.UNBLOCK):
        router.add_post(f"/api/v1/projects/{{project}}/releases/{{version}}/{action.value}",
                        change_handler(action, release=True))
    router.add_get("/api/v1/demand", demand_route)
    router.add_get("/api/v1/audit", audit_route)
    router.add_get("/api/v1/tokens", tokens_route)
    router.add_post("/api/v1/tokens", create_token_route)
    router.add_delete("/api/v1/tokens/{key_id}", revoke_token_route)
