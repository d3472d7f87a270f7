"""Target environments: marker environments built from plain (Python, platform, implementation) values."""

from __future__ import annotations

import sys

import pytest
from packaging.markers import Marker, default_environment

from mirror.core.targets import PLATFORMS, Target, TargetError, default_target, marker_applies


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("3.12", Target("3.12", "linux-x86_64", "cpython")),
        ("3.12.4-macos-arm64", Target("3.12.4", "macos-arm64")),
        ("cpython3.11-windows-amd64", Target("3.11", "windows-amd64")),
        ("cp3.13-linux-aarch64", Target("3.13", "linux-aarch64")),
        ("pypy3.10-linux-aarch64", Target("3.10", "linux-aarch64", "pypy")),
        (" PyPy3.10 ", Target("3.10", "linux-x86_64", "pypy")),
    ],
)
def test_parse(text: str, target: Target) -> None:
    assert Target.parse(text) == target
    assert Target.parse(target.label) == target


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("linux", "is not like"),
        ("3", "is not like"),
        ("3.12-solaris-sparc", "unknown platform 'solaris-sparc'"),
        ("jython3.12", "unknown implementation 'jython'"),
        ("3.12-", "is not like"),
        ("\uff13.12", "is not like"),  # a fullwidth digit is not a version digit
    ],
)
def test_parse_errors_say_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        Target.parse(text)


def test_construction_validates() -> None:
    for bad in ("three", "3.12\n", "3.12.1.4"):
        with pytest.raises(TargetError, match="not like 3.12"):
            Target(bad)
    with pytest.raises(ValueError):  # TargetError is a ValueError for callers that validate config values
        Target("3.12", "amiga")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (Target("3.12"), {"python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux",
                          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                          "implementation_name": "cpython", "platform_python_implementation": "CPython"}),
        (Target("3.9.18", "windows-amd64"), {"python_version": "3.9", "python_full_version": "3.9.18",
                                             "sys_platform": "win32", "platform_system": "Windows",
                                             "platform_machine": "AMD64", "os_name": "nt"}),
        (Target("3.13", "macos-arm64"), {"sys_platform": "darwin", "platform_system": "Darwin",
                                         "platform_machine": "arm64"}),
        (Target("3.10", "linux-aarch64", "pypy"), {"implementation_name": "pypy",
                                                  "platform_python_implementation": "PyPy",
                                                  "platform_machine": "aarch64"}),
    ],
)
def test_environment(target: Target, expected: dict[str, str]) -> None:
    environment = target.environment()
    assert expected.items() <= environment.items()
    assert environment["extra"] == "" and target.environment("socks")["extra"] == "socks"
    assert set(environment) >= set(default_environment()), "every PEP 508 variable is defined"


def test_every_platform_defines_the_same_variables() -> None:
    assert all(set(v) == {"sys_platform", "platform_system", "platform_machine", "os_name"}
               for v in PLATFORMS.values())


def test_default_target_is_the_running_python_on_linux() -> None:
    target = default_target()
    assert target.platform == "linux-x86_64"
    assert target.python == "{}.{}.{}".format(*sys.version_info[:3])
    assert target.environment()["python_version"] == default_environment()["python_version"]


@pytest.mark.parametrize(
    ("marker", "extra", "expected"),
    [
        (None, "", True),
        ('extra == "socks"', "socks", True),
        ('extra == "Use_Chardet"', "use-chardet", True),
        ('extra == "socks"', "", False),
        ('python_version < "3.13" and extra == "fast"', "fast", True),
    ],
)
def test_marker_applies_with_extras(marker: str | None, extra: str, expected: bool) -> None:
    assert marker_applies(Marker(marker) if marker else None, Target("3.12"), extra) is expected
