"""Who upstream says may publish a project, as ``vet``, ``explain`` and ``check`` compare it with the recorded
``[uploaders]``: maintainers from the upstream JSON API's ``ownership.roles``; trusted publishers only from
the PEP 740 provenance of a release's files *as verified* by ``vet`` (the identities whose attestations
verified, from the very documents that were verified), never from the documents' unsigned claims."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mirror.core.errors import UpstreamError
from mirror.core.models import DistFile
from mirror.services.review.upstream_reader import UpstreamReader


@dataclass(frozen=True, slots=True)
class Evidence:
    """Who upstream says may publish a project; ``None`` = unknown (and ``notes`` say why)."""

    maintainers: tuple[str, ...] | None
    publishers: tuple[str, ...] | None
    notes: tuple[str, ...] = ()


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


async def uploader_evidence(upstream: UpstreamReader, name: str, files: Iterable[DistFile],
                            publishers: tuple[str, ...]) -> Evidence:
    """The evidence for the project ``name`` and the files of one of its releases: upstream's maintainers,
    and ``publishers``, the identities whose provenance ``vet`` verified for those files."""
    maintainers, why = await upstream_maintainers(upstream, name)
    notes = [why] if why else []
    if not publishers and not any(f.provenance for f in files):
        notes.append("no PEP 740 provenance on these files: no trusted publisher seen")
    return Evidence(maintainers, publishers, tuple(notes))
