"""Release licences: the SPDX expression a release declares, and whether an allowlist permits it.

Where a licence comes from, in order (``license_of``):

1. PEP 639 ``License-Expression``: validated and case-normalised by ``packaging.licenses`` (the PEP's
   reference implementation), deprecated ids mapped to their replacements by ``license-expression``
   (``GPL-3.0`` → ``GPL-3.0-only``, ``GPL-3.0+`` → ``GPL-3.0-or-later``). An invalid expression makes the
   licence unknown: PEP 639 forbids falling back to the legacy fields when it is present.
2. The legacy ``License`` field, when it is itself a valid SPDX expression or one of the unambiguous names
   in ``LICENSE_NAMES`` (``MIT License``, ``Apache 2.0``...) or a classifier's name.
3. Trove ``License ::`` classifiers, through ``CLASSIFIERS``, only where a classifier names one licence and
   one version: ``BSD License`` (which of 2/3/4-clause?), ``Apache Software License`` (1.0, 1.1 or 2.0?),
   ``GNU General Public License (GPL)`` (which version?) are unknown. ``... v3`` classifiers map to
   ``-only`` and ``... v3 or later`` to ``-or-later``; since an ``-or-later`` licence passes wherever its
   ``-only`` form is allowed (see ``allowed``), reading ``v3`` as ``-only`` never admits more than the
   author granted. Several licence classifiers are joined with AND (a release is admitted only if every
   one is allowed; the metadata does not say whether the author meant AND or OR), and one unmappable
   licence classifier makes the whole unknown. ``OSI Approved`` and ``DFSG approved`` alone name no licence.

Unknown (``expression is None``) is the caller's to decide (the ``unknown_license`` rule).
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import license_expression as spdx
from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from packaging.metadata import parse_email

from mirror.core.errors import MirrorError

#: The longest expression or License value read; longer ones are licence texts or abuse.
MAX_EXPRESSION = 4096
#: A License value longer than this (or spanning lines) is a licence text, not a name.
MAX_LICENSE_NAME = 200
_LICENSE_PREFIX = "License :: "
#: Licence classifiers that are categories, not licences.
_CATEGORIES = frozenset({"License :: OSI Approved", "License :: DFSG approved"})

#: Licence classifier → SPDX id, or None where the classifier is ambiguous or names no SPDX licence.
CLASSIFIERS: Mapping[str, str | None] = MappingProxyType({
    "License :: Aladdin Free Public License (AFPL)": None,  # several AFPL versions
    "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "License :: CeCILL-B Free Software License Agreement (CECILL-B)": "CECILL-B",
    "License :: CeCILL-C Free Software License Agreement (CECILL-C)": "CECILL-C",
    "License :: Eiffel Forum License (EFL)": None,  # 1.0 or 2.0
    "License :: Free For Educational Use": None,
    "License :: Free For Home Use": None,
    "License :: Free To Use But Restricted": None,
    "License :: Free for non-commercial use": None,
    "License :: Freely Distributable": None,
    "License :: Freeware": None,
    "License :: GUST Font License 1.0": None,  # not on the SPDX list
    "License :: GUST Font License 2006-09-30": None,
    "License :: Netscape Public License (NPL)": None,  # 1.0 or 1.1
    "License :: Nokia Open Source License (NOKOS)": "Nokia",
    "License :: Other/Proprietary License": None,
    "License :: Public Domain": None,  # no SPDX id; public domain differs by jurisdiction
    "License :: Repoze Public License": None,  # not on the SPDX list
    "License :: OSI Approved :: Academic Free License (AFL)": None,  # five AFL versions
    "License :: OSI Approved :: Apache Software License": None,  # Apache-1.0, 1.1 or 2.0
    "License :: OSI Approved :: Apple Public Source License": None,  # APSL 1.0-2.0
    "License :: OSI Approved :: Artistic License": None,  # 1.0 variants or 2.0
    "License :: OSI Approved :: Attribution Assurance License": "AAL",
    "License :: OSI Approved :: BSD License": None,  # 0/2/3/4-clause and variants
    "License :: OSI Approved :: Blue Oak Model License (BlueOak-1.0.0)": "BlueOak-1.0.0",
    "License :: OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "License :: OSI Approved :: CEA CNRS Inria Logiciel Libre License, version 2.1 (CeCILL-2.1)": "CECILL-2.1",
    "License :: OSI Approved :: CMU License (MIT-CMU)": "MIT-CMU",
    "License :: OSI Approved :: Common Development and Distribution License 1.0 (CDDL-1.0)": "CDDL-1.0",
    "License :: OSI Approved :: Common Public License": "CPL-1.0",  # only version
    "License :: OSI Approved :: Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "License :: OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "License :: OSI Approved :: Educational Community License, Version 2.0 (ECL-2.0)": "ECL-2.0",
    "License :: OSI Approved :: Eiffel Forum License": None,
    "License :: OSI Approved :: European Union Public Licence 1.0 (EUPL 1.0)": "EUPL-1.0",
    "License :: OSI Approved :: European Union Public Licence 1.1 (EUPL 1.1)": "EUPL-1.1",
    "License :: OSI Approved :: European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "License :: OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "License :: OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "License :: OSI Approved :: GNU Free Documentation License (FDL)": None,  # 1.1, 1.2 or 1.3
    "License :: OSI Approved :: GNU General Public License (GPL)": None,
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": None,  # LGPL 2.0 or 2.1
    "License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": None,
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "License :: OSI Approved :: GNU Library or Lesser General Public License (LGPL)": None,
    "License :: OSI Approved :: Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "License :: OSI Approved :: IBM Public License": "IPL-1.0",  # only version
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Intel Open Source License": "Intel",
    "License :: OSI Approved :: Jabber Open Source License": None,  # not on the SPDX list
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "License :: OSI Approved :: MITRE Collaborative Virtual Workspace License (CVW)": None,
    "License :: OSI Approved :: MirOS License (MirOS)": "MirOS",
    "License :: OSI Approved :: Motosoto License": "Motosoto",
    "License :: OSI Approved :: Mozilla Public License 1.0 (MPL)": "MPL-1.0",
    "License :: OSI Approved :: Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: Mulan Permissive Software License v2 (MulanPSL-2.0)": "MulanPSL-2.0",
    "License :: OSI Approved :: NASA Open Source Agreement v1.3 (NASA-1.3)": "NASA-1.3",
    "License :: OSI Approved :: Nethack General Public License": "NGPL",
    "License :: OSI Approved :: Nokia Open Source License": "Nokia",
    "License :: OSI Approved :: Open Group Test Suite License": "OGTSL",
    "License :: OSI Approved :: Open Software License 3.0 (OSL-3.0)": "OSL-3.0",
    "License :: OSI Approved :: PostgreSQL License": "PostgreSQL",
    "License :: OSI Approved :: Python License (CNRI Python License)": "CNRI-Python",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",  # the PSF licence agreement
    "License :: OSI Approved :: Qt Public License (QPL)": "QPL-1.0",  # only version
    "License :: OSI Approved :: Ricoh Source Code Public License": "RSCPL",
    "License :: OSI Approved :: SIL Open Font License 1.1 (OFL-1.1)": "OFL-1.1",
    "License :: OSI Approved :: Sleepycat License": "Sleepycat",
    "License :: OSI Approved :: Sun Industry Standards Source License (SISSL)": None,  # 1.1 or 1.2
    "License :: OSI Approved :: Sun Public License": "SPL-1.0",  # only version
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: Universal Permissive License (UPL)": "UPL-1.0",  # only version
    "License :: OSI Approved :: University of Illinois/NCSA Open Source License": "NCSA",
    "License :: OSI Approved :: Vovida Software License 1.0": "VSL-1.0",
    "License :: OSI Approved :: W3C License": None,  # three W3C variants
    "License :: OSI Approved :: X.Net License": "Xnet",
    "License :: OSI Approved :: Zero-Clause BSD (0BSD)": "0BSD",
    "License :: OSI Approved :: Zope Public License": None,  # ZPL 1.1, 2.0, 2.1
    "License :: OSI Approved :: zlib/libpng License": "Zlib",  # OSI's name for the zlib licence
})

#: Unambiguous licence names seen in the legacy ``License`` field (lowercase, spacing and commas folded).
LICENSE_NAMES: Mapping[str, str] = MappingProxyType({
    **dict.fromkeys(("mit license", "mit licence", "the mit license", "the mit license (mit)"), "MIT"),
    **dict.fromkeys((
        "apache 2", "apache 2.0", "apache2", "apache-2", "apache v2", "apache 2.0 license", "apache license 2.0",
        "apache license v2", "apache license v2.0", "apache license version 2.0", "apache software license 2.0",
        "apache software license version 2.0", "apache-2.0 license", "asl 2.0"), "Apache-2.0"),
    **dict.fromkeys((
        "bsd 3-clause", "bsd 3-clause license", "bsd-3", "3-clause bsd", "3-clause bsd license", "new bsd",
        "new bsd license", "modified bsd license", "revised bsd license", "bsd-3-clause license"), "BSD-3-Clause"),
    **dict.fromkeys((
        "bsd 2-clause", "bsd 2-clause license", "2-clause bsd", "2-clause bsd license", "simplified bsd",
        "simplified bsd license", "bsd-2-clause license"), "BSD-2-Clause"),
    **dict.fromkeys(("isc license", "isc licence"), "ISC"),
    **dict.fromkeys(("gplv2", "gpl v2", "gnu gpl v2"), "GPL-2.0-only"),
    **dict.fromkeys(("gplv2+", "gpl v2+", "gnu gpl v2+"), "GPL-2.0-or-later"),
    **dict.fromkeys(("gplv3", "gpl v3", "gnu gpl v3", "gnu gplv3"), "GPL-3.0-only"),
    **dict.fromkeys(("gplv3+", "gpl v3+", "gnu gpl v3+", "gnu gplv3+"), "GPL-3.0-or-later"),
    **dict.fromkeys(("lgplv2.1", "lgpl v2.1"), "LGPL-2.1-only"),
    **dict.fromkeys(("lgplv2.1+", "lgpl v2.1+"), "LGPL-2.1-or-later"),
    **dict.fromkeys(("lgplv3", "lgpl v3"), "LGPL-3.0-only"),
    **dict.fromkeys(("lgplv3+", "lgpl v3+"), "LGPL-3.0-or-later"),
    **dict.fromkeys(("agplv3", "agpl v3"), "AGPL-3.0-only"),
    **dict.fromkeys(("agplv3+", "agpl v3+"), "AGPL-3.0-or-later"),
    **dict.fromkeys((
        "mpl 2.0", "mpl2", "mpl-2", "mpl v2", "mozilla public license 2.0", "mozilla public license version 2.0"),
        "MPL-2.0"),
    **dict.fromkeys(("psf", "psf license", "psfl", "python software foundation license"), "PSF-2.0"),
    **dict.fromkeys(("the unlicense",), "Unlicense"),
    **dict.fromkeys(("cc0", "cc0 1.0", "cc0 1.0 universal"), "CC0-1.0"),
    **dict.fromkeys(("zlib license", "zlib/libpng license"), "Zlib"),
    **dict.fromkeys(("boost software license", "boost software license 1.0"), "BSL-1.0"),
})


class LicenseError(MirrorError):
    """An SPDX expression (or allowlist entry) is invalid; ``expression`` is it, ``problem`` says why."""

    def __init__(self, expression: str, problem: str) -> None:
        self.expression, self.problem = expression, problem
        shown = expression if len(expression) <= 80 else expression[:77] + "..."
        super().__init__(f"licence {shown!r}: {problem}")


class LicenseSource(enum.StrEnum):
    """The metadata a release's licence was read from."""

    EXPRESSION = "License-Expression"
    LICENSE = "License"
    CLASSIFIERS = "classifiers"
    NONE = "none"  #: the metadata declares no licence at all


