"""Which wheels install on a target environment, from their file names alone (PEP 425 tags). Pure.

A curated set must hold the build backend of every project that some target installs from source, and
that happens exactly when none of the release's wheels fits that target. The check errs on the side of
"fits" only where the tags cannot say more (a glibc version, a macOS version): every manylinux and
musllinux wheel of the target's architecture fits a Linux target, every macOS wheel of its architecture
fits a macOS target.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .targets import PLATFORMS, Target

_LINUX = r"(?:manylinux1|manylinux2010|manylinux2014|manylinux_\d+_\d+|musllinux_\d+_\d+|linux)_{arch}"
#: Target platform → the wheel platform tags that run there.
_PLATFORM_TAGS: dict[str, re.Pattern[str]] = {
    "linux-x86_64": re.compile(_LINUX.format(arch="x86_64")),
    "linux-aarch64": re.compile(_LINUX.format(arch="aarch64")),
    "linux-i686": re.compile(_LINUX.format(arch="i686")),
    "linux-armv7l": re.compile(_LINUX.format(arch="armv7l")),
    "linux-ppc64le": re.compile(_LINUX.format(arch="ppc64le")),
    "linux-s390x": re.compile(_LINUX.format(arch="s390x")),
    "macos-x86_64": re.compile(r"macosx_\d+_\d+_(?:x86_64|intel|universal|universal2|fat64|fat3)"),
    "macos-arm64": re.compile(r"macosx_\d+_\d+_(?:arm64|universal2)"),
    "windows-amd64": re.compile(r"win_amd64"),
    "windows-arm64": re.compile(r"win_arm64"),
    "windows-x86": re.compile(r"win32"),
}
assert set(_PLATFORM_TAGS) == set(PLATFORMS)

_INTERPRETER = re.compile(r"(py|cp|pp|graalpy)(\d)(\d*)")


def _minor(target: Target) -> tuple[int, int]:
    major, minor, *_ = target.python.split(".")
    return int(major), int(minor)


def _python_fits(tag: Tag, target: Target) -> bool:
    """The interpreter and ABI parts of ``tag`` on ``target``'s Python."""
    match = _INTERPRETER.fullmatch(tag.interpreter)
    if match is None:
        return False
    kind, major_text, minor_text = match.groups()
    major, minor = _minor(target)
    if int(major_text) != major:
        return False
    wheel_minor = int(minor_text) if minor_text else None
    if kind == "py":  # generic: "py3" everywhere, "py38" from 3.8 on; no ABI beyond "none"
        return tag.abi == "none" and (wheel_minor is None or wheel_minor <= minor)
    implementation = {"cp": "cpython", "pp": "pypy", "graalpy": "graalpy"}[kind]
    if implementation != target.implementation or wheel_minor is None:
        return False
    if tag.abi == "abi3":  # the stable ABI: built for 3.N, runs on every later CPython 3
        return kind == "cp" and wheel_minor <= minor
    if wheel_minor != minor:
        return False
    # "none", or the version's own ABI (cp312, cp37m, pypy310_pp73...); free-threaded builds ("t") are not a target
    return tag.abi == "none" or not tag.abi.endswith("t") or tag.abi.startswith("pypy")


def tag_fits(tag: Tag, target: Target) -> bool:
    """Whether a wheel with ``tag`` installs on ``target``."""
    if not _python_fits(tag, target):
        return False
    return tag.platform == "any" or bool(_PLATFORM_TAGS[target.platform].fullmatch(tag.platform))


def wheel_fits(filename: str, target: Target) -> bool:
    """Whether the wheel ``filename`` installs on ``target``; False for a name that is not a wheel's."""
    try:
        tags = parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return False
    return any(tag_fits(tag, target) for tag in tags)


def needs_build(filenames: Iterable[str], target: Target) -> bool:
    """Whether a release with these files installs on ``target`` only from its sdist: no wheel fits."""
    return not any(name.endswith(".whl") and wheel_fits(name, target) for name in filenames)
