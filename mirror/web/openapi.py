"""The OpenAPI 3.1 description of the admin API, served at ``/api/v1/openapi.json``.

Tests check it against the application both ways (every route of the app under ``/api/v1`` is described and
every described operation exists) and validate the API's answers against its schemas.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

_TEXT = {"type": "string", "maxLength": 2000}
_NULLABLE_STRING = {"type": ["string", "null"]}
_NUMBER_OR_NULL = {"type": ["number", "null"]}


def _obj(properties: dict[str, Any], required: list[str] | None = None, *, extra: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "429": {"$ref": "#/components/responses/TooManyRequests"},
}
_CHANGE_ERRORS = {
    **_ERRORS,
    "400": {"$ref": "#/components/responses/BadRequest"},
    "404": {"$ref": "#/components/responses/NotFound"},
    "415": {"$ref": "#/components/responses/BadRequest"},
    "422": _json(_ref("Error"), "The command refused: the message says why (nothing changed)"),
    "503": _json(_ref("Error"), "The audit log cannot be written, so nothing changed"),
}
_PROJECT = {"name": "project", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 200},
            "description": "A project name (any spelling; normalized)"}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 128},
            "description": "A PEP 440 version"}

_CHANGES = {
    "promote": ("Admit a project to the reviewed tier (mirror promote)", "PromoteBody", "reviewer"),
    "demote": ("Remove a project from the reviewed and vetted tiers (mirror demote)", "ReasonBody", "reviewer"),
    "block": ("Block a project in every tier (mirror block)", "ReasonBody", "reviewer"),
    "unblock": ("Lift a project's block (mirror unblock)", "ReasonBody", "admin"),
}
_RELEASE_CHANGES = {
    "vet": ("Admit a release to the vetted tier, pinning its files' sha256 (mirror vet)", "VetBody", "reviewer"),
    "unvet": ("Remove a release from the vetted tier (mirror unvet)", "ReasonBody", "reviewer"),
    "block": ("Block one release in every tier (mirror block PROJECT==VERSION)", "ReasonBody", "reviewer"),
    "unblock": ("Lift the block of one release (mirror unblock PROJECT==VERSION)", "ReasonBody", "admin"),
}


def _change(summary: str, body: str, role: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "summary": summary,
        "description": f"Needs a {role} token. The actor recorded in the audit log is the token's name. "
                       "A browser session must send its CSRF token (X-CSRF-Token header, or the csrf_token "
                       "field of a form; a form is answered with a redirect to its 'next' page).",
        "parameters": params,
        "requestBody": {"required": body == "ReasonBody", "content": {
            "application/json": {"schema": _ref(body)},
            "application/x-www-form-urlencoded": {"schema": _ref(body)}}},
        "responses": {"200": _json(_ref("ChangeResult"), "Done: the policy file changed, audit record first"),
                      "303": {"description": "A form was posted: back to its 'next' page"},
                      **_CHANGE_ERRORS},
        "x-mirror-role": role,
    }


def _read(summary: str, schema: str, params: list[dict[str, Any]], role: str = "reviewer") -> dict[str, Any]:
    errors = dict(_ERRORS)
    errors["400"] = {"$ref": "#/components/responses/BadRequest"}
    return {"summary": summary, "parameters": params, "x-mirror-role": role,
            "responses": {"200": _json(_ref(schema), summary), **errors}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _schemas() -> dict[str, Any]:
    decision = _obj({"tier": {"enum": ["all", "reviewed", "vetted"]}, "admitted": {"type": "boolean"},
                     "rule": {"type": "string"}, "where": _NULLABLE_STRING, "change": _NULLABLE_STRING,
                     "files": {"type": "array", "items": _obj({
                         "filename": {"type": "string"}, "admitted": {"type": "boolean"},
                         "rule": {"type": "string"}, "change": {"type": "string"}},
                         ["filename", "admitted", "rule"])}},
                    ["tier", "admitted", "rule", "where", "change", "files"])
    token = _obj({"key_id": {"type": "string"}, "name": {"type": "string"},
                  "role": {"enum": ["reviewer", "admin"]}, "created_at": {"type": "number"},
                  "expires_at": _NUMBER_OR_NULL, "revoked_at": _NUMBER_OR_NULL, "last_used_at": _NUMBER_OR_NULL,
                  "valid": {"type": "boolean"}},
                 ["key_id", "name", "role", "created_at", "expires_at", "revoked_at", "last_used_at", "valid"])
    return {
        "Error": _obj({"error": {"type": "string"}}, ["error"]),
        "PromoteBody": _obj({"note": _TEXT, "allow_similar": {"type": ["boolean", "string"]},
                             "csrf_token": {"type": "string"}, "next": {"type": "string"}}),
        "VetBody": _obj({"note": _TEXT, "override_uploaders": {"type": ["boolean", "string"]},
                         "trust_publisher": {"type": "string"}, "csrf_token": {"type": "string"},
                         "next": {"type": "string"}}),
        "ReasonBody": _obj({"reason": {**_TEXT, "minLength": 1}, "csrf_token": {"type": "string"},
                            "next": {"type": "string"},
                            "force": {"type": ["boolean", "string"], "description": "demote, block, unvet: make the "
                                      "change even though it leaves a dependency unserved (said and audited)"}},
                           ["reason"]),
        "ChangeResult": _obj({"ok": {"const": True}, "action": {"type": "string"}, "project": {"type": "string"},
                              "version": _NULLABLE_STRING, "by": {"type": "string"},
                              "lines": {"type": "array", "items": {"type": "string"}},
                              "audit_ids": {"type": "array", "items": {"type": "integer"}},
                              "policy_version": {"type": "string"}},
                             ["ok", "action", "project", "version", "by", "lines", "audit_ids", "policy_version"]),
        "Explanation": _obj({"project": {"type": "string"}, "version": _NULLABLE_STRING,
                             "tiers": {"type": "array", "items": decision},
                             "notes": {"type": "array", "items": {"type": "string"}},
                             "policy_version": {"type": "string"}},
                            ["project", "version", "tiers", "notes", "policy_version"]),
        "DemandPage": _obj({"total": {"type": "integer"}, "offset": {"type": "integer"}, "limit": {"type": "integer"},
                            "entries": {"type": "array", "items": _obj({
                                "tier": {"type": "string"}, "project": {"type": "string"},
                                "version": _NULLABLE_STRING, "count": {"type": "integer"},
                                "first_at": {"type": "number"}, "last_at": {"type": "number"},
                                "admitted": {"type": "boolean"}, "rule": {"type": "string"},
                                "change": _NULLABLE_STRING},
                                ["tier", "project", "version", "count", "first_at", "last_at", "admitted", "rule",
                                 "change"])}},
                           ["total", "offset", "limit", "entries"]),
        "AuditPage": _obj({"records": {"type": "array", "items": _obj({
            "id": {"type": "integer"}, "at": {"type": "number"}, "actor": {"type": "string"},
            "action": {"type": "string"}, "target": {"type": "string"}, "note": {"type": "string"},
            "before": _NULLABLE_STRING, "after": _NULLABLE_STRING},
            ["id", "at", "actor", "action", "target", "note", "before", "after"])},
            "next_before": {"type": ["integer", "null"]}}, ["records", "next_before"]),
        "Me": _obj({"name": {"type": "string"}, "role": {"enum": ["reviewer", "admin"]},
                    "session": {"type": "boolean"}}, ["name", "role", "session"]),
        "Token": token,
        "TokenList": _obj({"tokens": {"type": "array", "items": _ref("Token")}}, ["tokens"]),
        "NewTokenBody": _obj({"name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$"},
                              "role": {"enum": ["reviewer", "admin"]},
                              "expires_days": {"type": "number", "exclusiveMinimum": 0, "maximum": 3650}},
                             ["name"]),
        "NewToken": {"allOf": [_ref("Token"), _obj({"token": {"type": "string"}}, ["token"])]},
        "Revoked": _obj({"revoked": {"type": "array", "items": {"type": "string"}}}, ["revoked"]),
    }


@functools.cache
def description() -> dict[str, Any]:
    """The OpenAPI document (built once)."""
    paths: dict[str, Any] = {
        "/api/v1/me": {"get": _read("Who the credentials are", "Me", [])},
        "/api/v1/projects/{project}": {"get": _read(
            "Explain a project (or one release): in or out of each tier, the deciding rule, how to change it",
            "Explanation", [_PROJECT, _query("version", {"type": "string", "maxLength": 128},
                                             "explain this release")])},
        "/api/v1/demand": {"get": _read("What clients asked a tier for and did not get, most requested first",
                                        "DemandPage", [
                                            _query("tier", {"enum": ["all", "reviewed", "vetted"]}, "one tier"),
                                            _query("offset", {"type": "integer", "minimum": 0}, "skip this many"),
                                            _query("limit", {"type": "integer", "minimum": 1, "maximum": 500},
                                                   "at most this many (50)")])},
        "/api/v1/audit": {"get": _read("The audit log, newest first", "AuditPage", [
            _query("project", {"type": "string"}, "only this project and its releases"),
            _query("actor", {"type": "string"}, "only this actor"),
            _query("before", {"type": "integer", "minimum": 1}, "records older than this id (next_before)"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "at most this many (50)")])},
        "/api/v1/tokens": {
            "get": _read("Every token (never its secret)", "TokenList", [], role="admin"),
            "post": {"summary": "Create a token (its text is in this answer only)", "x-mirror-role": "admin",
                     "requestBody": {"required": True,
                                     "content": {"application/json": {"schema": _ref("NewTokenBody")}}},
                     "responses": {"201": _json(_ref("NewToken"), "Created"), **_ERRORS,
                                   "400": {"$ref": "#/components/responses/BadRequest"},
                                   "422": _json(_ref("Error"), "Bad name, role or expiry")}},
        },
        "/api/v1/tokens/{key_id}": {"delete": {
            "summary": "Revoke a token (its sessions end)", "x-mirror-role": "admin",
            "parameters": [{"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json(_ref("Revoked"), "Revoked"), **_ERRORS,
                          "404": {"$ref": "#/components/responses/NotFound"},
                          "409": _json(_ref("Error"), "Already revoked")}}},
    }
    for action, (summary, body, role) in _CHANGES.items():
        paths[f"/api/v1/projects/{{project}}/{action}"] = {"post": _change(summary, body, role, [_PROJECT])}
    for action, (summary, body, role) in _RELEASE_CHANGES.items():
        paths[f"/api/v1/projects/{{project}}/releases/{{version}}/{action}"] = {
            "post": _change(summary, body, role, [_PROJECT, _VERSION])}
    paths["/api/v1/openapi.json"] = {"get": {"summary": "This description", "security": [],
                                             "responses": {"200": {"description": "OpenAPI 3.1 JSON"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "mirror admin API", "version": "1",
                 "description": "Reviewer and admin actions on the tiers of this index, and what they read. "
                                "Create tokens with `mirror token create --name NAME [--role reviewer|admin]`."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token from `mirror token create`"},
                "session": {"type": "apiKey", "in": "cookie", "name": "mirror_session",
                            "description": "A browser session from /ui/login; changes need X-CSRF-Token"},
            },
            "schemas": _schemas(),
            "responses": {
                "BadRequest": _json(_ref("Error"), "A malformed request"),
                "Unauthorized": _json(_ref("Error"), "No credentials, or a token that is unknown, wrong, expired "
                                                     "or revoked"),
                "Forbidden": _json(_ref("Error"), "The token's role may not do this, or a session's CSRF token is "
                                                  "missing or wrong"),
                "NotFound": _json(_ref("Error"), "No such project name or token"),
                "TooManyRequests": _json(_ref("Error"), "Over the per-address rate limit (Retry-After says when)"),
            },
        },
    }


@functools.cache
def _body() -> bytes:
    return json.dumps(description(), indent=1).encode()


async def openapi_route(request: web.Request) -> web.Response:
    return web.Response(body=_body(), content_type="application/json", headers={"Cache-Control": "max-age=3600"})