@dataclass(frozen=True, slots=True)
class ReleaseLicense:
    """A release's licence: a canonical SPDX ``expression`` (None: unknown) and where it came from.

    ``detail`` is the declaration as written, or why it could not be used.
    """

    expression: str | None
    source: LicenseSource
    detail: str = ""


def normalize(expression: str) -> str:
    """``expression`` as a canonical SPDX expression (case-normalised, deprecated ids replaced).

    Raises ``LicenseError`` when it is not a valid SPDX expression (PEP 639: unknown ids, bad syntax; or
    longer than ``MAX_EXPRESSION``).
    """
    return _parse(expression).render()


def license_of(*, license_expression: str | None = None, license: str | None = None,
               classifiers: Iterable[str] = ()) -> ReleaseLicense:
    """The licence a release declares, from its core metadata fields (order: see the module docstring)."""
    if license_expression is not None and license_expression.strip():
        try:
            return ReleaseLicense(normalize(license_expression), LicenseSource.EXPRESSION, license_expression)
        except LicenseError as error:
            return ReleaseLicense(None, LicenseSource.EXPRESSION, f"invalid License-Expression: {error.problem}")
    declared = (license or "").strip()
    named = _from_license_field(declared) if declared and declared.upper() != "UNKNOWN" else None
    if named is not None:
        return ReleaseLicense(named, LicenseSource.LICENSE, declared)
    license_classifiers = sorted({c.strip() for c in classifiers if c.strip().startswith(_LICENSE_PREFIX)}
                                 - _CATEGORIES)
    if license_classifiers:
        ids = [CLASSIFIERS.get(c) for c in license_classifiers]
        unknown = [c for c, i in zip(license_classifiers, ids) if i is None]
        if not unknown:
            return ReleaseLicense(" AND ".join(sorted({i for i in ids if i})), LicenseSource.CLASSIFIERS,
                                  "; ".join(license_classifiers))
        return ReleaseLicense(None, LicenseSource.CLASSIFIERS, f"no single SPDX licence for {unknown[0]!r}")
    if declared and declared.upper() != "UNKNOWN":
        shown = declared.splitlines()[0][:80]
        return ReleaseLicense(None, LicenseSource.LICENSE, f"License {shown!r} names no SPDX licence unambiguously")
    return ReleaseLicense(None, LicenseSource.NONE, "no licence declared")


