"""Licences: SPDX expressions evaluated against allowlists; PEP 639, License and classifiers. Plain values."""

from __future__ import annotations

import pytest
from packaging.licenses import canonicalize_license_expression

from mirror.core.licenses import (
    CLASSIFIERS,
    LICENSE_NAMES,
    LicenseError,
    LicenseSource,
    ReleaseLicense,
    allowed,
    license_from_metadata,
    license_of,
    normalize,
    normalize_allowlist,
)

PERMISSIVE = ["MIT", "BSD-3-Clause", "Apache-2.0", "ISC"]


@pytest.mark.parametrize(
    ("expression", "allowlist", "ok"),
    [
        ("MIT", PERMISSIVE, True),
        ("GPL-3.0-only", PERMISSIVE, False),
        # OR: any alternative; AND: every part
        ("MIT OR GPL-3.0-only", PERMISSIVE, True),
        ("GPL-3.0-only OR MIT", ["MIT"], True),
        ("MIT AND GPL-3.0-only", PERMISSIVE, False),
        ("MIT AND BSD-3-Clause", PERMISSIVE, True),
        ("MIT AND BSD-3-Clause AND ISC", ["MIT", "ISC"], False),
        # parentheses bind
        ("MIT AND (Apache-2.0 OR GPL-3.0-only)", PERMISSIVE, True),
        ("(MIT AND GPL-3.0-only) OR LGPL-3.0-only", PERMISSIVE, False),
        ("(MIT AND GPL-3.0-only) OR (ISC AND Apache-2.0)", PERMISSIVE, True),
        ("((MIT))", ["MIT"], True),
        # case is normalised, in ids and operators
        ("mit or gpl-3.0-only", ["MIT"], True),
        ("MIT", ["mit"], True),
        ("apache-2.0 and mit", ["Apache-2.0", "MIT"], True),
        # WITH: the exact combination, or the licence alone (an exception only adds permissions)
        ("GPL-2.0-or-later WITH Classpath-exception-2.0", ["GPL-2.0-or-later"], True),
        ("GPL-2.0-only WITH Classpath-exception-2.0", ["GPL-2.0-only WITH Classpath-exception-2.0"], True),
        ("GPL-2.0-only WITH Classpath-exception-2.0", ["GPL-2.0-only WITH GCC-exception-2.0"], False),
        ("GPL-2.0-only", ["GPL-2.0-only WITH Classpath-exception-2.0"], False),
        ("Apache-2.0 WITH LLVM-exception OR GPL-3.0-only", ["Apache-2.0"], True),
        # "or later": the licensee may choose the named version
        ("GPL-3.0-or-later", ["GPL-3.0-only"], True),
        ("GPL-3.0-only", ["GPL-3.0-or-later"], False),
        ("Apache-2.0+", ["Apache-2.0"], True),
        # deprecated ids mean their replacements, on either side
        ("GPL-3.0", ["GPL-3.0-only"], True),
        ("GPL-3.0+", ["GPL-3.0-or-later"], True),
        ("GPL-3.0+", ["GPL-3.0"], True),
        ("LGPL-2.1", ["LGPL-2.1-only"], True),
        ("GPL-2.0", ["GPL-2.0-or-later"], False),
        # LicenseRef-: only when listed, never mistaken for an SPDX licence
        ("LicenseRef-Proprietary", PERMISSIVE, False),
        ("LicenseRef-Proprietary", ["LicenseRef-Proprietary"], True),
        ("LicenseRef-MIT-Bootstrap", ["MIT"], False),
        ("LicenseRef-Company OR MIT", ["MIT"], True),
        # licences the licence database files as exceptions but SPDX lists as licences
        ("MPL-2.0-no-copyleft-exception", ["MPL-2.0-no-copyleft-exception"], True),
        ("MPL-2.0-no-copyleft-exception", ["MPL-2.0"], False),
        ("GPL-2.0-with-classpath-exception", ["GPL-2.0-with-classpath-exception"], True),
        ("MIT", [], False),
    ],
)
def test_allowed(expression, allowlist, ok):
    assert allowed(expression, allowlist) is ok


