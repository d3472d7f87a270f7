"""Edits of one project's policy file that keep its comments and layout (tomlkit). Pure: text in, text out.

Every function takes the current file text and returns the new text; none validates the policy
semantics (the caller re-parses the result with :func:`mirror.core.policy.load.parse_project` before
writing it). Dates are written as TOML date-times in UTC (``2026-11-20T09:30:00Z``). A function asked
to remove something that is not there raises :class:`EditError`.

tomlkit keeps comments and key order but is loose about blank lines around tables it adds or
removes; :func:`_tidy` restores one blank line before each table header and drops runs of blank
lines, and is only applied when it provably changes nothing but whitespace.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import tomlkit
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion
from tomlkit.items import AoT, Array, Table

from mirror.core.policy.load import normalize_version

_HEADER = re.compile(r"^\s*\[")
_COMMENT = re.compile(r"^\s*#")


class EditError(ValueError):
    """The requested edit does not apply to this file (e.g. removing a review that is not there)."""


# --------------------------------------------------------------------------- helpers


def utc_text(at: datetime) -> str:
    """``at`` as a TOML date-time in UTC, to the second (a naive datetime is taken as UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _datetime(at: datetime) -> Any:
    return tomlkit.datetime(utc_text(at))


def new_project_file(project: str) -> str:
    """The text a new policy file starts with: a comment header naming the project."""
    return (f"# {project}: policy of this project for the mirror's tiers (format: docs/policies.md).\n"
            "# Edited by `mirror promote/vet/block/...`; hand edits are kept.\n")


def _lines(text: str) -> list[str]:
    """Lines split on "\n" only: ``str.splitlines`` also splits on characters TOML strings may hold (U+0085...)."""
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _parse(text: str) -> tomlkit.TOMLDocument:
    return tomlkit.parse(text)


def _finish(doc: tomlkit.TOMLDocument) -> str:
    return _tidy(tomlkit.dumps(doc))


def _tidy(text: str) -> str:
    """One blank line before each table header, no runs of blank lines, one newline at the end.

    Returned only when the TOML data is unchanged (a blank line inside a multi-line string is data).
    """
    out: list[str] = []
    for line in _lines(text):
        blank = not line.strip()
        if blank and (not out or not out[-1].strip()):
            continue  # no leading blank lines, no runs
        if _HEADER.match(line) and out and out[-1].strip() and not _COMMENT.match(out[-1]):
            out.append("")
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    tidy = "\n".join(out) + "\n" if out else ""
    try:
        if tomllib.loads(tidy) == tomllib.loads(text):
            return tidy
    except tomllib.TOMLDecodeError:
        pass
    return text if text.endswith("\n") or not text else text + "\n"


def _table(values: Mapping[str, Any]) -> Table:
    table = tomlkit.table()
    for key, value in values.items():
        if value is None:
            continue
        table[key] = _datetime(value) if isinstance(value, datetime) else value
    return table


def _signature(by: str, at: datetime, note: str | None) -> dict[str, Any]:
    return {"by": by, "at": at, "note": note or None}


def _first_is_table(text: str) -> bool:
    """Whether the first line that is neither blank nor a comment is a table header (or there is none)."""
    line = next((x for x in _lines(text) if x.strip() and not _COMMENT.match(x)), None)
    return line is None or bool(_HEADER.match(line))


def _insert_first(text: str, table_text: str) -> str:
    """Insert a rendered table before the file's first table or key (after its leading comments)."""
    lines = _lines(text)
    while lines and not lines[-1]:
        lines.pop()
    first = next((i for i, line in enumerate(lines) if line.strip() and not _COMMENT.match(line)), len(lines))
    start = first
    while start > 0 and lines[start - 1].strip() and _COMMENT.match(lines[start - 1]):
        start -= 1  # comments written right above the first table belong to it
    if start == 0 and first > 0:
        start = first  # ...unless they are the file's header
    new = lines[:start] + [""] + _lines(table_text.rstrip("\n")) + [""] + lines[start:]
    return "\n".join(new) + "\n"


def _same_version(a: str, b: str) -> bool:
    try:
        return normalize_version(a) == normalize_version(b)
    except InvalidVersion:
        return a == b


def _same_specifier(written: Any, wanted: str | None) -> bool:
    if wanted is None or written is None:
        return wanted is None and written is None
    try:
        return SpecifierSet(str(written)) == SpecifierSet(wanted)
    except InvalidSpecifier:
        return str(written).strip() == wanted.strip()


# --------------------------------------------------------------------------- [review]


def set_review(text: str, by: str, at: datetime, note: str | None = None, *, floor: str | None = None) -> str:
    """Add ``[review]`` (before the first table), or re-sign an existing one keeping its other keys; ``floor``
    (the oldest release admitted) is written when given."""
    if floor is not None:
        return set_floor(set_review(text, by, at, note), floor)
    doc = _parse(text)
    if "review" in doc:
        review = doc["review"]
        review["by"] = by
        review["at"] = _datetime(at)
        if note:
            review["note"] = note
        elif "note" in review:
            del review["note"]
        return _finish(doc)
    table = _table(_signature(by, at, note))
    if _first_is_table(text):
        return _tidy(_insert_first(text, tomlkit.dumps({"review": table})))
    doc["review"] = table  # top-level keys (e.g. an inline ``block = [...]``) must stay before any table
    return _finish(doc)


def set_floor(text: str, floor: str | None) -> str:
    """Set ``[review] floor`` to ``floor``, or remove it (None). Raises EditError without ``[review]``."""
    doc = _parse(text)
    review = doc.get("review")
    if not isinstance(review, dict):
        raise EditError("the file has no [review]")
    if floor is None:
        if "floor" in review:
            del review["floor"]
    else:
        review["floor"] = floor
    return _finish(doc)


def remove_review(text: str) -> str:
    """Drop ``[review]`` (and the comments inside it); comments elsewhere stay."""
    doc = _parse(text)
    if "review" not in doc:
        raise EditError("the file has no [review]")
    del doc["review"]
    return _finish(doc)


# --------------------------------------------------------------------------- [[block]]


def _blocks(doc: tomlkit.TOMLDocument) -> AoT | Array | None:
    blocks = doc.get("block")
    return blocks if isinstance(blocks, (AoT, Array)) else None


def add_block(text: str, versions: str | None, reason: str, by: str, at: datetime, note: str | None = None) -> str:
    """Append a ``[[block]]``: of the whole project (``versions`` None) or of a specifier such as ``==1.0``."""
    doc = _parse(text)
    table = _table({"versions": versions, "reason": reason, **_signature(by, at, note)})
    blocks = _blocks(doc)
    if blocks is None:
        if "block" in doc:
            raise EditError("'block' is not an array of tables")
        aot = tomlkit.aot()
        aot.append(table)
        doc["block"] = aot
    elif isinstance(blocks, AoT):
        blocks.append(table)
    else:  # block = [{...}, ...] written inline
        inline = tomlkit.inline_table()
        inline.update(table.unwrap())
        blocks.append(inline)
    return _finish(doc)


def remove_blocks(text: str, versions: str | None) -> tuple[str, int]:
    """Remove the blocks of the whole project (``versions`` None) or those whose specifier equals
    ``versions`` (compared as specifier sets: ``==1.0`` matches ``== 1.0.0``). Returns (text, count)."""
    doc = _parse(text)
    blocks = _blocks(doc)
    if blocks is None:
        return text, 0
    doomed = [i for i, b in enumerate(blocks) if isinstance(b, dict) and _same_specifier(b.get("versions"), versions)]
    if not doomed:
        return text, 0
    for i in reversed(doomed):
        del blocks[i]
    if len(blocks) == 0:
        del doc["block"]
    return _finish(doc), len(doomed)


# --------------------------------------------------------------------------- [vetted."V"]


def _find_vetting(doc: tomlkit.TOMLDocument, version: str) -> str | None:
    vetted = doc.get("vetted")
    if not isinstance(vetted, dict):
        return None
    return next((key for key in vetted if _same_version(key, version)), None)


def set_vetting(text: str, version: str, files: Mapping[str, str], by: str, at: datetime,
                note: str | None = None, provenance: Mapping[str, str] | None = None,
                metadata: Mapping[str, str] | None = None) -> str:
    """Write ``[vetted."version"]`` with its ``files`` pins, replacing a vetting of the same version.

    ``provenance`` (filename → identity of the trusted publisher whose provenance was verified for that
    file's pinned sha256) goes into ``[vetted."version".provenance]``; ``metadata`` (filename → sha256 of
    its ``.metadata`` file) into ``[vetted."version".metadata]``.
    """
    doc = _parse(text)
    table = _table(_signature(by, at, note))
    pins = tomlkit.table()
    for filename, digest in sorted(files.items()):
        pins[filename] = digest.lower()
    table["files"] = pins
    if provenance:
        verified = tomlkit.table()
        for filename, identity in sorted(provenance.items()):
            verified[filename] = identity
        table["provenance"] = verified
    if metadata:
        pinned_metadata = tomlkit.table()
        for filename, digest in sorted(metadata.items()):
            pinned_metadata[filename] = digest.lower()
        table["metadata"] = pinned_metadata
    if "vetted" not in doc:
        doc["vetted"] = tomlkit.table(is_super_table=True)
    vetted = doc["vetted"]
    existing = _find_vetting(doc, version)
    if existing is not None:
        del vetted[existing]
    vetted[version] = table
    return _finish(doc)


def vetted_key(text: str, version: str) -> str | None:
    """The version exactly as written in the file's ``[vetted."..."]`` for ``version``, or None."""
    vetted = tomllib.loads(text).get("vetted", {})
    return next((key for key in vetted if _same_version(key, version)), None) if isinstance(vetted, dict) else None


def remove_vetting(text: str, version: str) -> str:
    """Drop the vetting of ``version`` (compared in normalized form), and ``vetted`` when it empties."""
    doc = _parse(text)
    existing = _find_vetting(doc, version)
    if existing is None:
        raise EditError(f"version {version} is not vetted in this file")
    del doc["vetted"][existing]
    if len(doc["vetted"]) == 0:
        del doc["vetted"]
    return _finish(doc)


# --------------------------------------------------------------------------- [uploaders]


def set_uploaders(text: str, maintainers: Iterable[str], publishers: Iterable[str], by: str, at: datetime,
                  note: str | None = None) -> str:
    """Write ``[uploaders]`` (keeping comments of an existing table); lists are sorted."""
    doc = _parse(text)
    values = {"maintainers": sorted(set(maintainers)), "publishers": sorted(set(publishers)),
              **_signature(by, at, note)}
    if "uploaders" not in doc:
        doc["uploaders"] = _table(values)
        return _finish(doc)
    table = doc["uploaders"]
    for key, value in values.items():
        if value is None:
            if key in table:
                del table[key]
        else:
            table[key] = _datetime(value) if isinstance(value, datetime) else value
    return _finish(doc)


# --------------------------------------------------------------------------- [provenance]


def add_publisher(text: str, fields: Mapping[str, str], by: str, at: datetime, note: str | None = None) -> str:
    """Pin one more trusted publisher: append ``[[provenance.publisher]]`` with ``fields`` (``kind`` first).

    A missing ``[provenance]`` is created with ``require = false``; its ``by``/``at``/``note`` record who
    changed the pins last.
    """
    doc = _parse(text)
    entry = _table(dict(fields))
    if "provenance" not in doc:
        table = _table({"require": False, **_signature(by, at, note)})
        aot = tomlkit.aot()
        aot.append(entry)
        table["publisher"] = aot
        doc["provenance"] = table
        return _finish(doc)
    table = doc["provenance"]
    for key, value in _signature(by, at, note).items():
        if value is None:
            if key in table:
                del table[key]
        else:
            table[key] = _datetime(value) if isinstance(value, datetime) else value
    publishers = table.get("publisher")
    if publishers is None:
        aot = tomlkit.aot()
        aot.append(entry)
        table["publisher"] = aot
    elif isinstance(publishers, AoT):
        publishers.append(entry)
    elif isinstance(publishers, Array):
        inline = tomlkit.inline_table()
        inline.update(entry.unwrap())
        publishers.append(inline)
    else:
        raise EditError("'provenance.publisher' is not an array of tables")
    return _finish(doc)


# --------------------------------------------------------------------------- [[waiver]]


def add_waiver(text: str, version: str, rule: str, until: datetime, reason: str, by: str, at: datetime,
               advisory: str | None = None) -> str:
    """Append a ``[[waiver]]``: ``rule`` does not hold release ``version`` back until ``until``."""
    doc = _parse(text)
    table = _table({"version": version, "rule": rule, "id": advisory, "until": until, "reason": reason,
                    **_signature(by, at, None)})
    waivers = doc.get("waiver")
    if waivers is None:
        aot = tomlkit.aot()
        aot.append(table)
        doc["waiver"] = aot
    elif isinstance(waivers, AoT):
        waivers.append(table)
    elif isinstance(waivers, Array):
        inline = tomlkit.inline_table()
        inline.update(table.unwrap())
        waivers.append(inline)
    else:
        raise EditError("'waiver' is not an array of tables")
    return _finish(doc)


# --------------------------------------------------------------------------- snippets for the audit log


def _value_text(value: Any) -> str:
    if isinstance(value, datetime):
        return utc_text(value)
    return tomlkit.item(value).as_string()


def _key_text(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else tomlkit.item(key).as_string()


def _render(header: str, table: Mapping[str, Any]) -> list[str]:
    lines = [header]
    subtables = []
    arrays = []
    for key, value in table.items():
        if isinstance(value, dict):
            subtables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{_key_text(key)} = {_value_text(value)}")
    for key, value in subtables:
        lines += _render(f"{header[:-1]}.{_key_text(key)}]", value)
    for key, items in arrays:  # an array of tables, e.g. [[provenance.publisher]]
        for item in items:
            lines += _render(f"[{header[:-1]}.{_key_text(key)}]]", item)
    return lines


def snippet(text: str, part: str, key: str | None = None) -> str | None:
    """A short TOML rendering of one part of a file for the audit log, or None when it is absent.

    ``part`` is ``review``, ``uploaders``, ``provenance``, ``vetted`` (``key`` = the version), ``block`` (``key`` =
    the specifier, or None for whole-project blocks) or ``waiver`` (``key`` = the version; its last waiver).
    Comments are left out.
    """
    data = tomllib.loads(text)
    if part in ("review", "uploaders", "provenance"):
        table = data.get(part)
        return "\n".join(_render(f"[{part}]", table)) if isinstance(table, dict) else None
    if part == "vetted":
        vetted = data.get("vetted", {})
        found = next((k for k in vetted if key is not None and _same_version(k, key)), None)
        if found is None:
            return None
        return "\n".join(_render(f"[vetted.{_key_text(found)}]", vetted[found]))
    if part == "block":
        blocks = [b for b in data.get("block", []) if isinstance(b, dict) and _same_specifier(b.get("versions"), key)]
        if not blocks:
            return None
        return "\n".join(line for b in blocks for line in _render("[[block]]", b))
    if part == "waiver":
        waivers = [w for w in data.get("waiver", []) if isinstance(w, dict) and key is not None
                   and _same_version(str(w.get("version", "")), key)]
        return "\n".join(_render("[[waiver]]", waivers[-1])) if waivers else None
    raise ValueError(f"unknown part {part!r}")
