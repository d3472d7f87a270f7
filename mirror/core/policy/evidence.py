"""Rules from evidence: known vulnerabilities and malware (advisories), licences, and their waivers. Pure.

:func:`judge_release` applies a tier's rules to one release, given what the mirror knows about the project
(:class:`Advisories`, the licences read from its releases' metadata) and the time (waivers expire). The
result is folded into the tier decision by :func:`mirror.core.policy.evaluate.decide_release`, so pages,
``explain`` and the UI all get it from :func:`mirror.core.tiers.decide_page`.

A tier applies its own rules *and those of the tiers below it* (``vetted`` those of ``reviewed`` and
``all``): the strictest one decides, so ``vetted`` ⊆ ``reviewed`` ⊆ ``all`` holds whatever ``tiers.toml`` says.
Malware (an advisory whose id or an alias starts ``MAL-``) is not a rule: it keeps the releases it names out
of every tier and cannot be waived.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from mirror.core.advisories import Advisory, affects_every_version, is_malware
from mirror.core.advisories.match import Match, ProjectMatcher
from mirror.core.licenses import LicenseError, ReleaseLicense, allowed
from mirror.core.models import Tier
from mirror.core.policy.commands import command, release
from mirror.core.policy.model import (
    Location,
    PolicySet,
    ProjectPolicy,
    RuleMode,
    TierRules,
    WaivedRule,
    Waiver,
)

#: The tiers whose rules a tier applies: its own and those below it.
CHAIN: Mapping[Tier, tuple[str, ...]] = {
    Tier.ALL: ("all",),
    Tier.REVIEWED: ("all", "reviewed"),
    Tier.VETTED: ("all", "reviewed", "vetted"),
}
#: Where the malware rule is written: nowhere, it is built in.
MALWARE_RULE = Location("built-in rule: a malware report (MAL-) blocks in every tier")
#: A held release's rule describes this many advisories in full, then names up to ``_LISTED`` by id.
_DESCRIBED = 3
_LISTED = 12
#: canonical version → the licences read from the metadata of its files (one per distinct metadata file).
#: A version that is absent has no metadata read yet.
ReleaseLicenses = Mapping[str, tuple[ReleaseLicense, ...]]


class AdvisoryHit:
    """An advisory that affects one release: why (``reason``), and the lowest fixed version above it (``fixed``,
    worked out when first asked: most hits are only counted). ``also`` holds the same vulnerability from other
    sources (another id or an alias of it), whose fixed versions count too."""

    __slots__ = ("advisory", "reason", "malware", "also", "_fixed", "_find")

    def __init__(self, advisory: Advisory, reason: str, fixed: str | None = None, *,
                 find: Callable[[Advisory], str | None] | None = None, malware: bool | None = None) -> None:
        self.advisory = advisory
        self.reason = reason
        self.malware = is_malware(advisory) if malware is None else malware
        self.also: list[Advisory] = []
        self._fixed = fixed
        self._find = find

    def __repr__(self) -> str:
        return f"AdvisoryHit({self.advisory.id!r}, {self.reason!r})"

    @property
    def fixed(self) -> str | None:
        find = self._find
        if find is not None:
            self._find = None
            self._fixed = next((f for a in (self.advisory, *self.also) if (f := find(a)) is not None), None)
        return self._fixed

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.advisory.id, *self.advisory.aliases)

    def describe(self) -> str:
        """One line for explain: ``PYSEC-2023-74 (aka GHSA-...): summary; in ECOSYSTEM range ...; fixed in 2.0``."""
        aliases = f" (aka {', '.join(self.advisory.aliases[:3])})" if self.advisory.aliases else ""
        summary = f": {self.advisory.summary}" if self.advisory.summary else ""
        fixed = f"; fixed in {self.fixed}" if self.fixed else "; no fixed version known"
        return f"{self.advisory.id}{aliases}{summary} ({self.reason}{fixed})"


class Advisories:
    """The advisories known about one project, and which of its releases each affects (memoized per version:
    the views of every tier of a page share one instance)."""

    __slots__ = ("items", "_hits", "_everywhere", "_matchers", "_malware")

    def __init__(self, items: Iterable[Advisory] = ()) -> None:
        #: OSV records first: where a JSON API entry has the same id, the record with ranges is the one shown.
        self.items = tuple(sorted(items, key=lambda a: a.source.value != "osv"))
        self._hits: dict[tuple[str, str], tuple[AdvisoryHit, ...]] = {}
        self._everywhere: dict[str, AdvisoryHit | None] = {}
        self._matchers: dict[str, ProjectMatcher] = {}
        self._malware = {id(a) for a in self.items if is_malware(a)}

    def __bool__(self) -> bool:
        return bool(self.items)

    def prepare(self, project: str, versions: Iterable[str | None]) -> None:
        """Match every release of a page at once (see :meth:`ProjectMatcher.matches_all`): what the views of
        every tier of one page then ask :meth:`hits` for is already known."""
        if not self.items:
            return
        wanted = [v for v in dict.fromkeys(versions) if v is not None and (project, v) not in self._hits]
        if not wanted:
            return
        matcher = self._matcher(project)
        for version, found in matcher.matches_all(wanted).items():
            self._hits[(project, version)] = self._hits_of(matcher, version, found)

    def _matcher(self, project: str) -> ProjectMatcher:
        matcher = self._matchers.get(project)
        if matcher is None:
            matcher = self._matchers[project] = ProjectMatcher(self.items, project)
        return matcher

    def hits(self, project: str, version: str | None) -> tuple[AdvisoryHit, ...]:
        """The advisories affecting release ``version`` of ``project`` (withdrawn ones never do), one per
        vulnerability (an id seen again, directly or as an alias, is the same one)."""
        if not self.items or version is None:
            return ()
        key = (project, version)
        found = self._hits.get(key)
        if found is None:
            found = self._hits[key] = self._match(project, version)
        return found

    def _match(self, project: str, version: str) -> tuple[AdvisoryHit, ...]:
        matcher = self._matcher(project)
        return self._hits_of(matcher, version, matcher.matches(version))

    def _hits_of(self, matcher: ProjectMatcher, version: str, found: list[tuple[Advisory, Match]]
                 ) -> tuple[AdvisoryHit, ...]:
        hits: list[AdvisoryHit] = []
        seen: dict[str, AdvisoryHit] = {}

        def find(advisory: Advisory) -> str | None:
            return matcher.lowest_fixed_above(advisory, version)

        for advisory, m in found:
            known = seen.get(advisory.id) or next((seen[i] for i in advisory.aliases if i in seen), None)
            if known is not None:
                known.also.append(advisory)
                continue
            hit = AdvisoryHit(advisory, m.reason, find=find, malware=id(advisory) in self._malware)
            seen[advisory.id] = hit
            for i in advisory.aliases:
                seen[i] = hit
            hits.append(hit)
        return tuple(hits)

    def everywhere(self, project: str) -> AdvisoryHit | None:
        """A malware report that affects every release of ``project`` (the project is then quarantined in
        every tier), or None."""
        if not self.items:
            return None
        if project not in self._everywhere:
            self._everywhere[project] = next(
                (AdvisoryHit(a, "every version", None) for a in self.items
                 if is_malware(a) and affects_every_version(a, project)), None)
        return self._everywhere[project]


NO_ADVISORIES = Advisories()


@dataclass(frozen=True, slots=True)
class Held:
    """A rule from evidence keeps the release out: why, where the rule is written, how to change it."""

    rule: str
    where: Location | None
    change: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the rules from evidence say about one release in one tier.

    ``held`` when a rule keeps it out; else ``warnings`` (rules in shadow mode that would have held it: the
    release is served, counted and logged) and ``waived`` (rules a waiver lifts, until ``until``).
    """

    held: Held | None = None
    warnings: tuple[str, ...] = ()
    waived: tuple[str, ...] = ()
    until: datetime | None = None


