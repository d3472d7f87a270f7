"""Target environments: the (Python, platform) pairs a dependency closure is computed for.

A reviewer's set must install wherever the team installs, not only where the mirror runs, so environment
markers are evaluated against marker environments built here from plain values — never from the running
interpreter, except in :func:`default_target`, which reads only ``sys`` (no I/O).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName

from .errors import MirrorError

#: Platform name → the marker variables that platform sets (as CPython reports them there).
PLATFORMS: dict[str, dict[str, str]] = {
    "linux-x86_64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                     "os_name": "posix"},
    "linux-aarch64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64",
                      "os_name": "posix"},
    "linux-i686": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "i686",
                   "os_name": "posix"},
    "linux-armv7l": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "armv7l",
                     "os_name": "posix"},
    "linux-ppc64le": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "ppc64le",
                      "os_name": "posix"},
    "linux-s390x": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "s390x",
                    "os_name": "posix"},
    "macos-x86_64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "x86_64",
                     "os_name": "posix"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                    "os_name": "posix"},
    "windows-amd64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
                      "os_name": "nt"},
    "windows-arm64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "ARM64",
                      "os_name": "nt"},
    "windows-x86": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "x86",
                    "os_name": "nt"},
}
#: Implementation name → (implementation_name, platform_python_implementation).
IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "cpython": ("cpython", "CPython"),
    "pypy": ("pypy", "PyPy"),
    "graalpy": ("graalpy", "GraalVM"),
}
#: Marker variables that describe the machine's kernel, which a target environment cannot know.
_UNKNOWABLE = ("platform_release", "platform_version")
_PROBES = ("", "0", "999999")
_LITERAL = re.compile(r"""["']([^"']*)["']""")
_ALIASES = {"cp": "cpython", "pp": "pypy", "": "cpython"}
_PYTHON = re.compile(r"([0-9]+)\.([0-9]+)(?:\.([0-9]+))?")
_TARGET = re.compile(r"(?P<impl>[a-z]*?)(?P<python>[0-9]+\.[0-9]+(?:\.[0-9]+)?)(?:-(?P<platform>[a-z0-9_-]+))?")


class TargetError(MirrorError, ValueError):
    """A target environment names an unknown platform or implementation, or a malformed Python version."""


@dataclass(frozen=True, slots=True)
class Target:
    """One environment a closure must install in: a Python version, a platform, an implementation.

    ``python`` is ``"3.12"`` or ``"3.12.4"`` (a bare minor is taken as its ``.0`` release for
    ``python_full_version``); ``platform`` is a key of :data:`PLATFORMS`; ``implementation`` of
    :data:`IMPLEMENTATIONS`. Construction raises :class:`TargetError` on anything else.
    """

    python: str
    platform: str = "linux-x86_64"
    implementation: str = "cpython"

    def __post_init__(self) -> None:
        if not _PYTHON.fullmatch(self.python):
            raise TargetError(f"Python version {self.python!r} is not like 3.12 or 3.12.4")
        if self.platform not in PLATFORMS:
            raise TargetError(f"unknown platform {self.platform!r} (known: {', '.join(PLATFORMS)})")
        if self.implementation not in IMPLEMENTATIONS:
            raise TargetError(f"unknown implementation {self.implementation!r} (known: {', '.join(IMPLEMENTATIONS)})")

    @classmethod
    def parse(cls, text: str) -> Target:
        """Read ``[impl]X.Y[.Z][-platform]``: ``3.12``, ``3.12-macos-arm64``, ``pypy3.10-linux-aarch64``.

        Raises :class:`TargetError` naming what is wrong.
        """
        match = _TARGET.fullmatch(text.strip().lower())
        if not match:
            raise TargetError(f"target {text!r} is not like 3.12-linux-x86_64 or pypy3.10-linux-aarch64")
        impl = _ALIASES.get(match["impl"], match["impl"])
        return cls(match["python"], match["platform"] or "linux-x86_64", impl)

    @property
    def label(self) -> str:
        """A stable, readable name: ``cpython3.12-linux-x86_64``."""
        return f"{self.implementation}{self.python}-{self.platform}"

    @property
    def full_version(self) -> str:
        major, minor, micro = _PYTHON.fullmatch(self.python).groups()  # type: ignore[union-attr]
        return f"{major}.{minor}.{micro or 0}"

    def environment(self, extra: str = "") -> dict[str, str]:
        """The PEP 508 marker environment of this target, with ``extra`` set (``""``: no extra)."""
        major, minor, _ = _PYTHON.fullmatch(self.python).groups()  # type: ignore[union-attr]
        implementation_name, python_implementation = IMPLEMENTATIONS[self.implementation]
        return {
            **PLATFORMS[self.platform],
            "implementation_name": implementation_name,
            "implementation_version": self.full_version,
            "platform_python_implementation": python_implementation,
            "platform_release": "",
            "platform_version": "",
            "python_full_version": self.full_version,
            "python_version": f"{major}.{minor}",
            "extra": extra,
        }


def default_target() -> Target:
    """The running interpreter's version and implementation, on Linux x86_64 (the usual server)."""
    implementation = sys.implementation.name if sys.implementation.name in IMPLEMENTATIONS else "cpython"
    version = sys.version_info
    return Target(f"{version.major}.{version.minor}.{version.micro}", "linux-x86_64", implementation)


def marker_applies(marker: Marker | None, target: Target, extra: str = "") -> bool:
    """Whether ``marker`` holds on ``target`` with ``extra`` requested.

    A closure errs on the side of including a dependency rather than leaving a hole: variables a target
    cannot know (``platform_release``, ``platform_version``: the kernel) are tried with a few values and
    with every string the marker compares against, and the marker holds if any makes it hold; a
    comparison packaging leaves undefined counts as holding.
    """
    if marker is None:
        return True
    environment = target.environment(extra)
    text = str(marker)
    unknowns = [name for name in _UNKNOWABLE if name in text]
    probes = (*_PROBES, *_LITERAL.findall(text)[:8]) if unknowns else ("",)
    try:
        for probe in probes:
            if marker.evaluate({**environment, **dict.fromkeys(unknowns, probe)}):
                return True
        return False
    except (UndefinedComparison, UndefinedEnvironmentName, InvalidMarker):
        return True
