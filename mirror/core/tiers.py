"""What a tier serves of a project page, decided in one pure function: :func:`decide_page`.

A page, the policies in force and the mirror's own evidence (metadata it extracted, provenance it verified,
when it first saw each file) go in; a :class:`TierView` comes out: the page as the tier serves it, and for
every release and every file the decision that put it in or kept it out. The pages a client gets, ``mirror
explain`` and the UI all read the same view.

Before any tier rule a file must be *servable*: a plain file name, bytes the mirror can verify (every advertised
hash it can compute is well-formed and consistent, one of them stronger than md5/sha1), and the same sha256 the
mirror first saw under that file name (a release file never changes; different bytes under a known name are
refused in every tier). ``.metadata`` is advertised only with a hash the mirror can check (upstream's own, or
that of metadata it extracted from the verified file); installers abort when advertised metadata is missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from msgspec.structs import replace
from packaging.utils import NormalizedName

from mirror.core.models import (
    DistFile,
    ProjectDetail,
    ProjectStatus,
    Tier,
    is_safe_filename,
)
from mirror.core.policy.evaluate import (
    Decision,
    ProvenanceStatuses,
    ReleaseRules,
    Sighting,
    canonical_version,
    decide_in_release,
    decide_project,
    decide_release,
)
from mirror.core.policy.evidence import NO_ADVISORIES, Advisories, ReleaseLicenses, malware_hold
from mirror.core.policy.model import PolicySet

_NOTHING: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the mirror itself knows about a page's files, beyond what upstream says.

    ``extracted``: a file's sha256 → sha256 of the metadata the mirror extracted from those verified bytes
    (only while both are in the store). ``provenance``: a file's sha256 → the latest background verification
    of its provenance. ``sightings``: file name → when the mirror first saw it, and with which sha256.
    ``advisories`` and ``licenses`` feed the rules from evidence (:mod:`mirror.core.policy.evidence`).
    """

    extracted: Mapping[str, str] = field(default_factory=dict)
    provenance: ProvenanceStatuses = field(default_factory=dict)
    sightings: Mapping[str, Sighting] = field(default_factory=dict)
    #: the advisories known about the project (vulnerabilities, malware reports)
    advisories: Advisories = NO_ADVISORIES
    #: canonical version → the licences read from its files' metadata (absent: not read yet)
    licenses: ReleaseLicenses = field(default_factory=dict)


NO_EVIDENCE = Evidence()


class FileVerdict(msgspec.Struct, frozen=True, gc=False):
    """One file of a release and the decision about it; ``file`` is the form the tier serves when admitted."""

    file: DistFile
    decision: Decision


@dataclass(frozen=True, slots=True)
class ReleaseVerdict:
    """One release (``version`` None: files whose version cannot be read) and the verdict on each of its files."""

    version: str | None
    files: tuple[FileVerdict, ...]

    @property
    def admitted(self) -> bool:
        return any(v.decision.admitted for v in self.files)

    @property
    def decision(self) -> Decision:
        """The release's summary: the first admitting decision, else the first file's."""
        return _summary(self.files)


# Properties delegate to plain functions: mutation testing skips decorated functions (docs/testing.md).
def _summary(files: tuple[FileVerdict, ...]) -> Decision:
    return next((v.decision for v in files if v.decision.admitted), files[0].decision)


@dataclass(frozen=True, slots=True)
class TierView:
    """A tier's view of a project: the project decision, the page as served, and every release's verdicts.

    ``detail`` holds only admitted files (in upstream's order), in the form the tier serves them; for a blocked
    project it is an empty page with PEP 792 status ``quarantined``. ``valid_until`` is when the view may change
    by itself (a cooldown ending), None when it holds until the page, policies or evidence change.
    """

    tier: Tier
    project: Decision
    detail: ProjectDetail
    releases: tuple[ReleaseVerdict, ...] = ()
    valid_until: datetime | None = None
    _by_name: dict[str, DistFile] = field(default_factory=dict, repr=False, compare=False)

    @property
    def listed(self) -> bool:
        """Whether the tier answers with a page at all (a blocked project does: empty and quarantined)."""
        return _listed(self.project, self.detail)

    def file(self, filename: str) -> DistFile | None:
        """The admitted file with exactly this name, as served, or None."""
        return self._by_name.get(filename)

    def release(self, version: str) -> ReleaseVerdict | None:
        """The verdicts of one release (any spelling of its version), or None when upstream lists no file of it."""
        wanted = canonical_version(version) or version
        return next((r for r in self.releases if (canonical_version(r.version) or r.version) == wanted), None)