NOTHING = Outcome()


def malware_hold(name: str, version: str | None, advisories: Advisories) -> Held | None:
    """Why a malware report keeps release ``version`` of ``name`` out of every tier, or None."""
    hit = next((h for h in advisories.hits(name, version) if h.malware), None) or advisories.everywhere(name)
    if hit is None:
        return None
    return Held(f"malware: {hit.describe()}", MALWARE_RULE,
                "nothing to waive: a malicious release is served in no tier (if the report is wrong, import "
                "its withdrawn record: mirror advisories import PATH)")


def judge_release(tier: Tier, name: str, version: str | None, policy: ProjectPolicy | None, rules: TierRules,
                  advisories: Advisories, licenses: ReleaseLicenses | None, now: datetime) -> Outcome:
    """The rules from evidence (vulnerabilities, licences) for release ``version`` (canonical, or None when
    it cannot be read) of ``name`` in ``tier``; ``licenses`` None means the caller has no licence evidence
    at all (every release then counts as not read yet)."""
    if version is None:
        return NOTHING
    found: list[Outcome] = []
    vulnerability = _vulnerability(tier, name, version, policy, rules, advisories, now)
    if vulnerability is not NOTHING:
        found.append(vulnerability)
    license_outcome = _license(tier, name, version, policy, rules, licenses, now)
    if license_outcome is not NOTHING:
        found.append(license_outcome)
    if not found:
        return NOTHING
    held = next((o.held for o in found if o.held is not None), None)
    if held is not None:
        return Outcome(held)
    untils = [o.until for o in found if o.until is not None]
    return Outcome(None, tuple(w for o in found for w in o.warnings), tuple(w for o in found for w in o.waived),
                   min(untils) if untils else None)


