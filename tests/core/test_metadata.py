"""Core metadata parsing: every metadata version, real shapes, defects reported, hostile bytes refused narrowly."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from mirror.core.metadata import MAX_REQUIREMENTS, CoreMetadata, MetadataError, parse_metadata

from ..support.dists import metadata_text

# The shape of a real wheel's METADATA (2.1, as setuptools writes it), description body included.
REQUESTS = """\
Metadata-Version: 2.1
Name: requests
Version: 2.32.3
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Author: Kenneth Reitz
License: Apache-2.0
Classifier: Development Status :: 5 - Production/Stable
Classifier: License :: OSI Approved :: Apache Software License
Classifier: Programming Language :: Python :: 3
Requires-Python: >=3.8
Description-Content-Type: text/markdown
License-File: LICENSE
Requires-Dist: charset-normalizer <4,>=2
Requires-Dist: idna <4,>=2.5
Requires-Dist: urllib3 <3,>=1.21.1
Requires-Dist: certifi >=2017.4.17
Provides-Extra: security
Provides-Extra: socks
Requires-Dist: PySocks !=1.5.7,>=1.5.6 ; extra == 'socks'
Provides-Extra: use_chardet_on_py3
Requires-Dist: chardet <6,>=3.0.2 ; extra == 'use_chardet_on_py3'

# Requests

Requires-Dist: not-a-header-this-is-the-readme
"""

# PEP 639 metadata (2.4) as hatchling writes it, with CRLF line endings.
HATCHLING_24 = (
    "Metadata-Version: 2.4\r\nName: Demo_Pkg\r\nVersion: 1.0.0rc1\r\nLicense-Expression: mit or apache-2.0\r\n"
    "License-File: LICENSE\r\nRequires-Python: >=3.9\r\nProvides-Extra: Fast\r\n"
    "Requires-Dist: orjson>=3; extra == \"fast\"\r\nRequires-Dist: typing-extensions; python_version < \"3.11\"\r\n"
    "\r\nbody\r\n"
)

# An old PKG-INFO (1.0): no Requires-Dist field existed; a multi-line Description header.
PKG_INFO_10 = """\
Metadata-Version: 1.0
Name: oldpkg
Version: 0.3
Summary: An old package
Home-page: UNKNOWN
License: BSD
Description: A long
        description over
        several lines
