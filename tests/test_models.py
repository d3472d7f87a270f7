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


def test_models_are_immutable_slotted_structs() -> None:
    import gc
    import pickle

    import msgspec
    from packaging.utils import canonicalize_name

    from mirror.core.models import ProjectDetail, ProjectEntry, ProjectList, ProjectStatus

    f = DistFile("a-1.tar.gz", "https://files.example/a-1.tar.gz", {"sha256": "ab" * 32}, size=3)
    detail = ProjectDetail(name=canonicalize_name("a"), files=(f,), versions=("1",), last_serial=4)
    for model, field in ((f, "url"), (detail, "files"), (ProjectStatus(), "status"), (ProjectEntry("a"), "name"),
                         (ProjectList(), "projects")):
        with pytest.raises(AttributeError):
            setattr(model, field, None)
        assert not hasattr(model, "__dict__") and not gc.is_tracked(model)
    changed = msgspec.structs.replace(f, core_metadata={"sha256": "cd" * 32})
    assert changed.core_metadata == {"sha256": "cd" * 32} and f.core_metadata is None and changed != f
    assert {f: 1}[DistFile("a-1.tar.gz", "https://files.example/a-1.tar.gz", {"sha256": "ab" * 32}, size=3)] == 1
    assert pickle.loads(pickle.dumps(detail)) == detail
    assert detail.status == ProjectStatus("active", None) and detail.file_named("a-1.tar.gz") is f


def test_a_naive_upload_time_is_utc() -> None:
    naive = DistFile("a-1.tar.gz", "u", upload_time=datetime(2020, 1, 2, 3, 4, 5))
    assert naive.upload_time == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert DistFile("a-1.tar.gz", "u").hashes == {} and DistFile("a-1.tar.gz", "u").upload_time is None
