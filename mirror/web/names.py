"""Validation of names taken from request paths, before anything else looks at them."""

from __future__ import annotations

import re

from aiohttp import web

from mirror.core.models import Tier, is_safe_filename

# PEP 508 project names; anything else is never sent upstream.
_PROJECT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$")


def tier_of(request: web.Request) -> Tier:
    """The tier named by the path; raises HTTPNotFound for an unknown one."""
    try:
        return Tier(request.match_info["tier"])
    except ValueError:
        raise web.HTTPNotFound(text=f"no tier {request.match_info['tier']!r}; tiers: "
                               + ", ".join(t.value for t in Tier) + "\n") from None


def is_project_name(name: str) -> bool:
    return bool(_PROJECT.match(name))


def is_filename(name: str) -> bool:
    return is_safe_filename(name)
