"""Pure model helpers: versions from filenames, PEP 700 timestamps, hash choice."""

from datetime import UTC, datetime, timedelta, timezone

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


# --------------------------------------------------------------------------- rules stated as tables (issue 16)

from mirror.core.hashes import PREFERENCE, checked_hashes, hex_length, primary  # noqa: E402
from mirror.core.models import (  # noqa: E402
    ProjectDetail,
    ProjectEntry,
    is_safe_filename,
)

HOSTILE_FILENAMES = [
    "", ".", "..", "../x.whl", "x/../../y.whl", "sub/x.whl", "/abs.whl", "x.whl/", "sub\\x.whl", "C:x.whl",
    "x..whl", "x-1.0..tar.gz", "%2e%2e%2fx.whl", "x%00.whl", "x.whl\n", "x.whl\r\n", "\nx.whl", "x.whl\x00",
    " x.whl", "x.whl ", "x whl", "x\tx.whl", ".hidden.whl", "-rf.whl", "_x.whl", "~x.whl", "+x.whl",
    "x?.whl", "x#y.whl", "x;y.whl", "x&y.whl", "x|y.whl", "x`y`.whl", "x$(y).whl", "x'y.whl", 'x"y.whl',
    "x<y>.whl", "x*.whl", "x:y.whl", "x@y.whl", "x=y.whl", "x,y.whl", "x[y].whl", "x{y}.whl", "ẋ.whl",
    "x\u200b.whl", "x\u2215y.whl", "x\uff0fy.whl", "a" * 256,
]


@pytest.mark.parametrize("name", HOSTILE_FILENAMES)
def test_hostile_file_names_are_not_plain_segments(name):
    assert not is_safe_filename(name)


@pytest.mark.parametrize("name", ["x.whl", "X", "0", "a" * 255, "demo-1.0-py3-none-any.whl", "zope.interface-6.0.zip",
                                  "demo-1.0+local.tar.gz", "demo-1!2.0.tar.gz", "x~y.tar.gz", "x_y-1.0.tar.gz",
                                  "x.y.z"])
def test_plain_file_names_are_safe(name):
    assert is_safe_filename(name)


@pytest.mark.parametrize(("filename", "version"), [
    ("demo-1.0-py3-none-any.whl", "1.0"),
    ("demo-1.0-1-py3-none-any.whl", "1.0"),           # a build tag
    ("demo-1.0.whl", None),                            # a wheel name with too few parts
    ("demo-1.0-py3-none-any.whl.zip", "1.0"),         # a legacy name: its first part that is a version
    ("demo-latest-py3-none-any.whl", None),
    ("demo-1.0.tar.gz", "1.0"), ("demo-1.0.zip", "1.0"), ("demo-1.0.tar.bz2", "1.0"),
    ("demo-1.0.tar.xz", "1.0"), ("demo-1.0.tgz", "1.0"),
    ("demo-1.0-py2.7.egg", "1.0"), ("demo-1.0.win-amd64-py3.8.exe", None), ("demo-1.0.win-amd64.msi", None),
    ("demo-2.0.rpm", "2.0"), ("demo-2.0.dmg", "2.0"), ("demo-2.0.msi", "2.0"),
    ("demo-lib-3.1.tar.bz2", "3.1"),                   # the first part that is a version
    ("demo-x-y.tar.bz2", None),
    ("demo.tar.bz2", None),
    ("demo-1.0.tar", None),                            # not a known extension
    ("demo-1.0.exe", "1.0"),
    ("demo-1.0", None),
    ("demo-1.0-foo.egg", "1.0"),
    ("demo-v1.0.tar.gz", "1.0"),                       # packaging normalizes a leading v
    ("demo-1.0RC1.tar.gz", "1.0rc1"),
])
def test_versions_read_from_file_names(filename, version):
    assert version_from_filename(filename) == version
    assert DistFile(filename, "u").version == version


@pytest.mark.parametrize(("hashes", "sha256"), [
    ({"sha256": "ab" * 32}, "ab" * 32),
    ({"sha256": "0123456789abcdef" * 4}, "0123456789abcdef" * 4),   # every hex digit
    ({"sha256": "AB" * 32}, "ab" * 32),
    ({"sha256": "ab" * 31}, None),
    ({"sha256": "ab" * 33}, None),
    ({"sha256": "zz" * 32}, None),
    ({"sha256": 5}, None),
    ({"sha512": "ab" * 64}, None),
    ({}, None),
])
def test_the_advertised_sha256(hashes, sha256):
    assert DistFile("x.whl", "u", hashes).sha256 == sha256


