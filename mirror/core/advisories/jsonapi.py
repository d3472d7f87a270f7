"""Upstream's JSON API ``vulnerabilities`` list → ``Advisory``, read conservatively.

What one entry says, and what it does not
-----------------------------------------
A JSON API document describes one release: ``info.version`` (the latest release on a project's document,
the named release on a per-release document). Its ``vulnerabilities`` entries summarise OSV records into
``id``, ``aliases``, ``summary``/``details``, ``fixed_in``, ``link`` and ``withdrawn``, and drop the affected
ranges. So an entry is read as saying exactly this:

- the document's release is affected: the advisory gets one ``Affected`` entry for ``info.name`` whose
  only explicit version is ``info.version``, and no range;
- the ``fixed_in`` versions carry the fix: kept in ``Affected.fixed_in`` for explain and for "the lowest
  fixed version above", never as a range bound;
- nothing about any other release. No range is inferred from ``fixed_in``: it lists fixes on several
  branches (e.g. ``["3.2.13", "4.0.4"]``), so "below the lowest fix" would miss affected 4.0.x releases and
  "below the highest fix" would mark the fixed 3.2.14 as affected.

Other releases are judged from their own per-release documents, or from the OSV record with the same id
(``mirror advisories import``), whose ranges say it precisely. ``withdrawn`` set means the entry never
matches. Entries carry no ``modified`` time (None).
"""

from __future__ import annotations

from mirror.core.advisories import fields
from mirror.core.advisories.model import Advisory, AdvisorySource, make_affected

#: Bounds on one document: entries, aliases and fixed versions per entry.
MAX_ENTRIES = 1024
MAX_ALIASES = 256
MAX_FIXED = 1024


def from_json_api(document: object) -> tuple[Advisory, ...]:
    """The advisories a JSON API document (``{"info": {...}, "vulnerabilities": [...]}``) states.

    A document without ``vulnerabilities`` (or with null) states none. Raises ``AdvisoryError`` naming the
    entry's id (when known) and the field, e.g. ``vulnerabilities[2].fixed_in``, when ``info.name`` or
    ``info.version`` is missing or invalid or an entry is malformed.
    """
    doc = fields.obj(document, None, "document")
    info = fields.obj(doc.get("info"), None, "info")
    name = fields.project_name(info.get("name"), None, "info.name")
    version = fields.text(info.get("version"), None, "info.version", required=True) or ""
    found = []
    for i, item in enumerate(fields.array(doc.get("vulnerabilities"), None, "vulnerabilities", MAX_ENTRIES)):
        where = f"vulnerabilities[{i}]"
        entry = fields.obj(item, None, where)
        aid = fields.advisory_id(entry.get("id"), None, f"{where}.id")
        fixed_in = fields.texts(entry.get("fixed_in"), aid, f"{where}.fixed_in", MAX_FIXED)
        link = entry.get("link")
        url = None if link is None else fields.web_url(link, aid, f"{where}.link")
        found.append(Advisory(
            source=AdvisorySource.JSON_API,
            id=aid,
            modified=None,
            affected=(make_affected(name, versions=(version,), fixed_in=fixed_in),),
            aliases=fields.ids(entry.get("aliases"), aid, f"{where}.aliases", MAX_ALIASES),
            summary=fields.summary(entry.get("summary"), entry.get("details"), aid, f"{where}."),
            withdrawn=fields.timestamp(entry.get("withdrawn"), aid, f"{where}.withdrawn"),
            references=() if url is None else (url,),
        ))
    return tuple(found)
