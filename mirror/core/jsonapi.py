"""The public index's JSON API (``/pypi/<name>/json``, ``/pypi/<name>/<version>/json``) as a tier serves it. Pure.

Which releases and files a tier serves is decided once, by :func:`mirror.core.tiers.decide_page`: a document
here is built from that :class:`~mirror.core.tiers.TierView` (its admitted files, as served, with file URLs on
this mirror) and only *described* with what upstream's JSON API says (project metadata, ``ownership``,
``vulnerabilities``, a file's ``packagetype``...). So a release outside the tier is absent, a file's digests
are the ones the tier checks, and nothing upstream's JSON says can add a file, change a hash or point a client
at another host.

``info`` describes the latest release the tier serves (Warehouse's order: not yanked before yanked, final
before pre-release, then the highest version). Upstream's ``info`` and ``vulnerabilities`` describe exactly one
release; when that is not the release wanted and upstream has no per-release document for it, ``info`` is
*derived*: the project-wide fields are kept, release metadata the mirror does not know (``requires_dist``,
licence fields, classifiers) is null or empty, and ``vulnerabilities`` is empty with ``_mirror.vulnerabilities``
= ``"unknown"`` (never a claim that the release has none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from mirror.core.errors import ParseError
from mirror.core.models import DistFile
from mirror.core.policy.evaluate import canonical_version
from mirror.core.tiers import TierView

#: Bounds on what is kept of one upstream document.
MAX_VULNERABILITIES = 1024
MAX_LIST = 4096
MAX_ROLES = 1024

#: Release metadata that differs between releases and that the mirror cannot know for a derived ``info``.
_RELEASE_ONLY_NULL = ("requires_dist", "provides_extra", "license", "license_expression", "license_files",
                      "dynamic")
_RELEASE_ONLY_EMPTY = ("classifiers",)
#: Fields a derived ``info`` keeps from the project's document (they describe the project, not one release).
_PROJECT_FIELDS = ("name", "author", "author_email", "maintainer", "maintainer_email", "summary", "description",
                   "description_content_type", "home_page", "project_urls", "keywords", "docs_url",
                   "bugtrack_url", "download_url", "platform", "downloads")
_SDIST_TYPES = {".tar.gz": "sdist", ".zip": "sdist", ".tar.bz2": "sdist", ".tar.xz": "sdist", ".tgz": "sdist",
                ".egg": "bdist_egg", ".exe": "bdist_wininst", ".msi": "bdist_msi", ".rpm": "bdist_rpm",
                ".dmg": "bdist_dmg"}


@dataclass(frozen=True, slots=True)
class JsonDocument:
    """Upstream's JSON API document, read defensively: only well-typed values are kept, bounded in number.

    ``files`` maps a filename to upstream's entry for it (from ``releases`` and ``urls``).
    """

    info: Mapping[str, Any]
    files: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    vulnerabilities: tuple[Mapping[str, Any], ...] = ()
    ownership: Mapping[str, Any] | None = None
    last_serial: int | None = None

    @property
    def version(self) -> str | None:
        value = self.info.get("version")
        return value if isinstance(value, str) else None


#: ``info`` fields that hold a list of strings, or a mapping (the rest hold plain values).
_LIST_FIELDS = frozenset({"classifiers", "requires_dist", "provides_extra", "dynamic", "license_files", "platform"})
_MAP_FIELDS = frozenset({"project_urls", "downloads"})


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


def _info_value(key: str, value: Any) -> Any:
    """A value of ``info`` worth keeping (of the type its field has), else None."""
    if key in _LIST_FIELDS:
        if isinstance(value, list) and len(value) <= MAX_LIST and all(isinstance(v, str) for v in value):
            return value
        return value if isinstance(value, str) else None  # ``platform`` is a string in older documents
    if key in _MAP_FIELDS:
        if isinstance(value, dict) and len(value) <= MAX_LIST and all(
                isinstance(k, str) and (v is None or isinstance(v, (str, int)) and not isinstance(v, bool))
                for k, v in value.items()):
            return value
        return None
    return value if _plain(value) else None


def _strings(value: Any) -> list[str]:
    return [v for v in value[:MAX_LIST] if isinstance(v, str)] if isinstance(value, list) else []


def _vulnerability(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return None
    out: dict[str, Any] = {"id": item["id"]}
    for key in ("source", "link", "details", "summary", "withdrawn"):
        value = item.get(key)
        out[key] = value if isinstance(value, str) else None
    out["details"] = out["details"] or ""
    out["aliases"] = _strings(item.get("aliases"))
    out["fixed_in"] = _strings(item.get("fixed_in"))
    return out


def _ownership(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    roles = [{"role": r["role"], "user": r["user"]} for r in (value.get("roles") or [])[:MAX_ROLES]
             if isinstance(r, dict) and isinstance(r.get("role"), str) and isinstance(r.get("user"), str)]
    organization = value.get("organization")
    return {"organization": organization if isinstance(organization, str) else None, "roles": roles}


def parse_document(body: bytes) -> JsonDocument:
    """Upstream's JSON API answer → :class:`JsonDocument`; raises ParseError when it is not such a document."""
    return document_of(read_json(body))