def _strictest(tier: Tier, rules: TierRules, mode_of: str) -> tuple[RuleMode, Location]:
    best: tuple[RuleMode, Location] = (RuleMode.ALLOW, Location("built-in default"))
    for name in CHAIN[tier]:
        tier_rules = rules.evidence[name]
        mode: RuleMode = getattr(tier_rules, mode_of)
        if mode.strength >= best[0].strength:
            best = (mode, getattr(tier_rules, f"{mode_of}_where"))
    return best


def _active(policy: ProjectPolicy | None, rule: WaivedRule, version: str, now: datetime) -> tuple[Waiver, ...]:
    if policy is None:
        return ()
    return tuple(w for w in policy.waivers_of(rule, version) if w.active(now))


def describe_waiver(w: Waiver) -> str:
    what = f" of {w.advisory}" if w.advisory else ""
    return (f"{w.rule.value}{what} waived by {w.signed.by} until {w.until:%Y-%m-%d %H:%M} UTC "
            f"({w.reason}; {w.where})")


def waive_command(name: str, version: str, rule: WaivedRule, advisory: str | None = None) -> str:
    """The reviewer command that waives ``rule`` for one release (every word shell-quoted)."""
    words = ["mirror", "waive", release(name, version), "--rule", rule.value]
    if advisory:
        words += ["--id", advisory]
    return command(*words, "--until", "DATE", "--by", "NAME", "--reason", "TEXT")


def judge_vulnerability(tier: Tier, name: str, version: str, policy: ProjectPolicy | None, rules: TierRules,
                        advisories: Advisories, now: datetime) -> Outcome:
    """The vulnerability rule alone, for release ``version`` of ``name`` in ``tier`` (``mirror check``)."""
    return _vulnerability(tier, name, version, policy, rules, advisories, now)


def _vulnerability(tier: Tier, name: str, version: str, policy: ProjectPolicy | None, rules: TierRules,
                   advisories: Advisories, now: datetime) -> Outcome:
    hits = [h for h in advisories.hits(name, version) if not h.malware]
    if not hits:
        return NOTHING
    mode, where = _strictest(tier, rules, "vulnerable")
    if mode is RuleMode.ALLOW:
        return NOTHING
    waivers = _active(policy, WaivedRule.VULNERABILITY, version, now)
    open_hits, waived, untils = [], [], []
    for hit in hits:
        waiver = max((w for w in waivers if w.covers(hit.ids)), key=lambda w: w.until, default=None)
        if waiver is None:
            open_hits.append(hit)
        else:
            waived.append(f"known vulnerability {hit.advisory.id}: {describe_waiver(waiver)}")
            untils.append(waiver.until)
    until = min(untils) if untils else None
    if not open_hits:
        return Outcome(None, (), tuple(waived), until)
    if mode is RuleMode.WARN:
        ids = ", ".join(h.advisory.id for h in open_hits[:_LISTED])
        more = f" and {len(open_hits) - _LISTED} more" if len(open_hits) > _LISTED else ""
        return Outcome(None, (f"known vulnerabilit{'y' if len(open_hits) == 1 else 'ies'}: {ids}{more} "
                              f"[vulnerable = \"warn\" ({where}): served, would be held by \"hold\"]",),
                       tuple(waived), until)
    described = "; ".join(h.describe() for h in open_hits[:_DESCRIBED])
    rest = ", ".join(h.advisory.id for h in open_hits[_DESCRIBED:_LISTED])
    more = f" and {len(open_hits) - _LISTED} more" if len(open_hits) > _LISTED else ""
    text = (f"known vulnerabilit{'y' if len(open_hits) == 1 else 'ies'}: {described}"
            + (f"; also {rest}{more}" if rest else ""))
    fixes = sorted({h.fixed for h in open_hits[:_DESCRIBED] if h.fixed})
    use = f"use {name} {' or '.join(fixes)}, or " if fixes else ""
    return Outcome(Held(text, where, f"{use}after review: "
                        f"{waive_command(name, version, WaivedRule.VULNERABILITY, open_hits[0].advisory.id)}"))


