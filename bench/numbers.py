"""Pure helpers for figures: parsing tool output, ratios, percentiles and their formatting."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence


def kv(line: str) -> dict[str, str]:
    """``RESULT a=1 b=x`` → ``{"a": "1", "b": "x"}`` (words without ``=`` are skipped)."""
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


def num(text: str | None) -> float | None:
    """A float from a tool's output, or None for missing / ``n/a`` / unparseable."""
    try:
        return float(text) if text not in (None, "", "n/a") else None
    except ValueError:
        return None


def ratio(a: float | None, b: float | None) -> float | None:
    """a ÷ b when both are positive numbers, else None."""
    if a is None or b is None or b <= 0 or a <= 0:
        return None
    return a / b


def ms(seconds: float | None) -> float | None:
    """Seconds → milliseconds (None stays None)."""
    return None if seconds is None else seconds * 1000


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q ≤ 100) of ``values``, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def fmt_num(v: float | None, digits: int = 0) -> str:
    """``1,234`` / ``5.3`` / ``-`` for None; one decimal below 10 when no digits are asked for."""
    if v is None:
        return "-"
    if digits == 0 and abs(v) < 10:
        digits = 1
    return f"{v:,.{digits}f}"


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else (f"{r:.2f}" if r < 10 else f"{r:.1f}")


def wrk_mbps(text: str) -> float | None:
    """wrk's ``Transfer/sec`` (binary units) in decimal MB/s."""
    m = re.search(r"Transfer/sec:\s+([0-9.]+)([KMG]?B)", text)
    if not m:
        return None
    return float(m.group(1)) * {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[m.group(2)] / 1e6


def prepare_ms(headers: dict[str, str]) -> float | None:
    """The ``prepare;dur=`` figure of a (lower-cased) ``Server-Timing`` header, in ms."""
    m = re.search(r"prepare;dur=([0-9.]+)", headers.get("server-timing", ""))
    return float(m.group(1)) if m else None
