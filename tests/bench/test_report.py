"""bench.report: plain results in, Markdown out (no server, no I/O)."""

from __future__ import annotations

from pathlib import Path

from bench.report import body, document, missing_phases
from bench.results import BigPageRow, LatencyStats, ListRow, Results, RunInfo, WarmUnderCold
from bench.settings import Settings


def settings(**env: str) -> Settings:
    base = {"PROJECTS": "requests", "WORKERS": "1", "TIERS": "all vetted"}
    return Settings.from_env({**base, **env}, home=Path("/h"), which=lambda _t: None)


def _row(line_start: str, text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(line_start))


def full_results() -> Results:
    r = Results()
    page = {"html_rps": "12000", "json_rps": "10000", "html_p99": "5ms", "json_p99": "6ms",
            "html_bytes": "100", "json_bytes": "200", "non2xx_html": "0", "non2xx_json": "0"}
    r.pages[("requests", "mirror w1", "all")] = page
    r.pages[("requests", "mirror w1", "vetted")] = dict(page, json_rps="5000", errors_json="3")
    r.pages[("requests", "proxpi", "all")] = dict(page, html_rps="1000", json_rps="1000")
    r.pages[("requests", "nginx", "all")] = dict(page, html_rps="40000", json_rps="40000")
    r.page_files["requests"], r.page_versions["requests"] = 244, 150
    r.prepare.append({"project": "requests", "tier": "vetted", "fmt": "html", "when": "after policy change",
                      "ms": 4.5, "workers": 1, "bytes": 100})
    r.prepared_checks += [("same bytes", True, "prepared"), ("policy edit", False, "policy")]
    r.cold.append({"shape": "requests", "files": 244, "direct_ms": 10.0, "mirror_html_ms": 30.0,
                   "mirror_json_ms": 25.0, "prepare_html_ms": 3.0, "prepare_json_ms": 2.0, "proxpi_ms": 50.0})
    r.prepare_big += [BigPageRow("all", "json", 15000, 3, 20.0, 470.0, 120.0, 5_000_000),
                      BigPageRow("vetted", "html", 15000, 2, 25.0, 60.0, 8.0, 400_000, failed=1)]
    r.cold_stages = ("| page | tier | format | files served | parse ms | servable ms | decide ms | render ms "
                     "| gzip + ETag ms | total ms |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
                     "| synthetic | all | json | 15,000 | 17.0 | 20.0 | 30.0 | 23.0 | 25.0 | 115.0 |\n"
                     "| synthetic | vetted | json | 1,370 | 17.0 | 20.0 | 30.0 | 2.0 | 2.0 | 71.0 |")
    r.warm_under_cold = WarmUnderCold(250, 15000, 10, 3, alone=LatencyStats(1000, 0.4, 1.2, 3.0),
                                      loaded=LatencyStats(400, 3.0, 310.0, 450.0),
                                      cold=LatencyStats(30, 2000.0, 4000.0, 4100.0))
    r.project_list.append(ListRow("json", 700_000, 200, 80.0, 4000.0, 50.0, 35_000_000, 30_000_000,
                                  90.0, 200.0, 650.0, upstream="synthetic JSON", list_bytes=40 * 2**20,
                                  first_byte_ms=30.0, mirror_cpu_s=0.5))
    r.wheel["mirror w1"] = {"single": {"size": "18300000", "cold_s": "2.5", "warm_MBps": "900", "sha256_ok": "yes"},
                            "concurrent": {"burst_MBps": 1000.0, "wrk_MBps": 2000.0}}
    r.wheel["nginx"] = {"single": {"size": "18300000", "cold_s": "0.1", "warm_MBps": "1000", "sha256_ok": "yes"},
                        "concurrent": {"burst_MBps": 1100.0, "wrk_MBps": 2100.0}}
    r.install = {"pip direct": {"s": 10.0, "cpu": 5.0, "server_cpu": None},
                 "pip mirror cold": {"s": 11.0, "cpu": 5.0, "server_cpu": 2.0},
                 "pip mirror warm": {"s": 6.0, "cpu": 5.0, "server_cpu": 0.5},
                 "uv direct": {"s": 2.0, "cpu": 1.0, "server_cpu": None}, "uv mirror cold": None}
    r.install_pages["pip mirror warm"] = [("pydantic-core", 15000, 450.0), ("six", 30, 1.0)]
    r.soak = {"seconds": 60, "rps": 9000.0, "requests": 540000, "non2xx": 100, "first_mb": 100.0, "last_mb": 102.0,
              "max_mb": 103.0, "min_mb": 99.0, "samples": 60, "label": "w1"}
    r.startup["mirror (w1)"] = 1.5
    r.rss_peak_mb["mirror (w1)"] = 120.0
    r.notes.append("proxpi failed to start (exit 1): skipped\n    | details on the next lines")
    return r


