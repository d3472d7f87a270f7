"""PEP 691 JSON project page → :class:`~mirror.core.simple.rules.ParsedPage`, with msgspec.

A strict fast path decodes the whole body in one call into slotted wire structs shaped like the spec
(PEP 691/700/714/740/792 fields, renames included); when that fails (a wrong-typed field anywhere),
a tolerant path decodes the body generically and checks each file on its own, dropping a bad
optional field (with a warning) or a file without a usable filename/url. Both paths end in the same
conversion to :class:`~mirror.core.models.DistFile`, where the field rules of
:mod:`mirror.core.simple.rules` apply. Nothing here does I/O.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from packaging.utils import canonicalize_name

from mirror.core.errors import ParseError
from mirror.core.models import DistFile, ProjectDetail
from mirror.core.simple.rules import (
    PageUrls,
    ParsedPage,
    Warnings,
    check_api_version,
    project_status,
    quote,
    serial,
)

_Digests = dict[str, str]
_CoreMetadata = _Digests | bool | None


class _File(msgspec.Struct, gc=False, rename={
    "requires_python": "requires-python", "upload_time": "upload-time", "core_metadata": "core-metadata",
    "data_dist_info_metadata": "data-dist-info-metadata", "dist_info_metadata": "dist-info-metadata",
}):  # fmt: skip
    """One entry of ``files`` as PEP 691 (+ 700, 714, 740) writes it; unknown keys are ignored."""

    filename: str
    url: str
    hashes: _Digests
    requires_python: str | None = None
    size: int | None = None
    upload_time: datetime | None = None
    yanked: bool | str = False
    core_metadata: _CoreMetadata | UnsetType = UNSET
    # PEP 714's older names, read only when ``core-metadata`` is absent (kept raw until then: the
    # public index sends ``data-dist-info-metadata`` beside ``core-metadata`` on every file).
    data_dist_info_metadata: msgspec.Raw = msgspec.Raw()
    dist_info_metadata: msgspec.Raw = msgspec.Raw()
    provenance: str | None = None


class _Status(msgspec.Struct, gc=False):
    status: str | None = None
    reason: str | None = None


class _Meta(msgspec.Struct, gc=False, rename={"api_version": "api-version", "last_serial": "_last-serial",
                                              "project_status": "project-status"}):
    api_version: str
    last_serial: int | str | None = None
    project_status: _Status | None = None  # where the spec's example (wrongly) puts it


class _Page(msgspec.Struct, gc=False, rename={"project_status": "project-status"}):
    meta: _Meta
    files: list[_File]
    name: str | UnsetType = UNSET
    versions: list[str] | None = None
    project_status: _Status | None = None


_OLDER_METADATA_KEYS = ("data-dist-info-metadata", "dist-info-metadata")


@functools.cache
def _page_decoder() -> msgspec.json.Decoder[_Page]:
    return msgspec.json.Decoder(_Page)


@functools.cache
def _metadata_decoder() -> msgspec.json.Decoder[_CoreMetadata]:
    return msgspec.json.Decoder(_CoreMetadata)


@functools.cache
def _file_fields() -> tuple[tuple[str, Any, bool], ...]:
    """(wire key, type, required) of every field of :class:`_File`."""
    return tuple((f.encode_name, f.type, f.required) for f in msgspec.structs.fields(_File))


def parse_json_page(body: bytes, *, project: str, page_url: str, header_serial: str | None = None) -> ParsedPage:
    """Parse a PEP 691 project page.

    ``project`` is the name the caller asked for: the result carries it normalized whatever the page
    says. ``page_url`` resolves relative file URLs; ``header_serial`` is used when ``meta`` has no
    ``_last-serial``. Raises :class:`ParseError` for a body that is not JSON, not an object, has no
    ``meta.api-version`` or ``files`` list, or declares an unsupported major API version.
    """
    warnings = Warnings()
    try:
        page = _page_decoder().decode(body)
    except msgspec.ValidationError:
        page = _tolerant_page(body, warnings)
    except msgspec.DecodeError as exc:
        raise ParseError("invalid JSON", detail=str(exc)) from None
    check_api_version(page.meta.api_version, warnings)
    wanted = canonicalize_name(project)
    upstream_name = page.name if isinstance(page.name, str) else None
    if upstream_name is not None and canonicalize_name(upstream_name) != wanted:
        warnings.add(None, "name", f"page names project {quote(upstream_name)}; kept {wanted!r} as asked")
    status = page.project_status or page.meta.project_status or _Status()
    detail = ProjectDetail(
        name=wanted,
        files=_dist_files(page.files, page_url, warnings),
        versions=tuple(page.versions or ()),
        last_serial=serial(page.meta.last_serial, warnings) or serial(header_serial),
        status=project_status(status.status, status.reason, warnings),
        upstream_name=upstream_name,
    )
    return ParsedPage(detail, warnings.result())


def _dist_files(files: list[_File], page_url: str, warnings: Warnings) -> tuple[DistFile, ...]:
    """The files as models; the rules of :mod:`~mirror.core.simple.rules` applied to each.

    This loop runs once per file of pages with 15,000+ files: the common case (a URL on the host of
    the previous one, no provenance or one on a known host) is kept to a few attribute reads, two
    ``startswith`` and one constructor call.
    """
    urls = PageUrls(page_url)
    file_prefix, provenance_prefix = urls.file_prefix, urls.provenance_prefix
    out: list[DistFile] = []
    append = out.append
    for f in files:
        filename = f.filename
        if not filename:
            warnings.add(None, "filename", "a file without a filename was dropped")
            continue
        url = f.url
        if not url.startswith(file_prefix):
            checked = urls.file_url(url)
            if checked is None:
                warnings.add(filename, "url", f"not an http(s) URL: {quote(url)}; file dropped")
                continue
            url, file_prefix = checked, urls.file_prefix
        core = f.core_metadata
        if core.__class__ is not dict:
            if core is UNSET:
                core = _older_metadata_key(f, warnings) if f.data_dist_info_metadata or f.dist_info_metadata else None
            core = {} if core is True else (core if core.__class__ is dict else None)
        provenance = f.provenance
        if provenance is not None and not provenance.startswith(provenance_prefix):
            if (problem := urls.provenance_problem(provenance)) is not None:
                warnings.add(filename, "provenance", problem + "; dropped")
                provenance = None
            provenance_prefix = urls.provenance_prefix
        size = f.size
        if size is not None and size < 0:
            warnings.add(filename, "size", f"negative size {size}; dropped")
            size = None
        yanked = f.yanked
        if yanked == "":
            yanked = True  # PEP 592: an empty reason is a plain yank
        append(DistFile(filename, url, f.hashes, f.requires_python or None, size, f.upload_time, yanked,
                        core, provenance))
    return tuple(out)


def _older_metadata_key(f: _File, warnings: Warnings) -> _CoreMetadata:
    """``data-dist-info-metadata`` or else ``dist-info-metadata`` (PEP 714's fallbacks), or None."""
    for key, raw in (("data-dist-info-metadata", f.data_dist_info_metadata),
                     ("dist-info-metadata", f.dist_info_metadata)):
        if len(raw):
            try:
                return _metadata_decoder().decode(raw)
            except msgspec.DecodeError:
                warnings.add(f.filename, key, "not a boolean or a hash table; dropped")
    return None


# ---------------------------------------------------------------------------------- tolerant path


def _tolerant_page(body: bytes, warnings: Warnings) -> _Page:
    """The page read one part at a time: bad files and fields dropped, each with a warning.

    Raises ParseError when what is wrong is the page itself (not an object, no ``meta`` object with
    an ``api-version``, no ``files`` list).
    """
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ParseError("invalid JSON", detail=str(exc)) from None
    if not isinstance(data, dict):
        raise ParseError("page is not a JSON object")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise ParseError("page has no meta object")
    if not isinstance(meta.get("api-version"), str):
        raise ParseError("missing or invalid repository version")
    files = data.get("files")
    if not isinstance(files, list):
        raise ParseError("page has no files list")
    name = data.get("name", UNSET)
    if name is not UNSET and not isinstance(name, str):
        warnings.add(None, "name", f"not text: {quote(name)}")
        name = UNSET
    return _Page(
        meta=_Meta(meta["api-version"], _checked(meta.get("_last-serial"), int | str | None, "_last-serial", warnings),
                   _checked(meta.get("project-status"), _Status | None, "project-status", warnings)),
        files=[f for i, raw in enumerate(files) if (f := _tolerant_file(raw, i, warnings)) is not None],
        name=name,
        versions=_checked(data.get("versions"), list[str] | None, "versions", warnings),
        project_status=_checked(data.get("project-status"), _Status | None, "project-status", warnings),
    )


def _checked(value: Any, kind: Any, field: str, warnings: Warnings, filename: str | None = None) -> Any:
    """``value`` converted to ``kind``, or None (with a warning) when it is not one."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError:
        warnings.add(filename, field, f"wrong type: {quote(value)}; dropped")
        return None


def _tolerant_file(raw: Any, index: int, warnings: Warnings) -> _File | None:
    """One file entry, its bad optional fields dropped; None when filename or url is unusable."""
    if not isinstance(raw, dict):
        warnings.add(None, f"files[{index}]", f"not an object: {quote(raw)}; dropped")
        return None
    try:
        return msgspec.convert(raw, _File)
    except msgspec.ValidationError:
        pass
    filename = raw.get("filename")
    label = filename if isinstance(filename, str) else f"files[{index}]"
    clean: dict[str, Any] = {}
    for key, kind, required in _file_fields():
        if key in _OLDER_METADATA_KEYS:
            continue
        if key not in raw:
            if key == "hashes":
                warnings.add(label, key, "missing; the file cannot be verified")
                clean[key] = {}
            elif required:
                warnings.add(label, key, "missing; file dropped")
                return None
            continue
        value = raw[key]
        if key in ("hashes", "core-metadata"):
            value = _digests(value, key, label, warnings)
            if value is not UNSET:
                clean[key] = value
            continue
        try:
            clean[key] = msgspec.convert(value, kind)
        except msgspec.ValidationError:
            warnings.add(label, key, f"wrong type: {quote(value)}; " + ("file dropped" if required else "dropped"))
            if required:
                return None
    for key in _OLDER_METADATA_KEYS:
        if "core-metadata" in clean:
            break
        if key in raw and (value := _digests(raw[key], key, label, warnings)) is not UNSET:
            clean["core-metadata"] = value
    return msgspec.convert(clean, _File)


def _digests(value: Any, key: str, label: str, warnings: Warnings) -> Any:
    """A hash table with its non-text entries dropped; booleans and null pass for the metadata keys;
    UNSET when the value is none of those."""
    if isinstance(value, dict):
        good = {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
        if len(good) != len(value):
            warnings.add(label, key, f"entries that are not text dropped: {quote(value)}")
        return good
    if key != "hashes" and (value is None or isinstance(value, bool)):
        return value
    if key == "hashes":
        warnings.add(label, key, f"not a hash table: {quote(value)}; the file cannot be verified")
        return {}
    warnings.add(label, key, f"not a boolean or a hash table: {quote(value)}; dropped")
    return UNSET