@pytest.mark.parametrize(
    ("expression", "canonical"),
    [
        ("mit", "MIT"),
        ("mit or gpl-3.0", "MIT OR GPL-3.0-only"),
        ("GPL-2.0+", "GPL-2.0-or-later"),
        ("gpl-2.0+ with classpath-exception-2.0", "GPL-2.0-or-later WITH Classpath-exception-2.0"),
        ("MIT AND (Apache-2.0 OR BSD-3-Clause)", "MIT AND (Apache-2.0 OR BSD-3-Clause)"),
        ("licenseref-Company-1", "LicenseRef-Company-1"),
        ("BSD-2-Clause-FreeBSD", "BSD-2-Clause-Views"),
    ],
)
def test_normalize(expression, canonical):
    assert normalize(expression) == canonical


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "Foo-Bar",  # unknown id
        "MIT OR Foo-Bar",  # an unknown id anywhere makes it invalid
        "MIT License",  # prose
        "Apache 2.0",
        "BSD",
        "MIT AND",
        "(MIT",
        "MIT)",
        "MIT WITH MIT",  # MIT is no exception
        "Classpath-exception-2.0",  # an exception alone
        "MIT WITH Made-up-exception",
        "LicenseRef-",
        "LicenseRef-spaces not allowed",
        "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",  # PEP 639 allows LicenseRef- only
        "MIT OR " * 700 + "MIT",  # over the length bound
        "(" * 250 + "MIT" + ")" * 250,  # nested too deep
    ],
)
def test_invalid_expressions_raise(expression):
    with pytest.raises(LicenseError):
        normalize(expression)
    with pytest.raises(LicenseError):
        allowed(expression, ["MIT"])


@pytest.mark.parametrize(
    ("entries", "bad"),
    [
        (["MIT", "Not-A-Licence"], "Not-A-Licence"),
        (["MIT OR Apache-2.0"], "MIT OR Apache-2.0"),
        (["MIT AND ISC"], "MIT AND ISC"),
        (["MIT", ""], ""),
    ],
)
def test_allowlist_entries_are_single_licences(entries, bad):
    with pytest.raises(LicenseError) as caught:
        normalize_allowlist(entries)
    assert caught.value.expression == bad


def test_allowlist_is_canonical_and_case_insensitive():
    assert normalize_allowlist(["mit", "GPL-3.0", "gpl-2.0+ WITH classpath-exception-2.0", "LicenseRef-X"]) == {
        "mit", "gpl-3.0-only", "gpl-2.0-or-later with classpath-exception-2.0", "licenseref-x"}
    with pytest.raises(LicenseError):
        allowed("MIT", ["MIT", "OR"])


# -- where a release's licence comes from -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # PEP 639 License-Expression first, normalised
        ({"license_expression": "mit OR Apache-2.0", "license": "GPL",
          "classifiers": ["License :: OSI Approved :: GNU General Public License (GPL)"]},
         ReleaseLicense("MIT OR Apache-2.0", LicenseSource.EXPRESSION, "mit OR Apache-2.0")),
        # an invalid expression is unknown: no fallback to the legacy fields (PEP 639)
        ({"license_expression": "MIT License", "classifiers": ["License :: OSI Approved :: MIT License"]},
         ReleaseLicense(None, LicenseSource.EXPRESSION, "invalid License-Expression: Invalid license expression: "
                        "'MIT License'")),
        # License: a valid SPDX expression, a known name, or a classifier's name
        ({"license": "BSD-3-Clause"}, ReleaseLicense("BSD-3-Clause", LicenseSource.LICENSE, "BSD-3-Clause")),
        ({"license": "GPL-3.0+"}, ReleaseLicense("GPL-3.0-or-later", LicenseSource.LICENSE, "GPL-3.0+")),
        ({"license": "Apache License, Version 2.0"},
         ReleaseLicense("Apache-2.0", LicenseSource.LICENSE, "Apache License, Version 2.0")),
        ({"license": "  MIT License.  "}, ReleaseLicense("MIT", LicenseSource.LICENSE, "MIT License.")),
        ({"license": "GNU General Public License v3 (GPLv3)"},
         ReleaseLicense("GPL-3.0-only", LicenseSource.LICENSE, "GNU General Public License v3 (GPLv3)")),
        # License wins over classifiers when it names a licence
        ({"license": "MIT", "classifiers": ["License :: OSI Approved :: Apache Software License"]},
         ReleaseLicense("MIT", LicenseSource.LICENSE, "MIT")),
        # an ambiguous License falls through to the classifiers
        ({"license": "BSD", "classifiers": ["License :: OSI Approved :: ISC License (ISCL)"]},
         ReleaseLicense("ISC", LicenseSource.CLASSIFIERS, "License :: OSI Approved :: ISC License (ISCL)")),
        ({"license": "UNKNOWN", "classifiers": ["License :: OSI Approved :: MIT License", "License :: OSI Approved"]},
         ReleaseLicense("MIT", LicenseSource.CLASSIFIERS, "License :: OSI Approved :: MIT License")),
        # several licence classifiers: all must hold (AND), sorted; one unmappable makes it unknown
        ({"classifiers": ["License :: OSI Approved :: MIT License",
                          "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)",
                          "Programming Language :: Python"]},
         ReleaseLicense("MIT AND MPL-2.0", LicenseSource.CLASSIFIERS,
                        "License :: OSI Approved :: MIT License; "
                        "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)")),
        ({"classifiers": ["License :: OSI Approved :: MIT License", "License :: OSI Approved :: BSD License"]},
         ReleaseLicense(None, LicenseSource.CLASSIFIERS,
                        "no single SPDX licence for 'License :: OSI Approved :: BSD License'")),
        ({"classifiers": ["License :: Some Future Licence"]},
         ReleaseLicense(None, LicenseSource.CLASSIFIERS,
                        "no single SPDX licence for 'License :: Some Future Licence'")),
        # nothing usable
        ({"license": "BSD"}, ReleaseLicense(None, LicenseSource.LICENSE,
                                            "License 'BSD' names no SPDX licence unambiguously")),
        ({"license": "Copyright (c) 2024 Someone\n\nPermission is hereby granted..."},
         ReleaseLicense(None, LicenseSource.LICENSE,
                        "License 'Copyright (c) 2024 Someone' names no SPDX licence unambiguously")),
        ({"classifiers": ["License :: OSI Approved"]},
         ReleaseLicense(None, LicenseSource.NONE, "no licence declared")),
        ({"license": "UNKNOWN", "license_expression": "  "}, ReleaseLicense(None, LicenseSource.NONE,
                                                                             "no licence declared")),
        ({}, ReleaseLicense(None, LicenseSource.NONE, "no licence declared")),
    ],
)
def test_license_of(fields, expected):
    assert license_of(**fields) == expected


