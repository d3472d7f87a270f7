"""A fake-upstream world for floors and holes: ``toolkit`` has old releases without dependencies and new ones that
need ``helper``; a resolver facing a ``reviewed`` without ``helper`` backtracks to the old ones unless a floor
stops it.

    toolkit 1.0, 1.1            (no dependencies: what resolvers fall back to)
    toolkit 2.0, 2.1 ─ helper>=1.0,<3 ─ helper 1.0, 2.0
    gadget 1.0 ─ helper>=2                    (only helper 2.0 fits)

Every file was uploaded 30 days ago, past the default cooldown.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from .fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
NEEDS = "helper<3,>=1.0"  # as packaging writes the requirement back


def publish(upstream: FakeUpstream, dists: Path) -> None:
    def wheel(name: str, version: str, *requires: str) -> None:
        upstream.add_wheel(name, version, dists, requires_dist=list(requires), upload_time=OLD)

    wheel("toolkit", "1.0")
    wheel("toolkit", "1.1")
    wheel("toolkit", "2.0", "helper>=1.0,<3")
    wheel("toolkit", "2.1", "helper>=1.0,<3")
    wheel("helper", "1.0")
    wheel("helper", "2.0")
    wheel("gadget", "1.0", "helper>=2")