def _listed(project: Decision, detail: ProjectDetail) -> bool:
    return project.admitted or detail.status.status == "quarantined"


_NOT_CHECKED: dict[str, str] = {}


def unservable(f: DistFile, sighting: Sighting | None = None,
               hashes: Mapping[str, str] | None = _NOT_CHECKED) -> Decision | None:
    """Why no tier serves ``f`` whatever the policies say, or None when the mirror can serve it.

    ``hashes`` is ``f.checked_hashes()`` when the caller already computed it.
    """
    if not is_safe_filename(f.filename):
        return Decision(False, "the file name is not a single plain path segment: served in no tier")
    if (f.checked_hashes() if hashes is _NOT_CHECKED else hashes) is None:
        return Decision(False, "upstream advertises no hash the mirror can verify for this file (none of sha256 or "
                               "stronger, or a malformed or conflicting one): served in no tier")
    if sighting is not None and sighting.sha256 is not None and f.sha256 is not None and f.sha256 != sighting.sha256:
        return Decision(False, f"upstream now lists other bytes under {f.filename} (sha256 {f.sha256}) than when this "
                               f"mirror first saw it on {sighting.first_seen:%Y-%m-%d %H:%M} UTC (sha256 "
                               f"{sighting.sha256}): a published file never changes, so it is served in no tier")
    return None


def servable_file(f: DistFile, extracted: Mapping[str, str], hashes: Mapping[str, str] | None = None) -> DistFile:
    """``f`` (servable) as the mirror serves it: only the hashes it checks (an algorithm it cannot compute is
    not shown), upstream's ``.metadata`` hashes only when verifiable, and ``local_metadata``, the sha256 of
    metadata extracted from the verified file itself (``extracted``: file sha256 → metadata sha256)."""
    if hashes is None:
        hashes = f.checked_hashes()
    assert hashes is not None
    local = extracted.get(hashes.get("sha256", "")) if extracted else None
    metadata = f.checked_metadata()
    if local is None and hashes == f.hashes and metadata == f.core_metadata:
        return f  # the common case: nothing to drop or add (and no copy of thousands of files)
    return replace(f, hashes=hashes, core_metadata=metadata, local_metadata=local)


def advertised_metadata(tier: Tier, f: DistFile, ctx: ReleaseRules) -> DistFile:
    """``f`` (servable, admitted to ``tier``) with the ``.metadata`` the tier advertises for it.

    ``all`` and ``reviewed`` advertise upstream's (verifiable) metadata, else what the mirror extracted.
    ``vetted`` advertises upstream's only when its sha256 is the one pinned at vetting time; otherwise only
    metadata the mirror extracted from the pinned bytes themselves (never upstream's unpinned file).
    """
    upstream = f.core_metadata
    if tier is Tier.VETTED and upstream is not None:
        pin = ctx.vetting.metadata.get(f.filename) if ctx.vetting is not None else None
        if pin is None or upstream.get("sha256") != pin:
            upstream = None
    if upstream is None and f.local_metadata is not None:
        upstream = {"sha256": f.local_metadata}
    if upstream is f.core_metadata:
        return f
    return replace(f, core_metadata=upstream)


def _quarantined(tier: Tier, name: NormalizedName, detail: ProjectDetail | None, project: Decision,
                 reason: str) -> TierView:
    base = detail if detail is not None else ProjectDetail(name=name)
    status = ProjectStatus("quarantined", f"blocked by this index: {reason}")
    return TierView(tier, project, replace(base, name=name, files=(), versions=(), status=status))


class Servable(msgspec.Struct, frozen=True, gc=False):
    """One file of a page before any tier rule: the file as upstream lists it, the form the mirror serves it
    in (None when it cannot serve it, and then ``refused`` says why), and when the mirror first saw it."""

    original: DistFile
    served: DistFile | None
    refused: Decision | None
    sighting: Sighting | None


def servable_page(detail: ProjectDetail, evidence: Evidence) -> tuple[Servable, ...]:
    """Every file of ``detail`` reduced to what the mirror can serve, whatever the tier: shared by the views
    of every tier of one page revision (and one state of the evidence)."""
    sightings, extracted = evidence.sightings, evidence.extracted
    out = []
    for f in detail.files:
        sighting = sightings.get(f.filename) if sightings else None
        hashes = f.checked_hashes()
        refused = unservable(f, sighting, hashes)
        out.append(Servable(f, None if refused is not None else servable_file(f, extracted, hashes), refused,
                            sighting))
    return tuple(out)