def test_yanked():
    plain, yanked = DistFile("x.whl", "u"), DistFile("x.whl", "u", yanked=True)
    why = DistFile("x.whl", "u", yanked="bad")
    assert not plain.is_yanked and plain.yanked_reason is None
    assert yanked.is_yanked and yanked.yanked_reason is None
    assert why.is_yanked and why.yanked_reason == "bad"


def test_metadata_hashes():
    f = DistFile("x.whl", "u", {"sha256": "ab" * 32}, core_metadata={"SHA512": "CD" * 64, "sha256": "EF" * 32})
    assert f.checked_metadata() == {"sha512": "cd" * 64, "sha256": "ef" * 32}
    assert f.metadata_hash() == ("sha256", "ef" * 32)
    only512 = DistFile("x.whl", "u", core_metadata={"sha512": "cd" * 64})
    assert only512.metadata_hash() == ("sha512", "cd" * 64)
    assert DistFile("x.whl", "u").checked_metadata() is None and DistFile("x.whl", "u").metadata_hash() is None
    assert DistFile("x.whl", "u", core_metadata={}).checked_metadata() is None


def test_file_named_is_exact():
    a, b = DistFile("a-1.0.tar.gz", "u1"), DistFile("A-1.0.tar.gz", "u2")
    detail = ProjectDetail("a", (a, b))
    assert detail.file_named("a-1.0.tar.gz") is a and detail.file_named("A-1.0.tar.gz") is b
    assert detail.file_named("a-1.0.tar") is None and ProjectDetail("a").file_named("a-1.0.tar.gz") is None


def test_computed_versions_are_sorted_as_versions_not_strings():
    files = tuple(DistFile(f"a-{v}.tar.gz", "u") for v in ("10.0", "9.0", "1.0rc1", "1.0", "9.0", "2.0.post1"))
    detail = ProjectDetail("a", files + (DistFile("a.tar.gz", "u"),), versions=("11.0",))
    assert detail.computed_versions() == ("1.0rc1", "1.0", "2.0.post1", "9.0", "10.0")
    assert ProjectDetail("a").computed_versions() == ()


def test_sort_key_puts_unparseable_versions_first():
    from mirror.core.models import _version_key

    assert sorted(["2.0", "b", "10.0", "a"], key=_version_key) == ["a", "b", "2.0", "10.0"]


