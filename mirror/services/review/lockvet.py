"""``mirror vet --lock FILE``: a team's lock file becomes a vetted set in one command.

Each release the file pins is vetted with exactly the files it names, pinned to the hashes **the lock file**
gives, after comparing them with what upstream advertises now: a file whose hash differs from upstream's (or
that upstream does not list) is refused, file by file, and the others are vetted. A ``pylock.toml`` or
``uv.lock`` names each file; a requirements file (``--hash=sha256:…`` on ``==`` pins) names hashes, each of which
must be the hash of a file of that release upstream. Every project must be reviewed first (``promote``: the
unreviewed ones are promoted in the same run, each through the typo-squat gate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from mirror.adapters.depfiles import is_lock_file
from mirror.core.errors import ReviewError
from mirror.core.models import DistFile, ProjectDetail
from mirror.core.policy.commands import command
from mirror.core.policy.evaluate import canonical_version
from mirror.core.sets import Pinned, SetInput
from mirror.services.review.listing import summarized
from mirror.services.review.service import ReviewService
from mirror.services.review.vet import vet_release

#: Releases compared with upstream at once.
_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class LockOutcome:
    """What ``vet --lock`` did: lines for the reviewer; ``refused`` counts the files (or releases) refused."""

    lines: tuple[str, ...]
    refused: int
    vetted: int


def compare(pinned: Pinned, files: list[DistFile]) -> tuple[dict[str, str], list[str]]:
    """(filename → sha256 to pin, refusals) for one locked release against upstream's ``files`` of it."""
    accepted: dict[str, str] = {}
    refused: list[str] = []
    label = f"{pinned.name} {pinned.version}"
    by_name = {f.filename: f for f in files}
    for filename, hashes in sorted(pinned.files.items()):
        upstream = by_name.get(filename)
        if upstream is None:
            refused.append(f"{label}: {filename}: upstream lists no such file of this release")
            continue
        advertised = upstream.checked_hashes() or {}
        common = sorted(set(hashes) & set(advertised))
        if not common:
            refused.append(f"{label}: {filename}: the lock gives no hash upstream advertises "
                           f"({', '.join(sorted(hashes)) or 'none'} vs {', '.join(sorted(advertised)) or 'none'})")
            continue
        differ = [a for a in common if hashes[a] != advertised[a]]
        if differ:
            a = differ[0]
            refused.append(f"{label}: {filename}: the lock's {a} {hashes[a]} differs from upstream's {advertised[a]}")
            continue
        accepted[filename] = hashes.get("sha256") or advertised["sha256"]
    for algorithm, digest in sorted(pinned.hashes):
        matches = [f for f in files if (f.checked_hashes() or {}).get(algorithm) == digest]
        if not matches:
            refused.append(f"{label}: --hash={algorithm}:{digest} is the hash of no file upstream lists for this "
                           "release")
        for f in matches:
            accepted[f.filename] = (f.checked_hashes() or {})["sha256"]
    return accepted, refused


def _check_pinned(given: SetInput) -> tuple[list[Pinned], list[str]]:
    """The releases of ``given`` with hashes, and lines about those without; ReviewError when a requirements
    file has a requirement that is not an ``==`` pin with hashes (the file does not say what to vet)."""
    pinned = [p for p in given.pinned if p.files or p.hashes]
    without = [f"not vettable: {p.name} {p.version} ({p.origin}): the lock gives no file with a hash"
               for p in given.pinned if not (p.files or p.hashes)]
    if not is_lock_file(Path(given.file)):
        unpinned = sorted({canonicalize_name(r.name) for r in given.roots} - {p.name for p in pinned})
        if unpinned:
            raise ReviewError(f"{given.file}: {summarized(unpinned)} not pinned with == and --hash: vet --lock "
                              "needs the hashes of every release (pip-compile --generate-hashes or uv pip compile "
                              "--generate-hashes write such files)")
    if not pinned:
        raise ReviewError(f"{given.file} names no release with hashes to vet")
    return pinned, without


async def vet_lock(svc: ReviewService, given: SetInput, by: str, note: str | None = None, *,
                   promote: bool = False, allow_similar: bool = False,
                   override_uploaders: bool = False) -> LockOutcome:
    """Vet every release of ``given`` (see the module docstring)."""
    pinned, without = _check_pinned(given)
    policies = svc.policies()
    unreviewed = sorted({p.name for p in pinned if (pol := policies.of(p.name)) is None or pol.review is None})
    lines: list[str] = [f"not vettable: {u}" for u in given.unservable] + without
    if unreviewed and not promote:
        raise ReviewError(f"not reviewed: {summarized(unreviewed)}; promote them first, or in the same run: "
                          + command("mirror", "vet", "--lock", given.file, "--promote", "--by", "NAME",
                                    "--note", "TEXT"))
    if unreviewed:
        plan = await svc.plan_promotion(unreviewed, allow_similar=allow_similar)
        lines += (await svc.apply_promotion(plan, by, note, allow_similar=allow_similar)).lines
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def page(name: str) -> ProjectDetail | ReviewError:
        async with limit:
            try:
                return await svc.upstream.project_detail(name)
            except ReviewError as exc:
                return exc

    names = sorted({p.name for p in pinned})
    pages: Mapping[str, ProjectDetail | ReviewError] = dict(zip(names, await asyncio.gather(*map(page, names)),
                                                                strict=True))
    refused = vetted = 0
    for p in pinned:
        detail = pages[p.name]
        if isinstance(detail, ReviewError):
            lines.append(f"refused {p.name} {p.version}: {detail}")
            refused += 1
            continue
        files = [f for f in detail.files if canonical_version(f.version) == canonical_version(p.version)]
        accepted, refusals = compare(p, files)
        lines += [f"refused {r}" for r in refusals]
        refused += len(refusals)
        if not accepted:
            if not refusals:
                lines.append(f"refused {p.name} {p.version} ({p.origin}): no file to vet")
                refused += 1
            continue
        try:
            outcome = await vet_release(svc, p.name, p.version, by, note, detail=detail, only=accepted,
                                        override_uploaders=override_uploaders)
        except ReviewError as exc:
            lines.append(f"refused {p.name} {p.version} ({p.origin}): {exc}")
            refused += 1
            continue
        lines += outcome.lines
        vetted += outcome.changed
    lines.append(f"{vetted} release(s) vetted, {len(pinned) - vetted} unchanged or refused, {refused} refusal(s)"
                 f" from {given.file}")
    return LockOutcome(tuple(lines), refused, vetted)