def decide_page(tier: Tier, name: str, detail: ProjectDetail | None, evidence: Evidence, policies: PolicySet,
                now: datetime, *, servable: tuple[Servable, ...] | None = None) -> TierView:
    """Decide everything ``tier`` serves of project ``name`` (normalized, as the client asked for it).

    ``detail`` is upstream's page (None when not fetched: enough to answer a project the tier keeps out).
    Rules are those of ``name``, never of a name upstream's page supplies. Each release's rules are evaluated
    once; then each file's (servability, hash and metadata pins, provenance, cooldown). A project the tier
    keeps out gives a view whose ``project`` decision says why and whose page is empty; a blocked project is
    quarantined (PEP 792) in every tier, so installers stop there instead of trying another index.
    ``servable`` is :func:`servable_page` of ``detail`` and ``evidence`` when the caller already has it.
    """
    normalized = NormalizedName(name)
    project = decide_project(tier, normalized, policies)
    if not project.admitted:
        policy = policies.of(normalized)
        block = policy.project_block if policy is not None else None
        if block is not None:
            return _quarantined(tier, normalized, detail, project, block.reason)
        return TierView(tier, project, ProjectDetail(name=normalized))
    malware = malware_hold(normalized, None, evidence.advisories) if evidence.advisories else None
    if malware is not None:  # a report naming every release: quarantined everywhere, as a block is
        return _quarantined(tier, normalized, detail, Decision(False, malware.rule, malware.where, malware.change),
                            malware.rule)
    if detail is None:
        return TierView(tier, project, ProjectDetail(name=normalized))
    if servable is None:
        servable = servable_page(detail, evidence)
    if evidence.advisories:  # every release matched at once, shared by the views of every tier
        evidence.advisories.prepare(normalized, (s.original.version for s in servable))
    rules: dict[str | None, ReleaseRules] = {}
    grouped: dict[str | None, list[FileVerdict]] = {}
    kept: list[DistFile] = []
    valid_until: datetime | None = None
    provenance = evidence.provenance
    for s in servable:
        version = s.original.version
        served = s.served
        if served is None:
            assert s.refused is not None
            grouped.setdefault(version, []).append(FileVerdict(s.original, s.refused))
            continue
        ctx = rules.get(version)
        if ctx is None:
            ctx = rules[version] = decide_release(tier, normalized, version, policies, now,
                                                  advisories=evidence.advisories, licenses=evidence.licenses)
        decision = decide_in_release(ctx, served, now, provenance=provenance, sighting=s.sighting)
        if decision.admitted:
            served = advertised_metadata(tier, served, ctx)
            kept.append(served)
        # a cooldown ending admits a file; a waiver expiring holds one again
        if decision.until is not None and (valid_until is None or decision.until < valid_until):
            valid_until = decision.until
        grouped.setdefault(version, []).append(FileVerdict(served, decision))
    releases = tuple(ReleaseVerdict(v, tuple(files)) for v, files in grouped.items())
    page = replace(detail, name=normalized, files=tuple(kept))
    return TierView(tier, project, page, releases, valid_until, {f.filename: f for f in kept})


def curated_projects(tier: Tier, policies: PolicySet, quarantined: frozenset[str] = frozenset()
                     ) -> tuple[str, ...]:
    """The normalized names the project list of ``reviewed`` or ``vetted`` holds, sorted.

    They come from the policies alone (the display names and serials the list shows come from whatever the
    mirror has cached of upstream), so these lists never wait for upstream's list. ``quarantined`` names the
    projects a malware report covers entirely: listed in no tier.
    """
    return tuple(sorted(n for n in policies.projects
                        if n not in quarantined and decide_project(tier, n, policies).admitted))


def hidden_from_all(policies: PolicySet, quarantined: frozenset[str] = frozenset()) -> frozenset[str]:
    """The normalized names ``all`` leaves out of upstream's project list: blocked projects, and those a malware
    report covers entirely (``quarantined``)."""
    return frozenset(n for n in policies.projects if not decide_project(Tier.ALL, n, policies).admitted) | quarantined


def sightings_of(records: Iterable[tuple[str, str | None, datetime, bool]]) -> dict[str, Sighting]:
    """``(filename, sha256, first_seen, initial)`` rows → the ``sightings`` of :class:`Evidence`."""
    return {filename: Sighting(sha, seen, initial) for filename, sha, seen, initial in records}