def license_from_metadata(metadata: bytes | str) -> ReleaseLicense:
    """The licence declared in core metadata (``METADATA``, ``PKG-INFO`` or a PEP 658 ``.metadata`` file)."""
    raw, unparsed = parse_email(metadata)
    if "license-expression" in unparsed:  # repeated or unreadable: not one declaration
        return ReleaseLicense(None, LicenseSource.EXPRESSION, "License-Expression is repeated or unreadable")
    return license_of(license_expression=raw.get("license_expression"), license=raw.get("license"),
                      classifiers=raw.get("classifiers") or ())


def normalize_allowlist(entries: Iterable[str]) -> frozenset[str]:
    """An allowlist's entries, canonical and compared case-insensitively (the form ``allowed`` uses).

    Each entry is one licence, optionally ``WITH`` an exception (``GPL-2.0-only WITH Classpath-exception-2.0``)
    or a ``LicenseRef-``. Raises ``LicenseError`` naming the first bad entry.
    """
    found = set()
    for entry in entries:
        if not isinstance(entry, str):
            raise LicenseError(repr(entry), "an allowlist entry is a string")
        parsed = _parse(entry)
        if not isinstance(parsed, spdx.LicenseSymbol | spdx.LicenseWithExceptionSymbol):
            raise LicenseError(entry, "an allowlist entry is one licence (optionally WITH an exception)")
        found.add(parsed.render().casefold())
    return frozenset(found)