def test_upload_times_are_utc():
    from datetime import timedelta, timezone

    east = timezone(timedelta(hours=2))
    aware = DistFile("x.whl", "u", upload_time=datetime(2020, 1, 2, 3, 4, 5, tzinfo=east))
    assert aware.upload_time == datetime(2020, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert aware.upload_time.utcoffset() == timedelta(hours=2)  # kept as given, compared as instants
    assert format_upload_time(datetime(2020, 1, 2, 3, 4, 5, tzinfo=east)) == "2020-01-02T01:04:05Z"
    assert parse_upload_time("2020-01-02T03:04:05+02:00") == datetime(2020, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert parse_upload_time("2020-01-02T03:04:05z") == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_upload_time("2020-01-02T03:04:05") == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_upload_time("2020-01-02T03:04:05+02:00").tzinfo is UTC
    with pytest.raises(ValueError):
        parse_upload_time("yesterday")


def test_project_entry_normalizes():
    assert ProjectEntry("Zope.Interface").normalized == "zope-interface"


@pytest.mark.parametrize(("advertised", "checked"), [
    ({"sha256": "ab" * 32}, {"sha256": "ab" * 32}),
    ({"sha256": "AB" * 32}, {"sha256": "ab" * 32}),
    ({" SHA256 ": "ab" * 32}, {"sha256": "ab" * 32}),
    ({"sha512": "ab" * 64}, {"sha512": "ab" * 64}),
    ({"sha384": "ab" * 48, "md5": "cd" * 16}, {"sha384": "ab" * 48, "md5": "cd" * 16}),
    ({"blake2s": "ab" * 32}, {"blake2s": "ab" * 32}),
    ({"sha256": "ab" * 32, "unknown": "zz"}, {"sha256": "ab" * 32}),
    ({"sha256": "ab" * 32, "sha256 ": "AB" * 32}, {"sha256": "ab" * 32}),
    (None, None), ({}, None),
    ({"md5": "ab" * 16}, None), ({"sha1": "ab" * 20}, None), ({"md5": "ab" * 16, "sha1": "ab" * 20}, None),
    ({"sha256": "ab" * 32 + "\n"}, None), ({"sha256": " " + "ab" * 32}, None), ({"sha256": "ab" * 32 + "0"}, None),
    ({"sha256": "gg" * 32}, None), ({"sha256": None}, None), ({"sha256": 1}, None),
    ({"sha256": "ab" * 32, "sha512": "ab" * 63}, None),
    ({"sha256": "ab" * 32, "SHA256": "cd" * 32}, None),
    ({1: "ab" * 32, "sha256": "ab" * 32}, None),
    ({"unknown": "zz"}, None),
    ({"shake_128": "ab" * 16}, None),
])
def test_hash_rules_table(advertised, checked):
    assert checked_hashes(advertised) == checked


def test_hash_lengths_and_the_naming_hash():
    assert [hex_length(a) for a in ("md5", "sha1", "sha256", "sha512", "blake2s")] == [32, 40, 64, 128, 64]
    assert PREFERENCE[0] == "sha256"
    assert primary({"sha512": "x", "sha256": "y"}) == ("sha256", "y")
    assert primary({"md5": "x", "sha512": "y", "blake2b": "z"}) == ("sha512", "y")
    assert primary({"md5": "x"}) is None and primary({}) is None
    assert [primary({a: "v"}) for a in PREFERENCE] == [(a, "v") for a in PREFERENCE]


def test_upload_times_do_not_depend_on_the_local_time_zone(monkeypatch):
    import time
    from datetime import timedelta, timezone

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        east = timezone(timedelta(hours=2))
        assert format_upload_time(datetime(2020, 1, 2, 3, 4, 5, tzinfo=east)) == "2020-01-02T01:04:05Z"
        assert parse_upload_time("2020-01-02T03:04:05") == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    finally:
        monkeypatch.undo()
        time.tzset()


# The wheel path checks each part of a filename once per distinct part (names, versions, build tags and tag
# sets repeat across a page's thousands of files); its answers must be packaging's, filename by filename.
def _packaging_wheel_version(filename: str) -> str | None:
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename
    try:
        return str(parse_wheel_filename(filename)[1])
    except InvalidWheelFilename:
        return None


_WHEEL_PARTS = {
    "name": ["demo", "Demo_Lib", "zope.interface", "a__b", "", "x y", "é", "1abc", "a.b_c"],
    "version": ["1.0", "v1.0", "1.0rc1", "2!1.0.post3.dev2+local.7", "1.0-1", "", "x", "1..0", "01.002"],
    "build": [None, "1", "12abc", "abc", "", "1_2"],
    "tags": ["py3-none-any", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", "py2.py3-none-any",
             "py3--any", "-none-any", "py3-none-", "3py-none-any", "py3-none-any.", "cp311-abi3-win_amd64"],
}


@pytest.mark.parametrize("name", _WHEEL_PARTS["name"])
@pytest.mark.parametrize("version", _WHEEL_PARTS["version"])
@pytest.mark.parametrize("build", _WHEEL_PARTS["build"])
def test_wheel_versions_agree_with_packaging_part_by_part(name, version, build):
    for tags in _WHEEL_PARTS["tags"]:
        filename = "-".join(p for p in (name, version, build, tags) if p is not None) + ".whl"
        assert version_from_filename(filename) == _packaging_wheel_version(filename), filename


@pytest.mark.parametrize("filename", [
    "demo.whl", "demo-1.0.whl", "demo-1.0-py3-none-any-extra-more.whl", "a-1-2-3-4-5-6.whl", "-----.whl",
    ".whl", "demo-1.0-py3-none-any.WHL", "demo-1.0-1-py3-none-any.whl", "demo-1.0-py3-none-any.whl.whl",
])
def test_odd_wheel_filenames_agree_with_packaging(filename):
    assert version_from_filename(filename) == _packaging_wheel_version(filename)


@pytest.mark.parametrize(("value", "text"), [
    (datetime(2012, 1, 22, 5, 8, 17, 91441, tzinfo=UTC), "2012-01-22T05:08:17.091441Z"),
    (datetime(2012, 1, 22, 5, 8, 17, tzinfo=UTC), "2012-01-22T05:08:17Z"),
    (datetime(2012, 1, 22, 7, 8, 17, 5, tzinfo=timezone(timedelta(hours=2))), "2012-01-22T05:08:17.000005Z"),
    (datetime(2012, 1, 22, 0, 30, tzinfo=timezone(timedelta(hours=-1, minutes=-30))), "2012-01-22T02:00:00Z"),
])
def test_upload_times_are_written_in_utc_with_a_fraction_only_when_there_is_one(value, text):
    assert format_upload_time(value) == text
