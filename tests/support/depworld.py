"""A small world of projects on the fake upstream for dependency-set tests: a chain five levels deep, extras,
environment markers, a pre-release, a version two requirements narrow down, an sdist-only project built by a
build backend the index serves, a project only Windows needs, and a look-alike.

    webapp 1.0 ─ framework[async]>=2 ─ framework 2.1 ─ routing>=1.2 ─ routing 1.3 ─ escaping<3 ─┐
             │                                    └─ templating ─ templating 1.0 ─ escaping>=2 ─ escaping 2.5
             │                     [async] ─ aiostuff>=1 ─ aiostuff 1.0 (sdist only) ─ sniffio>=1 ─ sniffio 1.3
             │                                               └─ (build) tinybuild ─ tinybuild 1.0
             ├─ winhelper; sys_platform == "win32"          (Windows targets only)
             └─ oldpy; python_version < "3.8"               (no target here)

Decoys the walk must skip: framework 1.0 (too old) and 3.0b1 (a pre-release), routing 1.1, escaping 3.0 (excluded
by routing's ``<3``). Every file was uploaded 30 days ago, past the default 7-day cooldown.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from .dists import TINYBUILD
from .fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)

#: What ``reviewed`` serves of the closure of webapp on Linux, as (project, version).
CLOSURE = {"webapp": "1.0", "framework": "2.1", "routing": "1.3", "templating": "1.0", "escaping": "2.5",
           "aiostuff": "1.0", "sniffio": "1.3", "tinybuild": "1.0"}
#: Installed distributions (dist-info base names) after installing webapp: everything but the build backend.
INSTALLED = {n: v for n, v in CLOSURE.items() if n != "tinybuild"}


def publish(upstream: FakeUpstream, dists: Path) -> None:
    """Add the world to ``upstream`` (see the module docstring)."""
    def wheel(name: str, version: str, *requires: str, **kw: object) -> None:
        upstream.add_wheel(name, version, dists, requires_dist=list(requires), upload_time=OLD, **kw)  # type: ignore[arg-type]

    wheel("webapp", "1.0", "framework[async]>=2", 'winhelper; sys_platform == "win32"',
          'oldpy; python_version < "3.8"')
    wheel("framework", "1.0")
    wheel("framework", "2.1", "routing>=1.2", "templating", 'aiostuff>=1; extra == "async"', provides_extra=["async"])
    wheel("framework", "3.0b1", "routing>=2")
    wheel("routing", "1.1")
    wheel("routing", "1.3", "escaping<3")
    wheel("templating", "1.0", "escaping>=2")
    wheel("escaping", "2.5")
    wheel("escaping", "3.0")
    upstream.add_sdist("aiostuff", "1.0", dists, requires_dist=["sniffio>=1"], build_requires=["tinybuild>=1"],
                       build_backend="tinybuild", upload_time=OLD)
    wheel("sniffio", "1.3")
    wheel("tinybuild", "1.0", module_source=TINYBUILD)
    wheel("winhelper", "1.0")
    wheel("oldpy", "1.0")
