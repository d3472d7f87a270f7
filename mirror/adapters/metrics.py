"""Prometheus metrics (prometheus-client): the :class:`~mirror.services.telemetry.Telemetry` of a running server,
plus what the web layer counts per request, rendered for ``GET /metrics``.

Every metric lives in a registry of its own per server (no module-level metric objects). With ``[server]
workers`` > 1, the workers write their values to files in one directory (prometheus-client's multiprocess mode,
``PROMETHEUS_MULTIPROC_DIR``, set by ``mirror serve`` before it forks), and ``/metrics`` on any worker sums
them: a scrape sees the whole server, whichever worker answers it. docs/deployment.md documents every metric.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values

#: Where the workers of one server keep their values (the environment variable prometheus-client reads).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The classic text format (what generate_latest writes), which every Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Upstream round trips: from a few milliseconds (a 304) to a page_timeout (60 s by default).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Whole requests: warm pages take well under a millisecond; a cold file can take minutes.
_REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0)
_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def multiprocess_dir() -> Path | None:
    """The directory of multiprocess mode when it is on (the workers of ``mirror serve``), else None."""
    value = os.environ.get(MULTIPROCESS_ENV)
    return Path(value) if value else None


def worker_exited(pid: int) -> None:
    """Forget the live gauges (in-flight downloads, policy version) of a worker that exited."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)


class Metrics:
    """The server's metrics; ``node`` is exported as the label of ``mirror_node_info``."""

    def __init__(self, node: str) -> None:
        self._dir = multiprocess_dir()
        if self._dir is not None and not getattr(values.ValueClass, "_multiprocess", False):
            # prometheus-client picks its value class when first imported; whoever imported it first (before
            # `mirror serve` set the directory) must not make this worker keep its values to itself.
            values.ValueClass = values.MultiProcessValue()
        # In multiprocess mode the values live in files and a fresh collector reads them at each scrape; the
        # metric objects are then registered nowhere.
        self.registry = CollectorRegistry()
        registry = None if self._dir is not None else self.registry
        self.requests = Counter("mirror_requests", "HTTP requests answered, by tier, kind of resource and status",
                                ["tier", "kind", "status"], registry=registry)
        self.request_seconds = Histogram("mirror_request_duration_seconds",
                                         "Time from a request's arrival to the end of its response, by kind",
                                         ["kind"], buckets=_REQUEST_BUCKETS, registry=registry)
        self.bytes_served = Counter("mirror_served_bytes", "Response body bytes sent, by kind", ["kind"],
                                    registry=registry)
        self.cache = Counter("mirror_cache_results", "Cache answers by cache and result: hit, miss, "
                             "revalidated, stale", ["cache", "result"], registry=registry)
        self.refusals = Counter("mirror_refusals", "Requests refused, by reason", ["reason"], registry=registry)
        self.upstream_seconds = Histogram("mirror_upstream_latency_seconds",
                                          "Upstream round trips (to the response headers), by kind",
                                          ["kind"], buckets=_LATENCY_BUCKETS, registry=registry)
        self.downloads = Gauge("mirror_downloads_in_flight", "Files being downloaded from upstream now",
                               registry=registry, multiprocess_mode="livesum")
        self.lease_waits = Histogram("mirror_lease_wait_seconds",
                                     "Waits for another process or node fetching the same key, by kind and how "
                                     "they ended", ["kind", "how"], buckets=_WAIT_BUCKETS, registry=registry)
        self.leases_lost = Counter("mirror_leases_lost", "Leases that expired before their holder renewed them",
                                   ["kind"], registry=registry)
        self.uncoordinated = Counter("mirror_uncoordinated_fetches",
                                     "Fetches made without a lease because the database could not be used",
                                     registry=registry)
        self.prefetches = Counter("mirror_prefetches", "Prefetched pages: queued, fetched, dropped, failed",
                                  ["result"], registry=registry)
        self.policy = Gauge("mirror_policy_version_info", "The policy version in force (value 1)", ["version"],
                            registry=registry, multiprocess_mode="livemax")
        self.policy_errors = Counter("mirror_policy_reload_errors", "Policy changes refused (the last good "
                                     "policy stays in force)", registry=registry)
        self.node = Gauge("mirror_node_info", "This node (value 1)", ["node"], registry=registry,
                          multiprocess_mode="livemax")
        self.node.labels(node).set(1)
        self._policy_version: str | None = None

    # -- Telemetry --------------------------------------------------------------------------------------------

    def cache_result(self, kind: str, result: str) -> None:
        self.cache.labels(kind, result).inc()

    def upstream_latency(self, kind: str, seconds: float) -> None:
        self.upstream_seconds.labels(kind).observe(seconds)

    def download_started(self) -> None:
        self.downloads.inc()

    def download_ended(self) -> None:
        self.downloads.dec()

    def lease_wait(self, kind: str, seconds: float, how: str) -> None:
        self.lease_waits.labels(kind, how).observe(seconds)

    def lease_lost(self, kind: str) -> None:
        self.leases_lost.labels(kind).inc()

    def coordination_failed(self) -> None:
        self.uncoordinated.inc()

    def prefetch(self, result: str, count: int = 1) -> None:
        if count:
            self.prefetches.labels(result).inc(count)

    def policy_loaded(self, version: str) -> None:
        if self._policy_version is not None and self._policy_version != version:
            self.policy.labels(self._policy_version).set(0)
        self._policy_version = version
        self.policy.labels(version).set(1)

    def policy_reload_failed(self) -> None:
        self.policy_errors.inc()

    # -- the web layer --------------------------------------------------------------------------------------

    def request(self, tier: str, kind: str, status: int, sent: int, seconds: float) -> None:
        """One request answered (after its response was sent)."""
        self.requests.labels(tier, kind, str(status)).inc()
        self.request_seconds.labels(kind).observe(seconds)
        if sent:
            self.bytes_served.labels(kind).inc(sent)

    def refusal(self, reason: str) -> None:
        self.refusals.labels(reason).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (of every worker, in multiprocess mode)."""
        if self._dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self._dir))
        return generate_latest(registry)