def read_json(body: bytes) -> dict[str, Any]:
    """Upstream's JSON API answer, decoded; raises ParseError unless it is a JSON object with an ``info`` object."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ParseError("the JSON API answer is not JSON", detail=str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
        raise ParseError("the JSON API answer has no 'info' object")
    return data


def document_of(data: dict[str, Any]) -> JsonDocument:
    """A decoded JSON API answer (as :func:`read_json` returns it) → :class:`JsonDocument`, kept defensively."""
    info = {k: _info_value(k, v) for k, v in data["info"].items() if isinstance(k, str)}
    files: dict[str, Mapping[str, Any]] = {}
    releases = data.get("releases")
    groups: list[Any] = list(releases.values()) if isinstance(releases, dict) else []
    groups.append(data.get("urls"))
    for group in groups:
        for entry in group if isinstance(group, list) else ():
            if isinstance(entry, dict) and isinstance(entry.get("filename"), str):
                files.setdefault(entry["filename"], entry)
    vulnerabilities = data.get("vulnerabilities")
    vulns = tuple(v for v in map(_vulnerability, vulnerabilities[:MAX_VULNERABILITIES]
                                 if isinstance(vulnerabilities, list) else ()) if v is not None)
    serial = data.get("last_serial")
    return JsonDocument(info, files, vulns, _ownership(data.get("ownership")),
                        serial if isinstance(serial, int) and not isinstance(serial, bool) else None)


@dataclass(frozen=True, slots=True)
class Links:
    """Absolute URLs on this mirror: a file as the tier serves it, the project's page, a release's page."""

    file: Callable[[DistFile], str]
    project_page: str
    release_page: Callable[[str], str]


def _version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def admitted_releases(view: TierView) -> dict[str, tuple[DistFile, ...]]:
    """The releases the tier serves (version → its admitted files, as served), lowest version first."""
    grouped: dict[str, list[DistFile]] = {}
    for f in view.detail.files:
        version = f.version
        if version is not None:
            grouped.setdefault(version, []).append(f)
    return {v: tuple(grouped[v]) for v in sorted(grouped, key=_version_key)}


def _is_prerelease(version: str) -> bool:
    try:
        return Version(version).is_prerelease
    except InvalidVersion:
        return False


def latest_release(releases: Mapping[str, Iterable[DistFile]]) -> str | None:
    """Warehouse's latest release: not yanked (some file not yanked) before yanked, final before pre-release,
    then the highest version; None when there is no release."""
    if not releases:
        return None
    return max(releases, key=lambda v: (not all(f.is_yanked for f in releases[v]), not _is_prerelease(v),
                                        _version_key(v)))


def packagetype(filename: str) -> str:
    if filename.endswith(".whl"):
        return "bdist_wheel"
    return next((kind for ext, kind in _SDIST_TYPES.items() if filename.endswith(ext)), "unknown")


def _python_version(filename: str) -> str:
    if filename.endswith(".whl"):
        try:
            tags = parse_wheel_filename(filename)[3]
            return ".".join(sorted({t.interpreter for t in tags}))
        except InvalidWheelFilename:
            return "unknown"
    return "source" if packagetype(filename) == "sdist" else "unknown"


def file_entry(f: DistFile, url: str, upstream: Mapping[str, Any] | None) -> dict[str, Any]:
    """One file in the JSON API's shape, from ``f`` as the tier serves it; ``upstream``'s entry for the same
    file only adds descriptions (and md5/blake2b digests when its sha256 is the one the tier serves)."""
    borrowed = upstream or {}
    digests: dict[str, str] = {}
    theirs = borrowed.get("digests")
    if isinstance(theirs, dict) and f.sha256 is not None and theirs.get("sha256") == f.sha256:
        digests.update((k, v) for k, v in theirs.items() if k in ("md5", "blake2b_256") and isinstance(v, str))
    digests.update(f.hashes)
    when = f.upload_time
    comment = borrowed.get("comment_text")
    python_version = borrowed.get("python_version")
    metadata = f.core_metadata
    return {
        "comment_text": comment if isinstance(comment, str) else "",
        "digests": digests,
        "downloads": -1,
        "filename": f.filename,
        "has_sig": borrowed.get("has_sig") is True,
        "md5_digest": digests.get("md5", ""),
        "packagetype": packagetype(f.filename),
        "python_version": python_version if isinstance(python_version, str) else _python_version(f.filename),
        "requires_python": f.requires_python,
        "size": f.size,
        "upload_time": when.strftime("%Y-%m-%dT%H:%M:%S") if when else None,
        "upload_time_iso_8601": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if when else None,
        "url": url,
        "yanked": f.is_yanked,
        "yanked_reason": f.yanked_reason,
        "core-metadata": dict(metadata) if metadata else False,
    }


def _same_version(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and (canonical_version(a) or a) == (canonical_version(b) or b)


def _display_name(view: TierView, info: Mapping[str, Any]) -> str:
    """The project's display name, only from a source that names this very project."""
    for candidate in (info.get("name"), view.detail.upstream_name):
        if isinstance(candidate, str) and canonicalize_name(candidate) == view.detail.name:
            return candidate
    return view.detail.name