def allowed(expression: str, allowlist: Iterable[str]) -> bool:
    """Whether a release under ``expression`` may be used when ``allowlist`` names the permitted licences.

    ``A OR B``: if either is allowed; ``A AND B``: only if both are; ``A WITH exception``: if that exact
    combination or ``A`` itself is allowed (an SPDX exception only adds permissions); ``X-or-later`` and
    ``X+``: if ``X-or-later`` (``X+``) or ``X-only`` (``X``) is allowed, since the licensee may choose that
    version; ``LicenseRef-`` ids only if listed. Unknown licences are not for this function: callers apply
    their ``unknown_license`` rule to ``ReleaseLicense.expression is None`` first.

    Raises ``LicenseError`` when ``expression`` or an allowlist entry is invalid.
    """
    return _permits(_parse(expression), _allowset(tuple(allowlist)))


def _from_license_field(value: str) -> str | None:
    if len(value) > MAX_LICENSE_NAME or "\n" in value:
        return None
    try:
        return normalize(value)
    except LicenseError:
        pass
    key = re.sub(r"[\s,]+", " ", value.casefold()).strip(" .")
    if key in LICENSE_NAMES:
        return LICENSE_NAMES[key]
    by_name = _classifier_names().get(key)
    return by_name if by_name else None


@functools.cache
def _classifier_names() -> Mapping[str, str | None]:
    """Classifier leaf names (``MIT License``), lowercase → SPDX id: authors copy them into ``License``."""
    return {c.rsplit(" :: ", 1)[1].casefold(): spdx_id for c, spdx_id in CLASSIFIERS.items()}


