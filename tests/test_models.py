"""Pure model helpers: versions from filenames, PEP 700 timestamps, hash choice."""

from datetime import UTC, datetime

import pytest

from mirror.core.models import (
    DistFile,
    format_upload_time,
    parse_upload_time,
    version_from_filename,
)


@pytest.mark.parametrize(
    ("filename", "version"),
    [
        ("requests-2.32.3-py3-none-any.whl", "2.32.3"),
        ("requests-2.32.3.tar.gz", "2.32.3"),
        ("zope.interface-6.0.zip", "6.0"),
        ("Django-5.0rc1.tar.gz", "5.0rc1"),
        ("numpy-1.24.4-cp38-cp38-manylinux_2_17_x86_64.whl", "1.24.4"),
        ("setuptools-0.6c11-py2.7.egg", "0.6rc11"),  # normalized by packaging
        ("foo-1.0.win32.exe", None),
        ("garbage", None),
    ],
)
def test_version_from_filename(filename, version):
    assert version_from_filename(filename) == version


def test_upload_time_round_trip():
    t = datetime(2012, 1, 22, 5, 8, 17, 91441, tzinfo=UTC)
    assert format_upload_time(t) == "2012-01-22T05:08:17.091441Z"
    assert parse_upload_time("2012-01-22T05:08:17.091441Z") == t
    assert format_upload_time(datetime(2020, 1, 1, tzinfo=UTC)) == "2020-01-01T00:00:00Z"


def test_strongest_supported_hash_is_verified():
    f = DistFile("a-1.tar.gz", "u", {"md5": "AB" * 16, "sha256": "CD" * 32, "blake3": "ef"})
    assert f.verifiable_hash() == ("sha256", "cd" * 32)
    assert f.checked_hashes() == {"md5": "ab" * 16, "sha256": "cd" * 32}  # blake3: not computable, dropped
    assert DistFile("a-1.tar.gz", "u", {"blake2b": "ef"}).verifiable_hash() is None


def test_malformed_digests_are_not_verifiable():
    assert DistFile("a-1.tar.gz", "u", {"sha256": "nothex"}).verifiable_hash() is None
    assert DistFile("a-1.tar.gz", "u", {"sha256": "ab" * 31}).verifiable_hash() is None
    # a malformed hash makes the file unverifiable, whatever else is advertised (and md5 alone never is)
    assert DistFile("a-1.tar.gz", "u", {"sha256": "zz" * 32, "md5": "ab" * 16}).verifiable_hash() is None
    assert DistFile("a-1.tar.gz", "u", {"sha256": "x"}, core_metadata={"sha256": "y"}).metadata_hash() is None