def _license(tier: Tier, name: str, version: str, policy: ProjectPolicy | None, rules: TierRules,
             licenses: ReleaseLicenses | None, now: datetime) -> Outcome:
    ruled = [(t, rules.evidence[t]) for t in CHAIN[tier] if rules.evidence[t].licenses is not None]
    if not ruled:
        return NOTHING
    read = licenses.get(version) if licenses is not None else None
    worst: tuple[RuleMode, str, Location] | None = None
    for tier_name, r in ruled:
        problem = _license_problem(name, version, read, r.licenses_text, tier_name)
        if problem is None:
            continue
        unknown, text = problem
        mode, where = (r.unknown_license, r.unknown_where) if unknown else (r.unlisted_license, r.unlisted_where)
        if not where.line:  # the mode is the default: the rule is the licences list itself
            where = r.licenses_where
        if mode is RuleMode.ALLOW:
            continue
        if worst is None or mode.strength > worst[0].strength:
            worst = (mode, text, where)
    if worst is None:
        return NOTHING
    mode, text, where = worst
    waiver = max(_active(policy, WaivedRule.LICENSE, version, now), key=lambda w: w.until, default=None)
    if waiver is not None:
        return Outcome(None, (), (f"{text}: {describe_waiver(waiver)}",), waiver.until)
    if mode is RuleMode.WARN:
        return Outcome(None, (f"{text} [licence rule in shadow mode ({where}): served, would be held]",))
    return Outcome(Held(text, where, f"after review: {waive_command(name, version, WaivedRule.LICENSE)}; or "
                                     f"change 'licenses' in {where.file}"))


def _license_problem(name: str, version: str, read: tuple[ReleaseLicense, ...] | None, allowlist: tuple[str, ...],
                     tier_name: str) -> tuple[bool, str] | None:
    """(unknown?, why) when the licences read for a release do not pass ``allowlist``; None when they do."""
    if not read:
        return True, (f"the licence of {name} {version} is not known yet (the mirror has not read the metadata of "
                      "any of its files)")
    for found in read:
        if found.expression is None:
            return True, f"the licence of {name} {version} is unknown ({found.source.value}: {found.detail})"
        try:
            ok = allowed(found.expression, allowlist)
        except LicenseError as exc:
            return True, f"the licence of {name} {version} cannot be evaluated ({exc})"
        if not ok:
            return False, (f"licence {found.expression} (from {found.source.value}) is not allowed in "
                           f"'{tier_name}' (allowed: {', '.join(allowlist)})")
    return None


def needs_licenses(policies: PolicySet, project: str) -> bool:
    """Whether a licence rule of ``policies`` applies to ``project`` in some tier that may serve it."""
    rules = policies.rules.evidence
    if rules["all"].licenses is not None:
        return True
    if rules["reviewed"].licenses is None and rules["vetted"].licenses is None:
        return False
    policy = policies.of(project)
    return policy is not None and policy.review is not None


def holds_vulnerable(policies: PolicySet, tier: Tier) -> bool:
    """Whether ``tier`` holds releases with known vulnerabilities (its page then waits a little for upstream's
    advisories the first time; a tier that only warns or allows serves at once and is re-decided when they
    arrive)."""
    return _strictest(tier, policies.rules, "vulnerable")[0] is RuleMode.HOLD


def needs_vulnerabilities(policies: PolicySet) -> bool:
    """Whether a vulnerability rule of ``policies`` does anything (else known vulnerabilities need not be read)."""
    return any(r.vulnerable is not RuleMode.ALLOW for r in policies.rules.evidence.values())