@functools.cache
def _licensing() -> spdx.Licensing:
    """SPDX licences and exceptions, with the deprecated ids as aliases of their replacements.

    Built once, on first use. Only SPDX ids are aliased: ``LicenseRef-`` aliases (which would turn a
    package's own reference into, say, MIT) and names with spaces are dropped; entries the licence database
    calls exceptions but SPDX lists as licences (``MPL-2.0-no-copyleft-exception``) stay licences.
    """
    symbols = []
    for entry in spdx.get_license_index():
        key = entry.get("spdx_license_key") or ""
        if not key or key.casefold().startswith("licenseref-"):
            continue
        aliases = tuple(a for a in entry.get("other_spdx_license_keys") or ()
                        if re.fullmatch(r"[A-Za-z0-9.+\-]+", a) and not a.casefold().startswith("licenseref-"))
        is_exception = bool(entry.get("is_exception")) and not _is_license_id(key)
        symbols.append(spdx.LicenseSymbol(key=key, aliases=aliases, is_exception=is_exception))
    return spdx.Licensing(symbols)


def _is_license_id(key: str) -> bool:
    try:
        canonicalize_license_expression(key)
    except InvalidLicenseExpression:
        return False
    return True


def _parse_expression(expression: str) -> spdx.LicenseExpression:
    """The parsed tree of a valid SPDX expression (cached: a few hundred distinct ones cover an index)."""
    if len(expression) > MAX_EXPRESSION:
        raise LicenseError(expression, f"longer than {MAX_EXPRESSION} characters")
    try:
        canonical = canonicalize_license_expression(expression)
    except InvalidLicenseExpression as error:
        raise LicenseError(expression, str(error)) from None
    try:
        return _licensing().parse(canonical, validate=False, strict=True)
    except spdx.ExpressionError as error:
        raise LicenseError(expression, str(error)) from None


# Cached by wrapping, not by decorating: mutation testing skips decorated functions (docs/testing.md).
_parse = functools.lru_cache(maxsize=4096)(_parse_expression)
_allowset = functools.lru_cache(maxsize=256)(normalize_allowlist)


def _permits(node: spdx.LicenseExpression, allow: frozenset[str]) -> bool:
    if isinstance(node, spdx.LicenseWithExceptionSymbol):
        return node.render().casefold() in allow or _permits(node.license_symbol, allow)
    if isinstance(node, spdx.LicenseSymbol):
        return any(key in allow for key in _choices(node.key.casefold()))
    if isinstance(node, spdx.AND):
        return all(_permits(arg, allow) for arg in node.args)
    if isinstance(node, spdx.OR):
        return any(_permits(arg, allow) for arg in node.args)
    raise LicenseError(str(node), f"unexpected {type(node).__name__} in a parsed expression")


def _choices(key: str) -> tuple[str, ...]:
    """A licence id and the ids a licensee may choose instead (``X-or-later`` → ``X-only``)."""
    if key.endswith("-or-later"):
        return key, key.removesuffix("-or-later") + "-only"
    if key.endswith("+"):
        return key, key[:-1]
    return (key,)