def test_every_section_and_target_renders_from_plain_values() -> None:
    s = settings()
    text = body(full_results(), s, elapsed_s=90)
    assert text.startswith("### Targets")
    for heading in ("### 1. Warm project page", "#### Prepare time", "### 2. Cold project page",
                    "### 2b. Cold 15,000-file page per tier", "### 2c. Warm requests while cold pages",
                    "### 2d. Cold project list", "### 3. Cached wheel", "### 4. Installing the set",
                    "### 5. Memory and start-up", "### Notes"):
        assert heading in text, heading
    # warm: ratios to proxpi and nginx, wrk timeouts flagged
    assert "| requests (150 versions, 244 files) | mirror w1 | all | 12,000 | 10,000 |" in text
    assert "| 12.0 / 10.0 |  | 0.30 / 0.25 |" in _row("| requests (150", text)
    assert "5,000 (3 timeouts)" in text
    assert ("| warm page ≥ 10× proxpi (mirror w1, every project, tier and format) "
            "| lowest 5.00× (requests vetted json) | ❌ not met |") in text
    # prepare-big: overhead = through the mirror − direct, worst one is the target
    assert _row("| all | json |", text) == "| all | json | 20.0 | 470.0 | 23.5 | 450.0 | 120.0 | 5,000,000 |"
    assert "60.0 (1 failed!)" in text
    assert "#### Where the CPU of one cold 15,000-file page goes" in text
    assert "| synthetic | vetted | json | 1,370 | 17.0 | 20.0 | 30.0 | 2.0 | 2.0 | 71.0 |" in text
    assert ("| parse + prepare a 15,000-file page for a tier ≤ 50 ms (CPU of the steps, in process; synthetic and "
            "real pages) | 71.0–115.0 ms | ❌ not met |") in text
    assert ("| parse + prepare a 15,000-file page for a tier ≤ 50 ms (cold overhead, synthetic page) "
            "| worst 450.0 ms (all json) | ❌ not met |") in text
    # warm-under-cold
    assert "| warm, alone | 1000 | 0.40 | 1.20 | 3.0 |" in text
    assert ("| warm p99 ≤ 20 ms while 10 cold 15,000-file pages are prepared | p99 310.0 ms (alone 1.20 ms) "
            "| ❌ not met |") in text
    # project list: ratio to direct, the RSS it holds and the targets
    assert _row("| synthetic JSON | json |", text) == (
        "| synthetic JSON | json | 80 | 4,000 (30) | 50.0 | 0.50 | 50 | 41,943,040 / 35,000,000 / 30,000,000 "
        "| 90 → 650 → 200 | 2.75 |")
    assert ("| cold project list ≤ 3× direct (synthetic JSON upstream, json) | 50.00× (4,000 vs 80 ms) "
            "| ❌ not met |") in text
    assert ("| RSS held for the list ≤ 3× its size (synthetic JSON upstream, json) | 2.75× (+110 MB for 40 MB) "
            "| ✅ met |") in text
    # installs: ratios, a failed install is "not measured"
    assert "| pip | 10.00 | 11.00 | 1.10 | 6.00 | 0.60 | - | - |" in text
    assert "| cold `pip install` ≤ 1.2× direct | 1.10× | ✅ met |" in text
    assert "| cold `uv install` ≤ 1.5× direct | not measured | — |" in text
    assert "pydantic-core (15000 files) 450 ms" in text
    # wheel, soak, memory
    assert ("| cached wheel ≥ 0.9× nginx (mirror w1; one download and wrk c=50) | one download 0.90×, wrk c=50 0.95× "
            "(50 curl at once 0.91×) | ✅ met |") in text
    assert ("| RSS flat over sustained load (60 s; the issue asks 300 s: SOAK=300) | +2.0 MB (+2.0%), tolerance "
            "±5.0 MB | ✅ met |") in text
    assert "| mirror (w1) | 120.0 | 1.50 |" in text
    assert "1/2 checks passed" in text
    # notes: first line only
    assert "- proxpi failed to start (exit 1): skipped\n" in text and "details on the next lines" not in text
    assert text.endswith("Suite wall time: 1.5 min.")


