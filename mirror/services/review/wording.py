"""How recorded signatures and lists of uploaders are quoted back to the reviewer."""

from __future__ import annotations

from collections.abc import Iterable

from mirror.core.policy.model import Signature


def when(signed: Signature) -> str:
    return f"{signed.at:%Y-%m-%d %H:%M} UTC" if signed.at else "an unknown date"


def listed(values: Iterable[str]) -> str:
    """Sorted and comma-separated, or ``none``."""
    values = sorted(values)
    return ", ".join(values) if values else "none"


def uploader_change(recorded: Iterable[str], upstream: Iterable[str]) -> str | None:
    """How upstream's uploaders differ from the recorded ones, in words; None when they are the same."""
    recorded, upstream = list(recorded), list(upstream)
    added, gone = set(upstream) - set(recorded), set(recorded) - set(upstream)
    if not added and not gone:
        return None
    return (f"recorded {listed(recorded)}; upstream now {listed(upstream)}"
            f" (new: {listed(added)}; gone: {listed(gone)})")