@pytest.mark.parametrize(
    ("classifier", "spdx_id"),
    [
        ("License :: OSI Approved :: MIT License", "MIT"),
        ("License :: OSI Approved :: Apache Software License", None),  # version not stated
        ("License :: OSI Approved :: BSD License", None),  # 2-, 3- or 4-clause?
        ("License :: OSI Approved :: GNU General Public License v3 (GPLv3)", "GPL-3.0-only"),
        ("License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)", "GPL-3.0-or-later"),
        ("License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)", None),  # 2.0 or 2.1
        ("License :: OSI Approved :: Python Software Foundation License", "PSF-2.0"),
        ("License :: OSI Approved :: zlib/libpng License", "Zlib"),
        ("License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication", "CC0-1.0"),
        ("License :: Public Domain", None),
        ("License :: Other/Proprietary License", None),
    ],
)
def test_classifier_decisions(classifier, spdx_id):
    assert CLASSIFIERS[classifier] == spdx_id
    assert license_of(classifiers=[classifier]).expression == spdx_id


@pytest.mark.parametrize("spdx_id", sorted({v for v in CLASSIFIERS.values() if v} | set(LICENSE_NAMES.values())))
def test_every_mapped_id_is_a_current_canonical_spdx_id(spdx_id):
    assert canonicalize_license_expression(spdx_id) == spdx_id
    assert normalize(spdx_id) == spdx_id  # not a deprecated id that would be rewritten


def test_license_names_are_keyed_in_their_folded_form():
    for key in LICENSE_NAMES:
        assert key == key.casefold().strip(" .") and "," not in key and "  " not in key


def test_license_from_metadata():
    metadata = (
        b"Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nLicense-Expression: MIT OR Apache-2.0\n"
        b"License-File: LICENSE\nClassifier: License :: OSI Approved :: BSD License\n\nbody\n"
    )
    assert license_from_metadata(metadata) == ReleaseLicense(
        "MIT OR Apache-2.0", LicenseSource.EXPRESSION, "MIT OR Apache-2.0")
    legacy = ("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense: UNKNOWN\n"
              "Classifier: Programming Language :: Python :: 3\n"
              "Classifier: License :: OSI Approved :: MIT License\n")
    assert license_from_metadata(legacy) == ReleaseLicense(
        "MIT", LicenseSource.CLASSIFIERS, "License :: OSI Approved :: MIT License")
    repeated = "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nLicense-Expression: MIT\nLicense-Expression: ISC\n"
    assert license_from_metadata(repeated).expression is None
    assert license_from_metadata(b"").source is LicenseSource.NONE
    assert license_from_metadata(b"\xff\xfe garbage \x00\n").expression is None