def test_an_empty_run_reports_the_phases_that_produced_nothing() -> None:
    s = settings(PHASES="prepare-big project-list")
    r = Results()
    assert missing_phases(r, s.phases) == ["prepare-big", "project-list"]
    text = body(r, s, elapsed_s=1)
    assert "- phase prepare-big: no result" in text and "### 2b." not in text
    r.project_list.append(ListRow("html", 10, 500, 1.0, 2.0, None, 10, 20, None, None, None))
    assert missing_phases(r, s.phases) == ["prepare-big"]
    assert "(answered 500!)" in body(r, s, elapsed_s=1)


def test_the_document_has_the_header_versions_and_load() -> None:
    s = settings(PHASES="warm")
    info = RunInfo("2026-01-01 10:00 UTC", "x86_64", 2, "mirror 0.1.0", "1.00 / 1.00 / 1.00", "2.00 / 1.50 / 1.00", 60)
    text = document(full_results(), s, info)
    assert text.startswith("## 2026-01-01 10:00 UTC · x86_64 · 2 cores · wrk c=32 t=2 d=5s · projects requests · "
                           "phases warm\n\nversions: mirror 0.1.0\n\nload average (1/5/15 min) at start 1.00 / 1.00 / "
                           "1.00, at the end 2.00 / 1.50 / 1.00")
    assert text.endswith("Suite wall time: 1.0 min.\n")


def test_the_nodes_phase_renders_throughput_and_the_herd_with_its_target() -> None:
    from bench.results import HerdRound, NodesResult, ThroughputRow

    r = Results()
    r.nodes = NodesResult(small_files=250, herd_size=8 * 1024 * 1024, file_delay=0.2)
    r.nodes.throughput += [ThroughputRow(1, "sqlite", 4000.0), ThroughputRow(1, "postgresql", 3900.0),
                           ThroughputRow(2, "postgresql", 4100.0), ThroughputRow(3, "postgresql", 3800.0, non2xx=2)]
    r.nodes.herd += [HerdRound(100, 100, 1.5, 1, 1), HerdRound(100, 100, 1.2, 1, 1)]
    text = body(r, settings(PHASES="nodes"), 60)
    assert _row("| 2 | postgresql |", text) == "| 2 | postgresql | 4,100 | 1.02 |"
    assert "| 3 | postgresql | 3,800 (2 non-2xx!) |" in text
    assert _row("| 1 | 100/100 |", text) == "| 1 | 100/100 | 1.50 | 1 | 1 |"
    assert "| cold herd across nodes: one upstream request per file and per page, every answer right | " \
           "at most 1 per round, all answers right | ✅ met |" in text
    assert missing_phases(r, ("nodes",)) == []
    r.nodes.herd.append(HerdRound(100, 99, 2.0, 2, 1))
    assert "at most 2 per round, not all answers right | ❌ not met |" in body(r, settings(PHASES="nodes"), 60)
