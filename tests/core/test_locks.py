"""Lock files: PEP 751 pylock.toml and uv.lock into one LockedSet; malformed ones named by file, line and key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mirror.core.locks import LockedDependency, parse_lock, parse_pylock, parse_uv_lock
from mirror.core.requirements import DependencyFileError

H1, H2, H3, H4, H5, H6 = (c * 64 for c in "123456")

DATA = Path(__file__).resolve().parent.parent / "data" / "deps"
# Shaped after the example in PEP 751 (hosts replaced), plus an sdist, a marker and a directory package.
PYLOCK = (DATA / "pylock.toml").read_text(encoding="utf-8")
# A small uv.lock as uv writes it: an editable root with optional and dev groups, registry packages with
# sdists and wheels, markers and extras on edges, a fork (two versions of one package), a git source
# and a local wheel named by filename.
UV_LOCK = (DATA / "uv.lock").read_text(encoding="utf-8")


def test_pylock_from_the_pep_example() -> None:
    locked = parse_pylock(PYLOCK, "pylock.toml")
    assert locked.kind == "pylock" and locked.file == "pylock.toml"
    assert locked.requires_python == SpecifierSet("==3.12")
    assert locked.environments == (Marker("sys_platform == 'win32'"), Marker("sys_platform == 'linux'"))
    attrs, cattrs, numpy, myapp = locked.packages
    assert (attrs.name, attrs.version, attrs.source, attrs.line) == ("attrs", Version("25.1.0"), "registry", 6)
    assert attrs.files == {"attrs-25.1.0-py3-none-any.whl": {"sha256": H1}}
    assert attrs.requires_python == SpecifierSet(">=3.8") and attrs.marker is None
    assert cattrs.files == {"cattrs-24.1.2-py3-none-any.whl": {"sha256": H2},
                            "cattrs-24.1.2.tar.gz": {"sha256": H3, "sha512": "e" * 128}}
    assert cattrs.index == "https://pkgs.up.example/simple"
    assert cattrs.dependencies == (LockedDependency("attrs"),)
    assert numpy.marker == Marker("sys_platform == 'win32' or sys_platform == 'linux'")
    assert numpy.files["numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"] == {"sha256": H5}
    assert (myapp.source, myapp.version, myapp.promotable, myapp.files) == ("directory", None, False, {})
    assert [p.name for p in locked.promotable] == ["attrs", "cattrs", "numpy"]
    assert [p.name for p in locked.not_promotable] == ["myapp"]
    assert locked.notes == ()
    assert [str(p.pin) for p in locked.promotable] == [
        "attrs==25.1.0", "cattrs==24.1.2", 'numpy==2.2.3; sys_platform == "win32" or sys_platform == "linux"']
    assert myapp.pin is None


def test_pylock_version_taken_from_filenames_when_not_written() -> None:
    text = PYLOCK.replace("version = '25.1.0'\n", "")
    assert parse_pylock(text).packages[0].version == Version("25.1.0")


def test_pylock_newer_minor_version_reads_with_a_note() -> None:
    locked = parse_pylock(PYLOCK.replace("lock-version = '1.0'", "lock-version = '1.3'"))
    assert locked.notes == ("lock-version 1.3 is newer than 1.0; read as 1.0",)


def test_a_wheel_with_only_a_local_path_is_not_from_an_index() -> None:
    text = ("lock-version = '1.0'\ncreated-by = 'x'\n[[packages]]\nname = 'local'\nversion = '1'\n"
            f"wheels = [{{path = 'dist/local-1-py3-none-any.whl', hashes = {{sha256 = '{H1}'}}}}]\n")
    (package,) = parse_pylock(text).packages
    assert (package.source, package.promotable) == ("path", False)


def test_uv_lock() -> None:
    locked = parse_uv_lock(UV_LOCK)
    assert locked.kind == "uv.lock" and locked.requires_python == SpecifierSet(">=3.9")
    assert locked.environments == (Marker("sys_platform == 'linux'"),)
    by = {(p.name, str(p.version)): p for p in locked.packages}
    anyio = by["anyio", "4.6.2"]
    assert (anyio.source, anyio.index, anyio.promotable, anyio.line) == (
        "registry", "https://pkgs.up.example/simple", True, 12)
    assert anyio.files == {"anyio-4.6.2.tar.gz": {"sha256": H1}, "anyio-4.6.2-py3-none-any.whl": {"sha256": H2}}
    assert anyio.dependencies == (LockedDependency("exceptiongroup", Marker("python_full_version < '3.11'")),
                                  LockedDependency("idna"))
    old, new = by["coverage", "7.6.1"], by["coverage", "7.6.4"]
    assert old.marker == Marker("python_full_version < '3.10'") and new.marker == Marker(
        "python_full_version >= '3.10'")
    assert old.dependencies == (LockedDependency("tomli", Marker("python_full_version < '3.10'"), (), "extra:toml"),)
    assert list(new.files) == ["coverage-7.6.4.tar.gz"]
    demo = by["demo", "0.1.0"]
    assert (demo.source, demo.promotable) == ("editable", False)
    assert [(d.name, d.extras, d.group) for d in demo.dependencies] == [
        ("anyio", (), None), ("httpx", ("http2", "socks"), None), ("rich", (), "extra:cli"),
        ("coverage", ("toml",), "group:test"), ("coverage", ("toml",), "group:test")]
    assert by["internal-tool", "1.4.0"].source == "git" and not by["internal-tool", "1.4.0"].promotable
    assert by["vendored", "2.0"].files == {"vendored-2.0-py3-none-any.whl": {"sha256": H5}}
    assert by["nohash", "1.0"].files == {"nohash-1.0-py3-none-any.whl?": {}}
    assert locked.notes == ("package[6].wheels[0]: nohash-1.0-py3-none-any.whl? has no hash",)
    assert [p.name for p in locked.promotable] == ["anyio", "coverage", "coverage", "nohash"]


@pytest.mark.parametrize(
    ("file", "text", "kind"),
    [
        ("uv.lock", UV_LOCK, "uv.lock"),
        ("sub/dir/uv.lock", UV_LOCK, "uv.lock"),
        ("pylock.toml", PYLOCK, "pylock"),
        ("pylock.dev.toml", PYLOCK, "pylock"),
        ("locks/some-name.toml", PYLOCK, "pylock"),
        ("locks/some-name.lock", UV_LOCK, "uv.lock"),
    ],
)
def test_parse_lock_tells_the_kinds_apart(file: str, text: str, kind: str) -> None:
    assert parse_lock(text, file).kind == kind


def _pylock_package(body: str) -> str:
    return f"lock-version = '1.0'\ncreated-by = 'x'\n\n[[packages]]\nname = 'ok'\nversion = '1'\n" \
           f"wheels = [{{name = 'ok-1-py3-none-any.whl', url = 'https://files.up.example/ok-1-py3-none-any.whl', " \
           f"hashes = {{sha256 = '{H1}'}}}}]\n\n# a comment\n[[packages]]  # second\n{body}"


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        ("lock-version = '1.0'\ncreated-by = 'x'\npackages = [\n  {name = 'a' \n]\n", 4, None, "not valid TOML"),
        ("lock-version = '2.0'\ncreated-by = 'x'\npackages = []\n", None, None, "pylock version 2.0 is not supported"),
        ("created-by = 'x'\npackages = []\n", None, "lock-version", "Missing required value"),
        ("lock-version = '1.0'\npackages = []\n", None, "created-by", "Missing required value"),
        (_pylock_package("name = 'Not_Normal'\nversion = '1'\ndirectory = {path = '.'}\n"), 10, "packages[1].name",
         "is not normalized"),
        (_pylock_package(f"name = 'b'\nversion = '1'\nwheels = [{{name = 'c-1-py3-none-any.whl', "
                         f"url = 'https://files.up.example/c.whl', hashes = {{sha256 = '{H1}'}}}}]\n"), 10,
         "packages[1].wheels[0]", "not consistent"),
        (_pylock_package("name = 'b'\nversion = '1'\nwheels = [{name = 'b-1-py3-none-any.whl', "
                         "url = 'https://files.up.example/b.whl', hashes = {sha256 = 'xyz'}}]\n"), 10,
         "packages[1].wheels[0].hashes", "sha256 digest 'xyz' is not hexadecimal"),
        (_pylock_package("name = 'b'\nversion = '1'\nwheels = [{name = 'b-1-py3-none-any.whl', "
                         "url = 'https://files.up.example/b.whl', hashes = {}}]\n"), 10, "packages[1].wheels[0].hashes",
         "At least one hash"),
        (_pylock_package("name = 'b'\nversion = 'not a version'\ndirectory = {path = '.'}\n"), 10,
         "packages[1].version", "Invalid version"),
    ],
    ids=["toml-syntax", "lock-version-2", "no-lock-version", "no-created-by", "name-not-normalized",
         "wheel-of-another-project", "bad-hash", "no-hashes", "bad-version"],
)
def test_malformed_pylock_names_file_line_and_key(text: str, line: int | None, key: str | None, message: str) -> None:
    with pytest.raises(DependencyFileError, match=message) as caught:
        parse_pylock(text, "locks/pylock.toml")
    assert (caught.value.file, caught.value.line, caught.value.key) == ("locks/pylock.toml", line, key)


_UV_HEAD = 'version = 1\nrequires-python = ">=3.9"\n\n[[package]]\nname = "ok"\nversion = "1"\n' \
           'source = { registry = "https://pkgs.up.example/simple" }\n\n[[package]]\n'


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        ("version = 1\n[[package]\n", 2, None, "not valid TOML"),
        ("version = 2\n", None, "version", "uv.lock version 2 is not supported"),
        ("revision = 1\n", None, "version", "missing"),
        ('version = "1"\n', None, "version", "expected int, found str"),
        ('version = 1\nrequires-python = ">=banana"\n', None, "requires-python", "is not a version specifier"),
        (_UV_HEAD + 'version = "1"\nsource = { registry = "x" }\n', 9, "package[1].name", "missing"),
        (_UV_HEAD + 'name = "b"\nversion = "1"\n', 9, "package[1].source", "missing"),
        (_UV_HEAD + 'name = "b"\nsource = { registry = "x", git = "y" }\n', 9, "package[1].source",
         "exactly one of"),
        (_UV_HEAD + 'name = "b"\nversion = "one"\nsource = { registry = "x" }\n', 9, "package[1].version",
         "not a PEP 440 version"),
        (_UV_HEAD + 'name = "b"\nsource = { registry = "x" }\nsdist = { url = "https://f.up.example/b.tar.gz", '
                    'hash = "sha256:zz" }\n', 9, "package[1].sdist.hash", "not hexadecimal"),
        (_UV_HEAD + 'name = "b"\nsource = { registry = "x" }\nsdist = { hash = "sha256:' + H1 + '" }\n', 9,
         "package[1].sdist", "names no file"),
        (_UV_HEAD + 'name = "b"\nsource = { registry = "x" }\nwheels = ["b-1.whl"]\n', 9, "package[1].wheels[0]",
         "not a table"),
        (_UV_HEAD + 'name = "b"\nsource = { registry = "x" }\ndependencies = ["c"]\n', 9,
         "package[1].dependencies[0]", "not a table"),
        (_UV_HEAD + 'name = "b"\nsource = { registry = "x" }\ndependencies = [{ name = "c", marker = "os ==" }]\n',
         9, "package[1].dependencies[0].marker", "is not an environment marker"),
        (_UV_HEAD + 'name = "b"\nsource = { registry = "x" }\ndependencies = [{ name = "c", extra = [1] }]\n',
         9, "package[1].dependencies[0].extra", "extras must be strings"),
        (_UV_HEAD + 'name = "b"\nsource = { registry = "x" }\nresolution-markers = ["python_version >"]\n', 9,
         "package[1].resolution-markers", "is not an environment marker"),
        ("version = 1\npackage = [1]\n", None, "package[0]", "a package entry is not a table"),
    ],
)
def test_malformed_uv_lock_names_file_line_and_key(text: str, line: int | None, key: str | None,
                                                   message: str) -> None:
    with pytest.raises(DependencyFileError, match=message) as caught:
        parse_uv_lock(text, "app/uv.lock")
    assert (caught.value.file, caught.value.line, caught.value.key) == ("app/uv.lock", line, key)
    assert str(caught.value).startswith("app/uv.lock" + (f", line {line}" if line else ""))


def test_lock_size_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import mirror.core.locks as locks

    monkeypatch.setattr(locks, "MAX_LOCK_BYTES", 100)
    with pytest.raises(DependencyFileError, match="more than the 100 accepted"):
        parse_uv_lock(UV_LOCK)


_JUNK = ["1", "-1", "true", '"x"', '""', "[]", "{}", "[1, 2]", '{ a = 1 }', '"sha256:zz"', '"../../etc/passwd"',
         '"a/b"', "2024-01-01T00:00:00Z", '["python_version >"]']


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([("uv.lock", UV_LOCK), ("pylock.toml", PYLOCK)]), st.data())
def test_mangled_lock_files_give_a_locked_set_or_a_dependency_file_error(kind: tuple[str, str],
                                                                         data: st.DataObject) -> None:
    file, text = kind
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        key, equals, _value = lines[index].partition("=")
        action = data.draw(st.sampled_from(["drop", "value", "raw"]))
        if action == "drop":
            lines[index] = ""
        elif action == "value" and equals:
            lines[index] = f"{key}= {data.draw(st.sampled_from(_JUNK))}"
        else:
            lines[index] = data.draw(st.text(max_size=20))
    try:
        locked = parse_lock("\n".join(lines), file)
    except DependencyFileError:
        return
    assert all(isinstance(p.files, Mapping) for p in locked.packages)