# -- exact words and bounds ------------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "shown"), [
    ("x" * 80, "x" * 80),
    ("x" * 81, "x" * 77 + "..."),
])
def test_licence_errors_show_the_expression_up_to_80_characters(expression, shown):
    error = LicenseError(expression, "why")
    assert (error.expression, error.problem, str(error)) == (expression, "why", f"licence {shown!r}: why")


def test_expression_length_bound_is_inclusive():
    longest = "LicenseRef-" + "a" * (4096 - 11)
    assert normalize(longest) == longest
    with pytest.raises(LicenseError) as caught:
        normalize(longest + "a")
    assert caught.value.expression == longest + "a" and caught.value.problem == "longer than 4096 characters"


def test_an_invalid_expression_names_itself_and_the_spdx_problem():
    with pytest.raises(LicenseError) as caught:
        normalize("MIT AND Not-A-Licence")
    assert caught.value.expression == "MIT AND Not-A-Licence"
    assert caught.value.problem == "Unknown license: 'not-a-licence'"


def test_bad_allowlist_entries_say_why():
    with pytest.raises(LicenseError) as caught:
        normalize_allowlist(["MIT", 42])
    assert (caught.value.expression, caught.value.problem) == ("42", "an allowlist entry is a string")
    with pytest.raises(LicenseError) as caught:
        normalize_allowlist(["MIT OR ISC"])
    assert (caught.value.expression, caught.value.problem) == (
        "MIT OR ISC", "an allowlist entry is one licence (optionally WITH an exception)")


def test_a_node_the_evaluator_does_not_know_is_an_error_not_an_answer():
    from mirror.core.licenses import _permits

    with pytest.raises(LicenseError) as caught:
        _permits(object(), frozenset({"mit"}))  # type: ignore[arg-type]
    assert caught.value.expression.startswith("<object object at ")
    assert caught.value.problem == "unexpected object in a parsed expression"


def test_the_spdx_table_separates_licences_from_exceptions():
    """Built once from the licence database: an id SPDX lists as a licence stays one even where the database
    calls it an exception; real exceptions only follow WITH."""
    from mirror.core.licenses import _licensing, _parse

    _licensing.cache_clear()
    _parse.cache_clear()
    try:
        assert normalize("MPL-2.0-no-copyleft-exception") == "MPL-2.0-no-copyleft-exception"
        assert allowed("MPL-2.0-no-copyleft-exception", ["MPL-2.0-no-copyleft-exception"])
        assert normalize("GPL-2.0-only WITH Classpath-exception-2.0") == "GPL-2.0-only WITH Classpath-exception-2.0"
        assert allowed("GPL-2.0-only WITH Classpath-exception-2.0", ["GPL-2.0-only"])
    finally:
        _licensing.cache_clear()
        _parse.cache_clear()


@pytest.mark.parametrize(("fields", "expected"), [
    # a License value is a name only on one line and up to 200 characters
    ({"license": "LicenseRef-" + "a" * 189}, ReleaseLicense("LicenseRef-" + "a" * 189, LicenseSource.LICENSE,
                                                            "LicenseRef-" + "a" * 189)),
    ({"license": "LicenseRef-" + "a" * 190}, ReleaseLicense(
        None, LicenseSource.LICENSE, f"License {'LicenseRef-' + 'a' * 69!r} names no SPDX licence unambiguously")),
    ({"license": "MIT\nLicense"}, ReleaseLicense(None, LicenseSource.LICENSE,
                                                 "License 'MIT' names no SPDX licence unambiguously")),
    ({"license": "unknown"}, ReleaseLicense(None, LicenseSource.NONE, "no licence declared")),
    ({"license": "Unknown", "classifiers": ["License :: OSI Approved :: MIT License"]},
     ReleaseLicense("MIT", LicenseSource.CLASSIFIERS, "License :: OSI Approved :: MIT License")),
])
def test_the_license_field_bounds(fields, expected):
    assert license_of(**fields) == expected


def test_license_from_metadata_reads_the_license_field_and_refuses_a_repeated_expression():
    legacy = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense: MIT License\n"
    assert license_from_metadata(legacy) == ReleaseLicense("MIT", LicenseSource.LICENSE, "MIT License")
    repeated = "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nLicense-Expression: MIT\nLicense-Expression: ISC\n"
    assert license_from_metadata(repeated) == ReleaseLicense(None, LicenseSource.EXPRESSION,
                                                             "License-Expression is repeated or unreadable")
