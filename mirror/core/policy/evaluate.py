"""Pure policy evaluation: is a project, or one file, in a tier, and which rule decided.

``vetted`` ⊆ ``reviewed`` ⊆ ``all`` holds by construction: each tier first asks the tier below it.
Every :class:`Decision` names the rule, where it is written, and the command that would change it,
which is what ``mirror explain`` prints.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import msgspec
from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from mirror.core.models import DistFile, Tier
from mirror.core.policy.commands import command, release
from mirror.core.policy.evidence import (
    NO_ADVISORIES,
    NOTHING,
    Advisories,
    Outcome,
    ReleaseLicenses,
    describe_waiver,
    judge_release,
    malware_hold,
)
from mirror.core.policy.model import (
    DEFAULT_LOCATION,
    Location,
    PolicySet,
    ProjectPolicy,
    ProvenanceStatus,
    PublisherSyntaxError,
    Review,
    TrustedPublisher,
    Vetting,
    WaivedRule,
    Waiver,
    parse_identity,
    spec_contains,
)

#: sha256 of a file → the latest background verification of the provenance upstream serves for it now.
ProvenanceStatuses = Mapping[str, ProvenanceStatus]
_NO_STATUS: ProvenanceStatuses = {}


@dataclass(frozen=True, slots=True)
class Decision:
    """In or out of a tier, why, where the deciding rule is written, and how to change it."""

    admitted: bool
    rule: str
    where: Location | None = None
    change: str | None = None
    #: when the decision changes by itself: a cooldown ends (admitted then), a waiver expires (held then)
    until: datetime | None = None
    #: rules in shadow mode ("warn") that would keep an admitted release out: it is served, counted and logged
    warnings: tuple[str, ...] = ()
    #: rules a waiver lifts for this admitted release, with the waiver's expiry
    waived: tuple[str, ...] = ()


def _canonical_version(version: str | None) -> str | None:
    """The canonical form versions are compared in, or None for an unparseable version."""
    if version is None:
        return None
    try:
        return canonicalize_version(Version(version))
    except InvalidVersion:
        return None


def _prerelease(version: str | None) -> bool:
    try:
        return version is not None and Version(version).is_prerelease
    except InvalidVersion:
        return False


# Versions repeat across files, tiers and policy generations: parse each string once (pure functions).
# Cached by wrapping, not by decorating: mutation testing skips decorated functions (docs/testing.md).
canonical_version = functools.lru_cache(maxsize=1 << 16)(_canonical_version)
_is_prerelease = functools.lru_cache(maxsize=1 << 16)(_prerelease)
_parse = functools.lru_cache(maxsize=1 << 16)(Version)


def decide_project(tier: Tier, name: str, policies: PolicySet) -> Decision:
    """Whether the project as a whole is served in ``tier`` (its files are decided separately)."""
    policy = policies.of(name)
    block = policy.project_block if policy else None
    if block is not None:
        return Decision(False, f"blocked: {block.reason} (by {block.signed.by})", block.where,
                        command("mirror", "unblock", name, "--by", "NAME", "--reason", "TEXT"))
    if tier is Tier.ALL:
        return Decision(True, "not blocked: every upstream project is in 'all'", DEFAULT_LOCATION,
                        command("mirror", "block", name, "--by", "NAME", "--reason", "TEXT"))
    if policy is None or policy.review is None:
        return Decision(False, "not reviewed: no [review] for this project", None,
                        command("mirror", "promote", name, "--by", "NAME", "--note", "TEXT"))
    if tier is Tier.REVIEWED:
        return Decision(True, f"reviewed by {policy.review.signed.by}", policy.review.where,
                        command("mirror", "demote", name, "--by", "NAME", "--reason", "TEXT"))
    if not policy.vettings:
        return Decision(False, "no release of this project is vetted", policy.review.where,
                        command("mirror", "vet", name, "VERSION", "--by", "NAME", "--note", "TEXT"))
    return Decision(True, f"{len(policy.vettings)} release(s) vetted", policy.review.where,
                    command("mirror", "unvet", name, "VERSION", "--by", "NAME", "--reason", "TEXT"))


class Sighting(msgspec.Struct, frozen=True, gc=False):
    """What the mirror itself saw of a file: the sha256 it was first listed with, and when.

    ``initial`` is True for files already listed when the mirror first fetched the project's page: for those
    the mirror has no better evidence of their age than upstream's ``upload-time``.
    """

    sha256: str | None
    first_seen: datetime
    initial: bool = False


@dataclass(frozen=True, slots=True)
class ReleaseRules:
    """A release's standing in a tier before its files are looked at: the rules every file of the release
    shares, evaluated once per release (see :func:`decide_release`).

    ``decision`` is final when set (the release is out, or ``all`` admits it); otherwise the file-level
    rules of :func:`decide_in_release` decide, with the context gathered here.
    """

    tier: Tier
    name: str
    version: str | None
    decision: Decision | None
    policy: ProjectPolicy | None = None
    vetting: Vetting | None = None
    #: a pre-release the rules keep out unless one of its files is vetted (with this decision)
    prerelease_hold: Decision | None = None
    cooldown_days: float = 0.0
    cooldown_where: Location | None = None
    #: what the rules from evidence add to every admitted file's decision (warnings, waivers, expiry)
    evidence: Outcome = NOTHING
    #: an active waiver of the cooldown, and when the earliest one expires
    cooldown_waiver: Waiver | None = None
    #: decisions every admitted file of the release shares, made once (a page has thousands of files)
    _shared: dict[str, Decision] = field(default_factory=dict, compare=False, repr=False)

    def shared(self, key: str, make: Callable[[], Decision]) -> Decision:
        """The decision ``key`` of this release, made by ``make`` the first time it is needed."""
        found = self._shared.get(key)
        if found is None:
            found = self._shared[key] = make()
        return found


def decide_release(tier: Tier, name: str, version: str | None, policies: PolicySet, now: datetime | None = None,
                   *, advisories: Advisories = NO_ADVISORIES, licenses: ReleaseLicenses | None = None
                   ) -> ReleaseRules:
    """The release-level rules of ``version`` of project ``name`` in ``tier``: the project decision, version
    blocks, malware, then (curated tiers) the version's parse, excludes, the reviewed range, pre-releases and
    vetting, then the rules from evidence (known vulnerabilities, licences; see
    :mod:`mirror.core.policy.evidence`). ``advisories`` and ``licenses`` are what the mirror knows about the
    project; ``now`` decides which waivers are in force (None: the rules from evidence are not applied)."""
    project = decide_project(tier, name, policies)
    if not project.admitted:
        return ReleaseRules(tier, name, version, project)
    policy = policies.of(name)
    if policy is not None:
        for block in policy.blocks:
            if block.versions is not None and block.matches(version):
                return ReleaseRules(tier, name, version, Decision(
                    False, f"version blocked ({block.versions}): {block.reason}", block.where,
                    command("mirror", "unblock", release(name, version), "--by", "NAME", "--reason", "TEXT")))
    malware = malware_hold(name, version, advisories) if advisories else None
    if malware is not None:
        return ReleaseRules(tier, name, version, Decision(False, malware.rule, malware.where, malware.change))
    canonical = canonical_version(version)
    outcome = NOTHING if now is None else judge_release(tier, name, canonical, policy, policies.rules, advisories,
                                                        licenses, now)
    if outcome.held is not None and tier is Tier.ALL:
        return ReleaseRules(tier, name, version, _held(outcome))
    if tier is Tier.ALL:
        return ReleaseRules(tier, name, version, _with_evidence(project, outcome), policy)
    assert policy is not None and policy.review is not None  # decide_project admitted it
    review = policy.review
    rules = policies.rules
    if canonical is None:
        return ReleaseRules(tier, name, version, Decision(
            False, "the file's version cannot be determined from its name", review.where))
    if canonical in review.exclude:
        return ReleaseRules(tier, name, version, Decision(
            False, f"version {version} is excluded by the review", review.where,
            f"edit 'exclude' in {review.where.file}"))
    if review.versions is not None and not spec_contains(review.versions, version or ""):
        return ReleaseRules(tier, name, version, Decision(
            False, f"version {version} is outside the reviewed range {review.versions}", review.where,
            f"edit 'versions' in {review.where.file}"))
    vetting = policy.vettings.get(canonical)
    if vetting is None and review.floor is not None and _below(canonical, review.floor):
        return ReleaseRules(tier, name, version, below_floor(name, version, review))
    hold = None
    allow_pre = review.allow_prereleases if review.allow_prereleases is not None else rules.allow_prereleases
    if _is_prerelease(version) and not allow_pre:
        where = review.where if review.allow_prereleases is not None else rules.prereleases_where
        hold = Decision(False, f"{version} is a pre-release and pre-releases are not admitted", where,
                        f"set allow_prereleases = true in {review.where.file}")
    if tier is Tier.VETTED and vetting is None:
        return ReleaseRules(tier, name, version, hold or Decision(
            False, f"version {version} is not vetted", review.where, _vet(name, version)))
    if outcome.held is not None:  # after the curated rules: "not vetted" says more than "vulnerable"
        return ReleaseRules(tier, name, version, _held(outcome))
    days = review.cooldown_days if review.cooldown_days is not None else rules.cooldown_days
    where = review.where if review.cooldown_days is not None else rules.cooldown_where
    waiver = None
    if now is not None and days > 0:
        # the waiver in force that lasts longest: the one that admits the release
        waiver = max((w for w in policy.waivers_of(WaivedRule.COOLDOWN, canonical) if w.active(now)),
                     key=lambda w: w.until, default=None)
    return ReleaseRules(tier, name, version, None, policy, vetting, hold, days, where, outcome, waiver)


def _below(canonical: str, floor: str) -> bool:
    return _parse(canonical) < _parse(floor)


def below_floor(name: str, version: str | None, review: Review) -> Decision:
    """The decision of a release below the project's floor: out of ``reviewed``, so that resolvers fail on a
    missing dependency instead of backtracking to it; the command that lowers (or removes) the floor."""
    return Decision(False, f"version {version} is below the floor {review.floor} of {name} (no silent "
                           "downgrade: releases older than the floor are not admitted unless vetted)",
                    review.floor_where or review.where,
                    command("mirror", "floor", name, "VERSION", "--by", "NAME", "--reason", "TEXT")
                    + " (or 'none' for no floor)")


def _cooldown_waived(ctx: ReleaseRules, held_because: str, ends: datetime | None = None) -> Decision | None:
    """The admitting decision of a file the cooldown would hold, when a waiver of the cooldown is in force."""
    waiver = ctx.cooldown_waiver
    if waiver is None:
        return None
    assert ctx.policy is not None and ctx.policy.review is not None
    return Decision(True, f"reviewed by {ctx.policy.review.signed.by}; {held_because}, admitted by a waiver",
                    ctx.policy.review.where, _block(ctx.name, ctx.version),
                    until=waiver.until if ends is None else min(ends, waiver.until),
                    waived=(f"cooldown: {describe_waiver(waiver)}",))


def _held(outcome: Outcome) -> Decision:
    assert outcome.held is not None
    return Decision(False, outcome.held.rule, outcome.held.where, outcome.held.change)


def _with_evidence(decision: Decision, outcome: Outcome) -> Decision:
    """An admitting ``decision`` with the warnings and waivers of the rules from evidence folded in."""
    if not outcome.warnings and not outcome.waived:
        return decision
    untils = [u for u in (decision.until, outcome.until) if u is not None]
    return replace(decision, warnings=decision.warnings + outcome.warnings, waived=decision.waived + outcome.waived,
                   until=min(untils) if untils else None)


def decide_in_release(ctx: ReleaseRules, file: DistFile | None, now: datetime, *,
                      provenance: ProvenanceStatuses | None = None, sighting: Sighting | None = None) -> Decision:
    """The decision for ``file`` (a file of ``ctx``'s release), or for the release as a whole when ``file`` is
    None (the file-level rules — hash and metadata pins, provenance, cooldown — are then skipped).

    ``provenance``: the background check's latest verification of upstream's provenance by sha256 (see
    :func:`decide_provenance`). ``sighting``: when the mirror first saw the file; for a file that appeared after
    the mirror began tracking the project, the cooldown counts from the later of its upload time and that
    moment, so an upload time upstream back-dates cannot skip the cooldown. An admitted file's decision carries
    the warnings and waivers of the release's rules from evidence.
    """
    if ctx.decision is not None:
        return ctx.decision
    decision = _file_rules(ctx, file, now, provenance, sighting)
    return _with_evidence(decision, ctx.evidence) if decision.admitted else decision


def _file_rules(ctx: ReleaseRules, file: DistFile | None, now: datetime, provenance: ProvenanceStatuses | None,
                sighting: Sighting | None) -> Decision:
    name, version, vetting, policy = ctx.name, ctx.version, ctx.vetting, ctx.policy
    assert policy is not None and policy.review is not None
    review = policy.review
    pinned = None
    metadata_change: str | None = None
    if vetting is not None and file is not None:
        pinned = vetting.files.get(file.filename)
        metadata_change = changed_metadata(file, vetting)
    vetted_file = pinned is not None and file is not None and pinned == file.sha256 and metadata_change is None
    vetted_release = vetted_file or (file is None and vetting is not None)
    if ctx.prerelease_hold is not None and not vetted_release:
        return ctx.prerelease_hold
    if ctx.tier is Tier.VETTED:
        assert vetting is not None
        if file is None:
            return Decision(True, f"vetted by {vetting.signed.by}", vetting.where, _unvet(name, version))
        if pinned is None:
            return Decision(False, f"{file.filename} was not among the files vetted for {version}", vetting.where,
                            _vet(name, version))
        if pinned != file.sha256:
            return Decision(False, f"{file.filename} no longer matches the sha256 pinned when {version} was "
                                   f"vetted (pinned {pinned}, upstream now {file.sha256})", vetting.where,
                            f"{_unvet(name, version)}, then after review {_vet(name, version)}")
        if metadata_change is not None:
            return Decision(False, metadata_change, vetting.where,
                            f"{_unvet(name, version)}, then after review {_vet(name, version)}")
        withheld = decide_provenance(name, version, file, policy, vetting, provenance)
        if withheld is not None:
            return withheld
        verified = vetting.provenance.get(file.filename)
        proof = f"; provenance verified: published by {verified}" if verified else ""
        return Decision(True, f"vetted by {vetting.signed.by}, sha256 matches the pin{proof}", vetting.where,
                        _unvet(name, version))
    # reviewed
    if vetted_file:
        return ctx.shared("vetted", lambda: Decision(
            True, "vetted release: admitted without cooldown", vetting.where if vetting else None,
            _unvet(name, version)))
    if file is None:
        return Decision(True, f"in the reviewed range of {name}", review.where, _block(name, version))
    days, where = ctx.cooldown_days, ctx.cooldown_where
    if days > 0:
        if file.upload_time is None:
            return _cooldown_waived(ctx, "upload time unknown") or Decision(
                False, "upload time unknown: held back by the cooldown", where, _vet(name, version))
        start, seen = file.upload_time, ""
        if sighting is not None and not sighting.initial and sighting.first_seen > start:
            start = sighting.first_seen
            seen = (f"first seen by this mirror {start:%Y-%m-%d %H:%M} UTC (upstream claims an upload at "
                    f"{file.upload_time:%Y-%m-%d %H:%M} UTC)")
        # now - days, once per release: the files of a release share it
        if start > now - timedelta(days=days):
            until = start + timedelta(days=days)
            what = seen or f"uploaded {file.upload_time:%Y-%m-%d %H:%M} UTC"
            text = f"{what}, inside the {days:g}-day cooldown until {until:%Y-%m-%d %H:%M} UTC"
            return _cooldown_waived(ctx, text, until) or Decision(False, text, where, _vet(name, version),
                                                                  until=until)
    return ctx.shared("reviewed", lambda: Decision(
        True, f"reviewed by {review.signed.by}; older than the {days:g}-day cooldown", review.where,
        _block(name, version)))


def decide_file(tier: Tier, name: str, f: DistFile, policies: PolicySet, now: datetime,
                provenance: ProvenanceStatuses | None = None, sighting: Sighting | None = None, *,
                advisories: Advisories = NO_ADVISORIES, licenses: ReleaseLicenses | None = None) -> Decision:
    """Whether file ``f`` of project ``name`` is served in ``tier`` at time ``now`` (UTC-aware).

    One file at a time (explain, tests); pages evaluate each release once with :func:`decide_release`.
    """
    ctx = decide_release(tier, name, f.version, policies, now, advisories=advisories, licenses=licenses)
    return decide_in_release(ctx, f, now, provenance=provenance, sighting=sighting)


def decide_version(tier: Tier, name: str, version: str | None, policies: PolicySet, now: datetime,
                   *, file: DistFile | None = None, provenance: ProvenanceStatuses | None = None,
                   advisories: Advisories = NO_ADVISORIES, licenses: ReleaseLicenses | None = None) -> Decision:
    """As :func:`decide_file`; without ``file`` the file-level rules (hash pin, cooldown) are skipped."""
    ctx = decide_release(tier, name, version, policies, now, advisories=advisories, licenses=licenses)
    return decide_in_release(ctx, file, now, provenance=provenance)


def changed_metadata(file: DistFile, vetting: Vetting) -> str | None:
    """Why ``file``'s core metadata is not the one pinned when ``vetting`` was made, or None when it is.

    Only metadata upstream advertises can differ: without a pin, or when upstream advertises none,
    ``vetted`` serves only metadata the mirror extracted from the pinned bytes (see
    :func:`mirror.core.tiers.advertised_metadata`).
    """
    pin = vetting.metadata.get(file.filename)
    advertised = file.checked_metadata()
    if pin is None or advertised is None:
        return None
    now = advertised.get("sha256")
    if now == pin:
        return None
    return (f"the core metadata (.metadata) of {file.filename} changed since {vetting.version} was vetted "
            f"(pinned sha256 {pin}, upstream now {now or 'advertises it without a sha256'})")


def _vet(name: str, version: str | None) -> str:
    return command("mirror", "vet", name, version or "VERSION", "--by", "NAME", "--note", "TEXT")


def _unvet(name: str, version: str | None) -> str:
    return command("mirror", "unvet", name, version or "VERSION", "--by", "NAME", "--reason", "TEXT")


def _block(name: str, version: str | None) -> str:
    return command("mirror", "block", release(name, version), "--by", "NAME", "--reason", "TEXT")


def repin_command(name: str, version: str | None, publisher: TrustedPublisher) -> str:
    """The reviewer command that pins ``publisher`` as a trusted publisher of ``name`` (after review).

    Takes a validated publisher, never a string from upstream; every word is shell-quoted.
    """
    return command("mirror", "vet", name, version or "VERSION", "--trust-publisher", publisher.identity,
                   "--by", "NAME", "--note", "TEXT")


def _publisher(identity: str | None) -> TrustedPublisher | None:
    try:
        return parse_identity(identity) if identity else None
    except PublisherSyntaxError:
        return None


def decide_provenance(name: str, version: str | None, file: DistFile, policy: ProjectPolicy, vetting: Vetting,
                      statuses: ProvenanceStatuses | None) -> Decision | None:
    """For a project whose ``[provenance]`` has ``require = true``: why a file whose sha256 matches its
    vetting pin is still withheld from ``vetted``, or None when its provenance is proven.

    Proven means: the vetting records a publisher that ``mirror vet`` verified for this file (whose
    pinned sha256 equals the file's), that publisher is still pinned, and the background check (when it
    has looked at this sha256) still verifies upstream's current provenance against the pins. A re-pin
    is only ever suggested for an identity that verifiably signed (``ProvenanceStatus.signed_by``), never
    for what the document merely claims.
    """
    rule = policy.provenance
    if rule is None or not rule.require:
        return None
    filename = file.filename
    pinned = rule.identities
    pinned_text = " or ".join(pinned) if pinned else "nothing"
    if not pinned:
        return Decision(False, f"{name} requires provenance, but no trusted publisher is pinned", rule.where,
                        command("mirror", "vet", name, version or "VERSION", "--trust-publisher", "IDENTITY",
                                "--by", "NAME", "--note", "TEXT") + " (mirror vet proposes the publisher it sees)")
    recorded = vetting.provenance.get(filename)
    if recorded is None:
        return Decision(False, f"{name} requires provenance, and the vetting of {version} records no verified "
                               f"publisher for {filename} (sha256 {file.sha256})", vetting.where,
                        f"{_unvet(name, version)}, then after review {_vet(name, version)} "
                        "(which verifies the provenance)")
    if recorded not in pinned:
        return Decision(False, f"{filename} was verified as published by {recorded} when {version} was vetted, "
                               f"but the pinned publisher is now {pinned_text}", rule.where,
                        f"pin {recorded} again in {rule.where.file} after review, or keep {version} out of vetted")
    status = (statuses or _NO_STATUS).get(file.sha256 or "")
    if status is not None and set(status.pinned) != set(pinned):
        status = None  # checked against pins since changed: the next background check decides
    if status is not None and not status.ok:
        signer = _publisher(status.signed_by)
        if signer is not None and signer.identity not in pinned:
            rule_text = (f"publisher changed: {filename} was pinned to {pinned_text}, but the provenance upstream "
                         f"serves now is signed by {signer.identity} (signature verified offline)")
            change = (f"after reviewing the change, re-pin with: {repin_command(name, version, signer)}; "
                      f"or block it: {_block(name, version)}")
        else:
            claims = [c for c in status.claimed if c not in pinned]
            said = f"; upstream's document claims, unverified: {', '.join(claims)}" if claims else ""
            rule_text = (f"provenance does not verify: the provenance of {filename} no longer proves {pinned_text} "
                         f"published it: {status.problem}{said}")
            change = ("do not re-pin on the strength of an unverified claim; wait for upstream to restore valid "
                      f"provenance, or block it: {_block(name, version)}")
        return Decision(False, rule_text, rule.where, change)
    return None
