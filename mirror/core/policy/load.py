"""Policy files → a validated, frozen :class:`PolicySet` (see docs/policies.md for the format).

Every problem raises :class:`~mirror.core.errors.PolicyError` naming the file, the line and the key. Pure:
the texts are read from disk by :mod:`mirror.adapters.policy_dir`.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, time
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version

from mirror.core.errors import PolicyError
from mirror.core.licenses import LicenseError, normalize_allowlist
from mirror.core.policy.locate import Locator
from mirror.core.policy.model import (
    DEFAULT_EVIDENCE_RULES,
    DEFAULT_LOCATION,
    PUBLISHER_KINDS,
    Block,
    CircleCIPublisher,
    EvidenceRules,
    FloorMode,
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
    Location,
    ProjectPolicy,
    ProvenanceRule,
    PublisherSyntaxError,
    Review,
    RuleMode,
    Signature,
    TierRules,
    TrustedPublisher,
    Uploaders,
    Vetting,
    WaivedRule,
    Waiver,
    parse_identity,
)

TIERS_FILE = "tiers.toml"
PROJECTS_DIR = "projects"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ADVISORY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+\-]{0,127}")


class _Reader:
    """Typed access to one TOML table, raising PolicyError with locations."""

    def __init__(self, file: str, loc: Locator, data: dict[str, Any], path: tuple[str | int, ...]) -> None:
        self.file, self.loc, self.data, self.path = file, loc, data, path

    def fail(self, key: str | None, problem: str) -> PolicyError:
        dotted = ".".join(_quote(p) for p in self.path if isinstance(p, str))
        shown = _quote(key) if key else None
        full = f"{dotted}.{shown}" if dotted and shown else (shown or dotted or None)
        line = self.loc.key_line(self.path, key) if key else self.loc.table_line(self.path)
        return PolicyError(self.file, full, problem, line=line)

    def where(self) -> Location:
        return Location(self.file, self.loc.table_line(self.path) or 0)

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def get(self, key: str, types: type | tuple[type, ...], what: str, *, required: bool = False) -> Any:
        if key not in self.data:
            if required:
                raise self.fail(None, f"missing key '{key}' ({what})")
            return None
        value = self.data[key]
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise self.fail(key, f"wrong type bool, expected {what}")
        if not isinstance(value, types):
            raise self.fail(key, f"wrong type {type(value).__name__}, expected {what}")
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        return self.get(key, str, "a string", required=required)

    def timestamp(self, key: str) -> datetime | None:
        value = self.get(key, (datetime, date), "a TOML date-time such as 2026-01-31T12:00:00Z")
        if value is None:
            return None
        if not isinstance(value, datetime):
            value = datetime.combine(value, time(), tzinfo=UTC)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def signature(self, *, by_required: bool = True) -> Signature:
        return Signature(by=self.text("by", required=by_required) or "", at=self.timestamp("at"),
                         note=self.text("note") or "")

    def specifier(self, key: str) -> SpecifierSet | None:
        raw = self.text(key)
        if raw is None:
            return None
        try:
            spec = SpecifierSet(raw)
        except InvalidSpecifier:
            raise self.fail(key, f"bad version specifier {raw!r} (PEP 440, e.g. '>=2,<3')") from None
        if not str(spec):
            raise self.fail(key, "empty version specifier (leave the key out instead)")
        return spec

    def sub(self, key: str | int, value: Any) -> _Reader:
        if not isinstance(value, dict):
            raise self.fail(str(key), "must be a table")
        return _Reader(self.file, self.loc, value, (*self.path, key))


def _quote(part: str) -> str:
    # Dotted key paths as TOML writes them: a part containing a dot is quoted.
    return f'"{part}"' if "." in part or " " in part else part


def normalize_version(raw: str) -> str:
    """Canonical PEP 440 form used to compare versions (``2.0.0`` and ``2.0`` are one version).

    Raises InvalidVersion.
    """
    return canonicalize_version(Version(raw))


def parse_tiers(text: str, file: str) -> TierRules:
    """Parse ``tiers.toml``; raises PolicyError."""
    data = _toml(text, file)
    loc = Locator(text)
    top = _Reader(file, loc, data, ())
    top.check_keys({"all", "reviewed", "vetted"})
    defaults = TierRules()

    def where(table: str, key: str, value: Any) -> Location:
        return Location(file, loc.key_line((table,), key) or 0) if value is not None else DEFAULT_LOCATION

    every = top.sub("all", data.get("all", {}))
    every.check_keys(set(_EVIDENCE_KEYS))
    reviewed = top.sub("reviewed", data.get("reviewed", {}))
    reviewed.check_keys({"cooldown_days", "allow_prereleases", "floor", *_EVIDENCE_KEYS})
    floor = reviewed.text("floor")
    if floor is not None and floor not in [m.value for m in FloorMode]:
        raise reviewed.fail("floor", f"unknown value {floor!r} (allowed: "
                                     + ", ".join(repr(m.value) for m in FloorMode) + ")")
    cooldown = reviewed.get("cooldown_days", (int, float), "a number of days >= 0")
    if cooldown is not None and cooldown < 0:
        raise reviewed.fail("cooldown_days", "must be 0 or more")
    prereleases = reviewed.get("allow_prereleases", bool, "true or false")
    vetted = top.sub("vetted", data.get("vetted", {}))
    vetted.check_keys({"require_uploaders", *_EVIDENCE_KEYS})
    require = vetted.get("require_uploaders", bool, "true or false")
    evidence = {name: _evidence_rules(reader, DEFAULT_EVIDENCE_RULES[name])
                for name, reader in (("all", every), ("reviewed", reviewed), ("vetted", vetted))}
    return TierRules(
        cooldown_days=float(cooldown) if cooldown is not None else defaults.cooldown_days,
        allow_prereleases=prereleases if prereleases is not None else defaults.allow_prereleases,
        require_uploaders=require if require is not None else defaults.require_uploaders,
        cooldown_where=where("reviewed", "cooldown_days", cooldown),
        prereleases_where=where("reviewed", "allow_prereleases", prereleases),
        uploaders_where=where("vetted", "require_uploaders", require),
        floor=FloorMode(floor) if floor is not None else defaults.floor,
        floor_where=where("reviewed", "floor", floor),
        evidence=evidence,
    )


#: Keys of the rules from evidence, allowed in every tier's table, and the modes each accepts.
_EVIDENCE_KEYS: dict[str, tuple[RuleMode, ...] | None] = {
    "vulnerable": (RuleMode.HOLD, RuleMode.WARN, RuleMode.ALLOW),
    "licenses": None,
    "unlisted_license": (RuleMode.HOLD, RuleMode.WARN),
    "unknown_license": (RuleMode.HOLD, RuleMode.WARN, RuleMode.ALLOW),
}


def _mode(r: _Reader, key: str, default: RuleMode) -> tuple[RuleMode, Location]:
    allowed = _EVIDENCE_KEYS[key]
    assert allowed is not None
    raw = r.text(key)
    if raw is None:
        return default, DEFAULT_LOCATION
    if raw not in [m.value for m in allowed]:
        raise r.fail(key, f"unknown value {raw!r} (allowed: {', '.join(repr(m.value) for m in allowed)})")
    return RuleMode(raw), Location(r.file, r.loc.key_line(r.path, key) or 0)


def _evidence_rules(r: _Reader, default: EvidenceRules) -> EvidenceRules:
    vulnerable, vulnerable_where = _mode(r, "vulnerable", default.vulnerable)
    unlisted, unlisted_where = _mode(r, "unlisted_license", RuleMode.HOLD)
    unknown, unknown_where = _mode(r, "unknown_license", RuleMode.HOLD)
    raw = r.get("licenses", list, "a list of SPDX licence identifiers, e.g. [\"MIT\", \"Apache-2.0\"]")
    allowlist: frozenset[str] | None = None
    if raw is not None:
        if not raw:
            raise r.fail("licenses", "an empty list admits no release at all: list the SPDX identifiers allowed, "
                                     "or leave the key out for no licence rule")
        for i, entry in enumerate(raw):
            if not isinstance(entry, str):
                raise r.fail("licenses", f"entry {i + 1} is a {type(entry).__name__}, not a string")
        try:
            allowlist = normalize_allowlist(raw)
        except LicenseError as exc:
            raise r.fail("licenses", f"{exc} (one SPDX licence identifier per entry, optionally WITH an "
                                     "exception, e.g. \"Apache-2.0\")") from None
    elif "unlisted_license" in r.data or "unknown_license" in r.data:
        key = "unlisted_license" if "unlisted_license" in r.data else "unknown_license"
        raise r.fail(key, "has no effect without a 'licenses' list in the same table")
    return EvidenceRules(
        vulnerable=vulnerable, vulnerable_where=vulnerable_where,
        licenses=allowlist, licenses_text=tuple(raw or ()),
        licenses_where=Location(r.file, r.loc.key_line(r.path, "licenses") or 0) if raw is not None
        else DEFAULT_LOCATION,
        unlisted_license=unlisted, unlisted_where=unlisted_where,
        unknown_license=unknown, unknown_where=unknown_where,
    )


def parse_project(text: str, file: str, name: str) -> ProjectPolicy:
    """Parse one ``projects/<name>.toml``; raises PolicyError."""
    data = _toml(text, file)
    loc = Locator(text)
    top = _Reader(file, loc, data, ())
    top.check_keys({"review", "block", "uploaders", "vetted", "provenance", "waiver"})
    review = _review(top.sub("review", data["review"])) if "review" in data else None
    blocks = data.get("block", [])
    if not isinstance(blocks, list):
        raise top.fail("block", "must be an array of tables: write [[block]]")
    if not all(isinstance(b, dict) for b in blocks):
        raise top.fail("block", "must be an array of tables: write [[block]]")
    parsed_blocks = tuple(_block(_Reader(file, loc, b, ("block", i))) for i, b in enumerate(blocks))
    uploaders = _uploaders(top.sub("uploaders", data["uploaders"])) if "uploaders" in data else None
    provenance = _provenance(top.sub("provenance", data["provenance"])) if "provenance" in data else None
    vettings: dict[str, Vetting] = {}
    vetted = top.sub("vetted", data.get("vetted", {}))
    for raw_version, table in vetted.data.items():
        try:
            version = normalize_version(raw_version)
        except InvalidVersion:
            raise vetted.fail(raw_version, f"bad version {raw_version!r}") from None
        if version in vettings:
            raise vetted.fail(raw_version, f"duplicate entry: version {version} is vetted twice")
        vettings[version] = _vetting(vetted.sub(raw_version, table), raw_version)
    raw_waivers = data.get("waiver", [])
    if not isinstance(raw_waivers, list) or not all(isinstance(w, dict) for w in raw_waivers):
        raise top.fail("waiver", "must be an array of tables: write [[waiver]]")
    waivers = tuple(_waiver(_Reader(file, loc, w, ("waiver", i))) for i, w in enumerate(raw_waivers))
    return ProjectPolicy(name=canonicalize_name(name), file=file, review=review, blocks=parsed_blocks,
                         vettings=vettings, uploaders=uploaders, provenance=provenance, waivers=waivers)


def _review(r: _Reader) -> Review:
    r.check_keys({"by", "at", "note", "versions", "exclude", "cooldown_days", "allow_prereleases", "floor"})
    exclude_raw = r.get("exclude", list, "a list of versions") or []
    exclude: set[str] = set()
    for item in exclude_raw:
        try:
            exclude.add(normalize_version(str(item)))
        except InvalidVersion:
            raise r.fail("exclude", f"bad version {item!r}") from None
    cooldown = r.get("cooldown_days", (int, float), "a number of days >= 0")
    if cooldown is not None and cooldown < 0:
        raise r.fail("cooldown_days", "must be 0 or more")
    raw_floor = r.text("floor")
    floor = None
    if raw_floor is not None:
        try:
            floor = normalize_version(raw_floor)
        except InvalidVersion:
            raise r.fail("floor", f"bad version {raw_floor!r} (the oldest release admitted, e.g. \"2.31.0\")") from None
    return Review(signed=r.signature(), where=r.where(), versions=r.specifier("versions"),
                  exclude=frozenset(exclude), cooldown_days=float(cooldown) if cooldown is not None else None,
                  allow_prereleases=r.get("allow_prereleases", bool, "true or false"), floor=floor,
                  floor_where=Location(r.file, r.loc.key_line(r.path, "floor") or 0) if floor is not None else None)


def _block(r: _Reader) -> Block:
    r.check_keys({"by", "at", "note", "reason", "versions"})
    return Block(versions=r.specifier("versions"), reason=r.text("reason", required=True) or "",
                 signed=r.signature(), where=r.where())


def _waiver(r: _Reader) -> Waiver:
    r.check_keys({"by", "at", "note", "version", "rule", "id", "until", "reason"})
    raw_version = r.text("version", required=True) or ""
    try:
        version = normalize_version(raw_version)
    except InvalidVersion:
        raise r.fail("version", f"bad version {raw_version!r} (one release, e.g. \"2.0.1\")") from None
    rule = r.text("rule", required=True) or ""
    if rule not in [w.value for w in WaivedRule]:
        raise r.fail("rule", f"unknown rule {rule!r} (allowed: {', '.join(w.value for w in WaivedRule)}; "
                             "malware cannot be waived)")
    advisory = r.text("id")
    if advisory is not None:
        if rule != WaivedRule.VULNERABILITY:
            raise r.fail("id", "only a vulnerability waiver names an advisory")
        if not _ADVISORY_ID.fullmatch(advisory):
            raise r.fail("id", f"{advisory!r} is not an advisory id (e.g. PYSEC-2024-1, GHSA-xxxx-xxxx-xxxx)")
        if advisory.upper().startswith("MAL-"):
            raise r.fail("id", "a malware report (MAL-) cannot be waived: it always blocks")
    until = r.timestamp("until")
    if until is None:
        raise r.fail(None, "missing key 'until' (when the waiver expires, a TOML date-time)")
    return Waiver(version=version, rule=WaivedRule(rule), until=until, reason=r.text("reason", required=True) or "",
                  signed=r.signature(), where=r.where(), advisory=advisory)


def _uploaders(r: _Reader) -> Uploaders:
    r.check_keys({"by", "at", "note", "maintainers", "publishers"})
    names = {}
    for key in ("maintainers", "publishers"):
        value = r.get(key, list, "a list of strings") or []
        if not all(isinstance(v, str) for v in value):
            raise r.fail(key, "must be a list of strings")
        names[key] = tuple(value)
    return Uploaders(maintainers=names["maintainers"], publishers=names["publishers"],
                     signed=r.signature(), where=r.where())


def _vetting(r: _Reader, version: str) -> Vetting:
    r.check_keys({"by", "at", "note", "files", "provenance", "metadata"})
    files = r.sub("files", r.data.get("files", {}))
    if not files.data:
        raise r.fail("files", "a vetted release needs at least one file with its sha256")
    pinned: dict[str, str] = {}
    for filename, digest in files.data.items():
        if not isinstance(digest, str) or not _SHA256.match(digest.lower()):
            raise files.fail(filename, "must be a sha256: 64 hexadecimal characters")
        pinned[filename] = digest.lower()
    verified: dict[str, str] = {}
    prov = r.sub("provenance", r.data.get("provenance", {}))
    for filename, identity in prov.data.items():
        if filename not in pinned:
            raise prov.fail(filename, "not a file of this vetting: every file here must also be pinned in "
                                      f"[vetted.\"{version}\".files]")
        if not isinstance(identity, str):
            raise prov.fail(filename, f"wrong type {type(identity).__name__}, expected the verified publisher's "
                                      "identity as a string, e.g. \"GitHub:owner/repo@release.yml\"")
        try:
            verified[filename] = parse_identity(identity).identity
        except PublisherSyntaxError as exc:
            raise prov.fail(filename, str(exc)) from None
    metadata: dict[str, str] = {}
    meta = r.sub("metadata", r.data.get("metadata", {}))
    for filename, digest in meta.data.items():
        if filename not in pinned:
            raise meta.fail(filename, "not a file of this vetting: every file here must also be pinned in "
                                      f"[vetted.\"{version}\".files]")
        if not isinstance(digest, str) or not _SHA256.match(digest.lower()):
            raise meta.fail(filename, "must be the sha256 of the file's .metadata: 64 hexadecimal characters")
        metadata[filename] = digest.lower()
    return Vetting(version=version, files=pinned, signed=r.signature(), where=r.where(), provenance=verified,
                   metadata=metadata)


#: Keys of a ``[[provenance.publisher]]`` table, by kind (besides ``kind``).
_PUBLISHER_KEYS: dict[str, tuple[str, ...]] = {
    "GitHub": ("repository", "workflow"),
    "GitLab": ("repository", "workflow"),
    "Google": ("email",),
    "CircleCI": ("project_id", "pipeline_definition_id"),
}


def _provenance(r: _Reader) -> ProvenanceRule:
    r.check_keys({"by", "at", "note", "require", "publisher"})
    require = r.get("require", bool, "true or false")
    raw = r.data.get("publisher", [])
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise r.fail("publisher", "must be an array of tables: write [[provenance.publisher]]")
    publishers: list[TrustedPublisher] = []
    wheres: list[Location] = []
    for i, table in enumerate(raw):
        p = _Reader(r.file, r.loc, table, (*r.path, "publisher", i))
        publisher = _publisher(p)
        if publisher in publishers:
            raise p.fail(None, f"duplicate entry: publisher {publisher.identity} is pinned twice")
        publishers.append(publisher)
        wheres.append(p.where())
    return ProvenanceRule(require=bool(require), publishers=tuple(publishers), signed=r.signature(by_required=False),
                          where=r.where(), publisher_where=tuple(wheres))


def _publisher(p: _Reader) -> TrustedPublisher:
    kind = p.text("kind", required=True)
    if kind not in _PUBLISHER_KEYS:
        raise p.fail("kind", f"unknown publisher kind {kind!r} (allowed: {', '.join(PUBLISHER_KINDS)})")
    keys = _PUBLISHER_KEYS[kind]
    for key in p.data:
        if key != "kind" and key not in keys:
            hint = " (the deployment environment is not covered by the signing certificate, so it cannot be " \
                   "pinned)" if key == "environment" else ""
            raise p.fail(key, f"unknown key for a {kind} publisher (allowed: kind, {', '.join(keys)}){hint}")
    values = [p.text(key, required=True) or "" for key in keys]
    cls = {"GitHub": GitHubPublisher, "GitLab": GitLabPublisher, "Google": GooglePublisher,
           "CircleCI": CircleCIPublisher}[kind]
    try:
        return cls(*values)
    except PublisherSyntaxError as exc:
        raise p.fail(exc.key, str(exc)) from None


def _toml(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        raise PolicyError(file, None, f"invalid TOML: {exc}", line=int(found.group(1)) if found else None) from None
