"""Advisories: vulnerability and malware reports about PyPI projects, and which releases they affect.

- ``model``: the immutable ``Advisory`` (source, id, aliases, summary, modified, withdrawn, affected
  ranges and versions, fixed versions) and ``AdvisoryError``, the one exception for a malformed record;
- ``osv``: ``parse_osv``, an OSV record → ``Advisory`` (PyPI entries only);
- ``jsonapi``: ``from_json_api``, the JSON API ``vulnerabilities`` of one document → advisories (what an
  entry says, and does not, is documented there);
- ``match``: ``match``/``affects`` (OSV evaluation with PEP 440 ordering), ``is_malware``,
  ``fixed_versions`` and ``lowest_fixed_above``.

Pure: no I/O, no clock; plain values in, plain values out.
"""

from mirror.core.advisories.jsonapi import from_json_api
from mirror.core.advisories.match import (
    Match,
    affects,
    affects_every_version,
    fixed_versions,
    is_malware,
    lowest_fixed_above,
    match,
)
from mirror.core.advisories.model import (
    Advisory,
    AdvisoryError,
    AdvisorySource,
    Affected,
    Event,
    EventKind,
    RangeType,
    VersionRange,
    make_affected,
    make_range,
)
from mirror.core.advisories.osv import PYPI_ECOSYSTEM, parse_osv

__all__ = [
    "PYPI_ECOSYSTEM",
    "Advisory",
    "AdvisoryError",
    "AdvisorySource",
    "Affected",
    "Event",
    "EventKind",
    "Match",
    "RangeType",
    "VersionRange",
    "affects",
    "affects_every_version",
    "fixed_versions",
    "from_json_api",
    "is_malware",
    "lowest_fixed_above",
    "make_affected",
    "make_range",
    "match",
    "parse_osv",
]
