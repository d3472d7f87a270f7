"""Who upstream says may publish a project, as ``vet``, ``explain`` and ``check`` compare it with the recorded
``[uploaders]``: maintainers from the upstream JSON API's ``ownership.roles``, trusted publishers from the
PEP 740 provenance of a release's files."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mirror.core.errors import UpstreamError
from mirror.core.models import DistFile
from mirror.services.review.upstream_reader import UpstreamReader


@dataclass(frozen=True, slots=True)
class Evidence:
    """Who upstream says may publish a project; ``None`` = unknown (and ``notes`` say why)."""

    maintainers: tuple[str, ...] | None
    publishers: tuple[str, ...] | None
    notes: tuple[str, ...] = ()


def publisher_identity(publisher: Any) -> str | None:
    """A PEP 740 publisher object as one identity string (``GitHub:owner/repo@release.yml``)."""
    if not isinstance(publisher, dict):
        return None
    kind = str(publisher.get("kind") or "unknown")
    if kind == "GitHub" and publisher.get("repository"):
        return f"GitHub:{publisher['repository']}@{publisher.get('workflow') or '?'}"
    if kind == "GitLab" and publisher.get("repository"):
        return f"GitLab:{publisher['repository']}@{publisher.get('workflow_filepath') or '?'}"
    if kind == "Google" and publisher.get("email"):
        return f"Google:{publisher['email']}"
    if kind == "CircleCI" and publisher.get("project_id"):
        return f"CircleCI:{publisher['project_id']}/{publisher.get('pipeline_definition_id') or '?'}"
    claims = ",".join(f"{k}={v}" for k, v in sorted(publisher.items())
                      if k not in ("kind", "claims", "environment") and isinstance(v, (str, int)))
    return f"{kind}:{claims}"


def json_api_url(simple_url: str, name: str) -> str | None:
    """The JSON API URL of a project next to a simple index (``.../simple/`` → ``.../pypi/<name>/json``)."""
    if not simple_url.endswith("/simple/"):
        return None
    return simple_url[: -len("simple/")] + f"pypi/{name}/json"


async def upstream_maintainers(upstream: UpstreamReader, name: str) -> tuple[tuple[str, ...] | None, str | None]:
    """Upstream's ``ownership.roles[].user`` of the project: (users, None) or (None, why unknown)."""
    url = json_api_url(upstream.url, name)
    if url is None:
        return None, "upstream has no JSON API next to its simple index: no maintainer evidence"
    try:
        data = await upstream.get_json(url)
    except UpstreamError as exc:
        return None, f"cannot read upstream's JSON API ({exc}): no maintainer evidence"
    if data is None:
        return None, f"upstream's JSON API has no {name} ({url} answered 404): no maintainer evidence"
    roles = data.get("ownership", {}).get("roles") if isinstance(data, dict) and isinstance(
        data.get("ownership"), dict) else None
    if not isinstance(roles, list):
        return None, "upstream's JSON API gives no ownership roles: no maintainer evidence"
    users = {r["user"] for r in roles if isinstance(r, dict) and isinstance(r.get("user"), str)}
    return tuple(sorted(users)), None


async def upstream_publishers(upstream: UpstreamReader, files: Iterable[DistFile]
                              ) -> tuple[tuple[str, ...] | None, str | None]:
    """Trusted publishers named by the PEP 740 provenance of ``files``: (identities, None) or (None, why)."""
    urls = sorted({f.provenance for f in files if f.provenance})
    if not urls:
        return (), None
    found: set[str] = set()
    for url in urls:
        try:
            data = await upstream.get_json(url)
        except UpstreamError as exc:
            return None, f"cannot read provenance ({exc}): no publisher evidence"
        bundles = data.get("attestation_bundles") if isinstance(data, dict) else None
        if not isinstance(bundles, list):
            return None, f"provenance at {url} has no attestation_bundles: no publisher evidence"
        for bundle in bundles:
            identity = publisher_identity(bundle.get("publisher") if isinstance(bundle, dict) else None)
            if identity:
                found.add(identity)
    return tuple(sorted(found)), None


async def uploader_evidence(upstream: UpstreamReader, name: str, files: Iterable[DistFile]) -> Evidence:
    """Both kinds of evidence for the project ``name`` and the files of one of its releases."""
    files = list(files)
    (maintainers, why_m), (publishers, why_p) = await asyncio.gather(upstream_maintainers(upstream, name),
                                                                     upstream_publishers(upstream, files))
    notes = [n for n in (why_m, why_p) if n]
    if publishers == () and not any(f.provenance for f in files):
        notes.append("no PEP 740 provenance on these files: no trusted publisher seen")
    return Evidence(maintainers, publishers, tuple(notes))