def release_info(view: TierView, version: str, files: tuple[DistFile, ...], project: JsonDocument | None,
                 release: JsonDocument | None, links: Links) -> tuple[dict[str, Any], list[Any], dict[str, str]]:
    """``info`` and ``vulnerabilities`` of one release the tier serves, and where they came from (``_mirror``)."""
    source = next((d for d in (release, project) if d is not None and _same_version(d.version, version)), None)
    if source is not None:
        info: dict[str, Any] = dict(source.info)
        vulnerabilities: list[Any] = [dict(v) for v in source.vulnerabilities]
        origin = {"info": "upstream", "vulnerabilities": "upstream"}
    else:
        base = project.info if project is not None else {}
        info = {k: base.get(k) for k in _PROJECT_FIELDS}
        info.update(dict.fromkeys(_RELEASE_ONLY_NULL))
        info.update((k, []) for k in _RELEASE_ONLY_EMPTY)
        info["version"] = version
        info["requires_python"] = next((f.requires_python for f in files if f.requires_python), None)
        vulnerabilities = []
        origin = {"info": "derived" if project is not None else "simple-api", "vulnerabilities": "unknown"}
    info["name"] = _display_name(view, info)
    yanked = all(f.is_yanked for f in files)
    info["yanked"] = yanked
    info["yanked_reason"] = next((f.yanked_reason for f in files if f.yanked_reason), None) if yanked else None
    info["package_url"] = info["project_url"] = links.project_page
    info["release_url"] = links.release_page(version)
    return info, vulnerabilities, origin


def _serial(view: TierView, *docs: JsonDocument | None) -> int | None:
    serials = [s for s in (view.detail.last_serial, *(d.last_serial for d in docs if d is not None)) if s is not None]
    return max(serials) if serials else None


def project_document(view: TierView, project: JsonDocument | None, release: JsonDocument | None,
                     links: Links) -> dict[str, Any] | None:
    """``/pypi/<name>/json`` of the tier: None when the tier serves no release of the project.

    ``project`` is upstream's project document (None when upstream has no JSON API); ``release`` its
    per-release document of the latest release the tier serves, when upstream has one.
    """
    releases = admitted_releases(view)
    version = latest_release(releases)
    if version is None:
        return None
    upstream_files = project.files if project is not None else {}

    def entries(files: tuple[DistFile, ...]) -> list[dict[str, Any]]:
        return [file_entry(f, links.file(f), upstream_files.get(f.filename)) for f in files]

    info, vulnerabilities, origin = release_info(view, version, releases[version], project, release, links)
    return {
        "info": info,
        "last_serial": _serial(view, project, release),
        "releases": {v: entries(files) for v, files in releases.items()},
        "urls": entries(releases[version]),
        "vulnerabilities": vulnerabilities,
        "ownership": project.ownership if project is not None else None,
        "_mirror": {"tier": view.tier.value, **origin},
    }


def find_release(view: TierView, version: str) -> str | None:
    """The version key of the release the tier serves that ``version`` names (``2.0`` finds ``2.0.0``), or None."""
    return next((v for v in admitted_releases(view) if _same_version(v, version)), None)


def release_document(view: TierView, version: str, project: JsonDocument | None, release: JsonDocument | None,
                     links: Links) -> dict[str, Any] | None:
    """``/pypi/<name>/<version>/json`` of the tier (no ``releases``, as upstream's): None when the tier does not
    serve that release."""
    releases = admitted_releases(view)
    key = find_release(view, version)
    if key is None:
        return None
    files = releases[key]
    upstream_files = dict(project.files) if project is not None else {}
    if release is not None:
        upstream_files.update(release.files)
    info, vulnerabilities, origin = release_info(view, key, files, project, release, links)
    return {
        "info": info,
        "last_serial": _serial(view, project, release),
        "urls": [file_entry(f, links.file(f), upstream_files.get(f.filename)) for f in files],
        "vulnerabilities": vulnerabilities,
        "ownership": project.ownership if project is not None else None,
        "_mirror": {"tier": view.tier.value, **origin},
    }