Platform: UNKNOWN
"""

# 1.1 adds Classifier and Requires (module names, not distributions: not a dependency declaration).
PKG_INFO_11 = "Metadata-Version: 1.1\nName: mid\nVersion: 1.1\nRequires: os\nClassifier: Framework :: Zope\n"
# 1.2 introduced Requires-Dist and Requires-Python.
PKG_INFO_12 = "Metadata-Version: 1.2\nName: twelve\nVersion: 2\nRequires-Python: >=2.7\nRequires-Dist: six (>=1.0)\n"


def test_a_real_wheel_metadata() -> None:
    meta = parse_metadata(REQUESTS.encode())
    assert (meta.name, meta.version, meta.metadata_version) == ("requests", "2.32.3", "2.1")
    assert [str(r) for r in meta.requires_dist] == [
        "charset-normalizer<4,>=2", "idna<4,>=2.5", "urllib3<3,>=1.21.1", "certifi>=2017.4.17",
        'PySocks!=1.5.7,>=1.5.6; extra == "socks"', 'chardet<6,>=3.0.2; extra == "use-chardet-on-py3"']
    assert meta.provides_extra == ("security", "socks", "use-chardet-on-py3")
    assert meta.requires_python == SpecifierSet(">=3.8")
    assert meta.license == "Apache-2.0" and meta.license_expression is None
    assert meta.classifiers[0] == "Development Status :: 5 - Production/Stable"
    assert meta.summary == "Python HTTP for Humans."
    assert meta.problems == () and meta.invalid_requires_dist == ()


def test_the_description_body_is_never_read_as_headers() -> None:
    meta = parse_metadata(REQUESTS)
    assert all("readme" not in r.name for r in meta.requires_dist)


@pytest.mark.parametrize(
    ("text", "metadata_version", "name", "version", "requires", "python", "extras", "license_expression"),
    [
        (PKG_INFO_10, "1.0", "oldpkg", "0.3", [], None, (), None),
        (PKG_INFO_11, "1.1", "mid", "1.1", [], None, (), None),
        (PKG_INFO_12, "1.2", "twelve", "2", ["six>=1.0"], ">=2.7", (), None),
        (metadata_text("Some.Project", "1.2", requires_dist=["dep>=1"], requires_python=">=3.8"), "2.1",
         "Some.Project", "1.2", ["dep>=1"], ">=3.8", (), None),
        (HATCHLING_24, "2.4", "Demo_Pkg", "1.0.0rc1",
         ['orjson>=3; extra == "fast"', 'typing-extensions; python_version < "3.11"'], ">=3.9", ("fast",),
         "MIT OR Apache-2.0"),
        ("Metadata-Version: 2.5\nName: new\nVersion: 1\nImport-Name: new\n", "2.5", "new", "1", [], None, (), None),
    ],
    ids=["1.0", "1.1", "1.2", "2.1", "2.4-crlf", "2.5"],
)
def test_every_metadata_version(text: str, metadata_version: str, name: str, version: str, requires: list[str],
                                python: str | None, extras: tuple[str, ...], license_expression: str | None) -> None:
    meta = parse_metadata(text)
    assert (meta.metadata_version, meta.name, meta.version) == (metadata_version, name, version)
    assert [str(r) for r in meta.requires_dist] == requires
    assert meta.requires_python == (SpecifierSet(python) if python else None)
    assert meta.provides_extra == extras
    assert meta.license_expression == license_expression
    assert meta.problems == ()


def test_the_model_is_immutable_and_normalizes_on_request() -> None:
    meta = parse_metadata(HATCHLING_24)
    assert meta.canonical_name == "demo-pkg"
    assert str(meta.parsed_version) == "1.0.0rc1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.version = "2"  # type: ignore[misc]
    assert isinstance(meta.requires_dist, tuple) and isinstance(meta.requires_dist[0], Requirement)


@pytest.mark.parametrize(
    ("extra_lines", "problem", "check"),
    [
        ("Requires-Dist: ok>=1\nRequires-Dist: bad req here\nRequires-Dist: also bad (\n", None,
         lambda m: [str(r) for r in m.requires_dist] == ["ok>=1"]
         and [b.text for b in m.invalid_requires_dist] == ["bad req here", "also bad ("]
         and all(b.problem for b in m.invalid_requires_dist)),
        ("Requires-Python: >=three\n", "Requires-Python '>=three' is not a version specifier",
         lambda m: m.requires_python is None),
        ("License-Expression: MIT AND NOT-A-LICENSE(\n", "License-Expression", lambda m: m.license_expression
         == "MIT AND NOT-A-LICENSE("),
        ("Provides-Extra: ok\nProvides-Extra: not ok!\n", "Provides-Extra 'not ok!'",
         lambda m: m.provides_extra == ("ok",)),
        ("Requires-Python: >=3\nRequires-Python: >=2\n", "Requires-Python appears more than once",
         lambda m: m.requires_python is None),
    ],
    ids=["invalid-requirement", "bad-requires-python", "bad-license-expression", "bad-extra", "two-requires-python"],
)
def test_defects_are_reported_not_fatal(extra_lines: str, problem: str | None, check) -> None:
    meta = parse_metadata("Metadata-Version: 2.4\nName: x\nVersion: 1\n" + extra_lines)
    assert check(meta)
    if problem:
        assert any(problem in p for p in meta.problems), meta.problems


@pytest.mark.parametrize(
    ("head", "problem"),
    [
        ("Name: x\nVersion: 1\n", "no Metadata-Version field"),
        ("Metadata-Version: 2.9\nName: x\nVersion: 1\n", "Metadata-Version 2.9 is newer"),
        ("Metadata-Version: 2.1\nName: x\nVersion: 2004d\n", "Version '2004d' is not a PEP 440 version"),
        ("Metadata-Version: ²\nName: x\nVersion: 1\n", "Metadata-Version '²' is not a version"),
    ],
)
def test_lenient_readings_say_so(head: str, problem: str) -> None:
    meta = parse_metadata(head)
    assert any(problem in p for p in meta.problems), meta.problems
    assert meta.name == "x"


def test_legacy_version_is_kept_as_written() -> None:
    meta = parse_metadata("Metadata-Version: 2.1\nName: x\nVersion: 2004d\n")
    assert meta.version == "2004d" and meta.parsed_version is None


def test_a_requirement_field_that_is_not_utf8_is_reported() -> None:
    meta = parse_metadata(b"Metadata-Version: 2.1\nName: x\nVersion: 1\nRequires-Dist: caf\xe9\n")
    assert meta.requires_dist == () and [b.problem for b in meta.invalid_requires_dist] == ["not valid UTF-8"]
    assert any("not valid UTF-8" in p for p in meta.problems)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Metadata-Version: 2.1\nVersion: 1\n", "no Name field"),
        (b"Metadata-Version: 2.1\nName: x\n", "no Version field"),
        (b"Metadata-Version: 2.1\nName: \nVersion: 1\n", "no Name field"),
        (b"Metadata-Version: 2.1\nName: a\nName: b\nVersion: 1\n", "Name appears 2 times"),
        (b"Metadata-Version: 2.1\nName: \xff\xfe\nVersion: 1\n", "Name is not valid UTF-8"),
        (b"Metadata-Version: 2.1\nName: not a name\nVersion: 1\n", "is not a valid project name"),
        (b"Metadata-Version: 3.0\nName: x\nVersion: 1\n", "major version"),
        (b"", "no Name field"),
        (b"\x00\x01\x02 binary junk", "no Name field"),
        (b"<html><body>404</body></html>", "no Name field"),
    ],
)
def test_unusable_metadata_raises_one_narrow_error(data: bytes, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_metadata(data)


def test_size_cap() -> None:
    data = b"Metadata-Version: 2.1\nName: x\nVersion: 1\n\n" + b"x" * 2000
    assert parse_metadata(data, max_bytes=5000).name == "x"
    with pytest.raises(MetadataError, match="more than the 1000 accepted"):
        parse_metadata(data, max_bytes=1000)


def test_requirement_count_cap() -> None:
    many = "".join(f"Requires-Dist: dep{i}\n" for i in range(MAX_REQUIREMENTS + 1))
    with pytest.raises(MetadataError, match="Requires-Dist entries"):
        parse_metadata("Metadata-Version: 2.1\nName: x\nVersion: 1\n" + many)


def test_lone_surrogates_in_text_are_refused_narrowly() -> None:
    with pytest.raises(MetadataError):
        parse_metadata("Metadata-Version: 2.1\nName: x\ud800\nVersion: 1\n")


_HEADER_NAMES = st.sampled_from(["Metadata-Version", "Name", "Version", "Requires-Dist", "Requires-Python",
                                 "Provides-Extra", "License-Expression", "License", "Classifier", "X-Other", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_HEADER_NAMES, st.text(max_size=40)), max_size=12), st.binary(max_size=64))
def test_hostile_header_soup_gives_a_model_or_metadata_error(headers: list[tuple[str, str]], tail: bytes) -> None:
    data = "".join(f"{k}: {v}\n" if k else f"{v}\n" for k, v in headers).encode("utf-8", "surrogatepass") + tail
    try:
        meta = parse_metadata(data)
    except MetadataError:
        return
    assert isinstance(meta, CoreMetadata) and meta.name and meta.version


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_model_or_metadata_error(data: bytes) -> None:
    try:
        parse_metadata(b"Metadata-Version: 2.1\nName: x\nVersion: 1\n" + data)
        parse_metadata(data)
    except MetadataError:
        pass
