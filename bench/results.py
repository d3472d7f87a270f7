"""What a run measured: plain values filled by the phases and read by the pure report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.numbers import percentile


@dataclass(frozen=True)
class LatencyStats:
    """Latencies of a series of requests, in ms."""

    n: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    @classmethod
    def of(cls, seconds: list[float]) -> LatencyStats:
        ms = [s * 1000 for s in seconds]
        return cls(len(ms), percentile(ms, 50), percentile(ms, 99), max(ms) if ms else None)


@dataclass(frozen=True)
class BigPageRow:
    """prepare-big: first fetches of never-seen synthetic pages of one tier and format (medians)."""

    tier: str
    fmt: str
    files: int
    n: int  # first fetches measured (distinct pages)
    direct_ms: float | None  # the same page from the fake upstream itself
    mirror_ms: float | None
    prepare_ms: float | None  # Server-Timing: prepare
    mirror_bytes: int | None
    failed: int = 0


@dataclass(frozen=True)
class WarmUnderCold:
    """warm-under-cold: warm requests of a small page alone, then while cold big pages are prepared."""

    small_files: int
    big_files: int
    cold_pages: int  # cold pages fetched at once, per round
    rounds: int
    alone: LatencyStats
    loaded: LatencyStats
    cold: LatencyStats  # the cold fetches themselves
    failed: int = 0  # non-200 answers (warm or cold)


@dataclass(frozen=True)
class ListRow:
    """project-list: the first GET of /all/simple/ through a fresh mirror, in one format, from one upstream."""

    fmt: str
    names: int | None  # None: the real list (its size is upstream's)
    status: int
    direct_ms: float | None  # median of LIST_N direct fetches of the same list, same format
    mirror_ms: float | None
    warm_ms: float | None  # a GET once the list is built, served from the mirror's prepared bytes
    direct_bytes: int | None
    mirror_bytes: int | None
    rss_before_mb: float | None
    rss_after_mb: float | None  # once the list is built and both requests answered (what it holds)
    rss_peak_mb: float | None
    upstream: str = "synthetic"  # which upstream list: "synthetic JSON", "synthetic HTML", "real HTML"
    list_bytes: int | None = None  # the list as upstream sends it to the mirror
    first_byte_ms: float | None = None
    mirror_cpu_s: float | None = None  # CPU the mirror's processes used during the cold request


@dataclass(frozen=True)
class ThroughputRow:
    """nodes: warm-page requests per second through ``nodes`` nodes on one database (wrk on all at once)."""

    nodes: int
    database: str  # "sqlite" or "postgresql"
    rps: float
    non2xx: int = 0


@dataclass(frozen=True)
class HerdRound:
    """nodes: concurrent requests for one cold file spread over the nodes, and what upstream was asked."""

    requests: int
    ok: int  # 200 with the right sha256
    seconds: float
    file_fetches: int
    page_fetches: int


@dataclass
class NodesResult:
    """Phase "nodes": warm throughput per node count and database, then the cold herds."""

    small_files: int
    herd_size: int
    file_delay: float
    throughput: list[ThroughputRow] = field(default_factory=list)
    herd: list[HerdRound] = field(default_factory=list)


@dataclass
class Results:
    pages: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)  # (project, server, tier)
    prepare: list[dict[str, Any]] = field(default_factory=list)
    prepared_checks: list[tuple[str, bool, str]] = field(default_factory=list)
    cold: list[dict[str, Any]] = field(default_factory=list)
    wheel: dict[str, dict[str, Any]] = field(default_factory=dict)
    install: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    soak: dict[str, Any] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)
    page_files: dict[str, int] = field(default_factory=dict)
    page_versions: dict[str, int] = field(default_factory=dict)
    install_pages: dict[str, list[tuple[str, int, float]]] = field(default_factory=dict)
    prepare_big: list[BigPageRow] = field(default_factory=list)
    cold_stages: str = ""  # bench/cold_stages.py's table: the CPU of each step of a cold big page
    warm_under_cold: WarmUnderCold | None = None
    project_list: list[ListRow] = field(default_factory=list)
    nodes: NodesResult | None = None
    startup: dict[str, float] = field(default_factory=dict)  # server label -> seconds to the first 200
    rss_peak_mb: dict[str, float] = field(default_factory=dict)  # server label -> peak RSS
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunInfo:
    """Where and when: the report's header."""

    date: str
    machine: str
    cores: int | None
    versions: str
    load_start: str
    load_end: str
    elapsed_s: float
