"""Who a request is, and whether it may do what it asks: API tokens, browser sessions, CSRF, rate limits.

A request is identified by ``Authorization: Bearer <token>``, or by the session cookie a browser got by logging
in with a token. A cookie-authenticated request that changes something must carry the session's CSRF token
(``X-CSRF-Token`` header or ``csrf_token`` form field); the cookie is HttpOnly and SameSite=Strict as well.
Admin API requests and login attempts are rate-limited per client address. Only ``/api/v1`` and the UI's login
answer 401/403/429: the Simple API, files and ``/explain`` never look at credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from mirror.core.auth import Action, allowed, same_text
from mirror.services.tokens import Identity
from mirror.web.state import SERVICES

SESSION_COOKIE = "mirror_session"
#: The login form's CSRF token (double submit: the cookie and the form field must match).
LOGIN_CSRF_COOKIE = "mirror_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_IDENTITY: web.RequestKey[Identity | None] = web.RequestKey("identity")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


_ERRORS: dict[int, type[web.HTTPException]] = {cls.status_code: cls for cls in (
    web.HTTPBadRequest, web.HTTPUnauthorized, web.HTTPForbidden, web.HTTPNotFound, web.HTTPConflict,
    web.HTTPRequestEntityTooLarge, web.HTTPUnsupportedMediaType, web.HTTPUnprocessableEntity,
    web.HTTPTooManyRequests, web.HTTPBadGateway, web.HTTPServiceUnavailable, web.HTTPGatewayTimeout)}


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.HTTPException:
    """An HTTP error whose body is ``{"error": message}`` (raise it); ``status`` is one of the API's."""
    return _ERRORS[status](text=json.dumps({"error": message}), content_type="application/json",
                           headers={"Cache-Control": "no-store", **(headers or {})})


async def read_form(request: web.Request, *, json_errors: bool = True) -> dict[str, str]:
    """The text fields of a posted form (aiohttp keeps the parsed form: reading it again costs nothing); a 400
    (JSON, or plain text for a browser's page) when the body is not a well-formed form."""
    try:
        form = await request.post()
    except (ValueError, HttpProcessingError):  # a malformed multipart body or boundary, undecodable text
        if json_errors:
            raise json_error(400, "the body is not a well-formed form") from None
        raise web.HTTPBadRequest(text="the body is not a well-formed form\n") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def rate_limit(request: web.Request, limiter_name: str) -> None:
    """Count this request against the client's budget of ``limiter_name`` ("login" or "api"); raises a 429 JSON
    error with ``Retry-After`` when it is spent."""
    services = request.app[SERVICES]
    limiter = services.login_limit if limiter_name == "login" else services.api_limit
    wait = limiter.take(client_address(request))
    if wait > 0:
        raise json_error(429, f"too many requests: at most {limiter.per_minute} a minute from one address; "
                              f"try again in {wait:.0f} s", {"Retry-After": str(max(1, round(wait)))})


async def identify(request: web.Request) -> Identity | None:
    """The identity of the request's bearer token or session cookie, or None (memoized per request)."""
    if _IDENTITY in request:
        return request[_IDENTITY]
    tokens = request.app[SERVICES].tokens
    identity: Identity | None = None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            identity = await tokens.authenticate(value.strip())
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            identity = await tokens.session(cookie)
    request[_IDENTITY] = identity
    return identity


def check_csrf(identity: Identity, given: str | None) -> None:
    """A session's change must carry its CSRF token; raises a 403 JSON error otherwise."""
    if identity.session_id is None:
        return  # a bearer token is not sent by browsers on their own: no CSRF possible
    if not given or identity.csrf is None or not same_text(given, identity.csrf):
        raise json_error(403, "missing or wrong CSRF token: reload the page and try again")


async def authorize(request: web.Request, action: Action) -> Identity:
    """The caller, allowed to do ``action``: rate limit (429), credentials (401), role (403), and for a browser
    session's request that changes something, its CSRF token (403) from the ``X-CSRF-Token`` header or the
    ``csrf_token`` field of a posted form."""
    rate_limit(request, "api")
    identity = await identify(request)
    if identity is None:
        what = "the token is not valid (unknown, wrong, expired or revoked)" if (
            "Authorization" in request.headers or SESSION_COOKIE in request.cookies) else "no credentials"
        raise json_error(401, f"authentication required: {what}; send 'Authorization: Bearer <token>' "
                              "(`mirror token create`)", {"WWW-Authenticate": 'Bearer realm="mirror"'})
    if not allowed(identity.role, action):
        raise json_error(403, f"a {identity.role.value} token may not {action.value}: an admin token is needed")
    if request.method not in _SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.content_type in FORM_TYPES:
            given = (await read_form(request)).get(CSRF_FIELD)
        check_csrf(identity, given)
    return identity


def cookie_secure(request: web.Request) -> bool:
    mode = request.app[SERVICES].config.web.secure_cookies
    return mode == "always" or request.secure


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, *,
               max_age: int | None = None, path: str = "/") -> None:
    """A cookie only this server's pages send back: HttpOnly, SameSite=Strict, Secure on https."""
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="Strict",
                        secure=cookie_secure(request))


def clear_cookie(response: web.StreamResponse, request: web.Request, name: str, path: str = "/") -> None:
    response.del_cookie(name, path=path, samesite="Strict", secure=cookie_secure(request), httponly=True)
