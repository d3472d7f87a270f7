"""bench.numbers and the pure helpers of the suite: figures parsed and formatted from plain values."""

from __future__ import annotations

from bench.numbers import fmt_num, fmt_ratio, kv, ms, num, percentile, prepare_ms, ratio, wrk_mbps
from bench.policies import pins_from_page
from bench.profiling import summarize_parts, summarize_raw
from bench.results import LatencyStats


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([3.0], 99) == 3.0 and percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0  # unsorted input


def test_latency_stats_in_ms() -> None:
    st = LatencyStats.of([0.001] * 98 + [0.5, 0.9])
    assert st.n == 100 and st.p50_ms == 1.0 and st.p99_ms == 500.0 and st.max_ms == 900.0
    assert LatencyStats.of([]) == LatencyStats(0, None, None, None)


def test_ratios_and_formatting() -> None:
    assert ratio(10, 4) == 2.5 and ratio(None, 1) is None and ratio(1, 0) is None and ratio(0, 1) is None
    assert fmt_ratio(None) == "-" and fmt_ratio(2.345) == "2.35" and fmt_ratio(12.34) == "12.3"
    assert fmt_num(None) == "-" and fmt_num(1234.5) == "1,234" and fmt_num(5.25) == "5.2" and fmt_num(5.25, 2) == "5.25"
    assert ms(0.25) == 250 and ms(None) is None


def test_tool_output_parsing() -> None:
    assert kv("RESULT base=http://x/ html_rps=12.5 lone") == {"base": "http://x/", "html_rps": "12.5"}
    assert num("12.5") == 12.5 and num("n/a") is None and num("") is None and num("x") is None and num(None) is None
    assert wrk_mbps("Requests/sec: 10\nTransfer/sec:    512.00MB\n") == 512 * 1024 ** 2 / 1e6
    assert wrk_mbps("nothing") is None
    assert prepare_ms({"server-timing": "prepare;dur=12.50"}) == 12.5 and prepare_ms({}) is None


def test_pins_vet_every_final_release_with_all_its_files() -> None:
    page = {"files": [
        {"filename": "demo-1.0.tar.gz", "hashes": {"sha256": "a" * 64}},
        {"filename": "demo-1.0-py3-none-any.whl", "hashes": {"sha256": "b" * 64}},
        {"filename": "demo-2.0rc1.tar.gz", "hashes": {"sha256": "c" * 64}},  # pre-release: not vetted
        {"filename": "demo-3.0.tar.gz", "hashes": {}},  # no hash: cannot be pinned
        {"filename": "not-a-dist.zip", "hashes": {"sha256": "d" * 64}},
    ]}
    assert pins_from_page(page) == {"1": {"demo-1.0.tar.gz": "a" * 64, "demo-1.0-py3-none-any.whl": "b" * 64}}


def test_py_spy_summary_counts_own_and_inclusive_time() -> None:
    raw = ("main (app.py:1);handle (web.py:10);parse (parse.py:5) 30\n"
           "main (app.py:1);handle (web.py:10);render (render.py:7) 10\n"
           "garbage line\n")
    text = summarize_raw(raw, rate=100, seconds=1.0, processes=1)
    assert "40 samples" in text
    assert "| `parse (parse.py)` | 75% | | `handle (web.py)` | 100% |" in text
    assert summarize_raw("", 100, 1.0, 1) == "(no samples)"


def test_py_spy_samples_are_charged_to_the_first_part_of_the_mirror_on_their_stack() -> None:
    raw = ("_run (mirror/web/server.py:1);get (mirror/services/evidence.py:3);"
           "execute (sqlalchemy/engine/base.py:9) 30\n"
           "_run (mirror/web/server.py:1);_worker (thread.py:83);decide_page (mirror/core/tiers.py:250) 50\n"
           "_run (mirror/web/server.py:1);_run_once (asyncio/base_events.py:1907) 20\n")
    text = summarize_parts(raw, rate=100, seconds=2.0, processes=1)
    assert "100 samples holding the GIL" in text and "about 1.00 s of Python work" in text
    assert "| tier decision (servable files, decide_page, evidence) | 50% | 0.50 |" in text
    assert "| database (SQLAlchemy, aiosqlite; first sightings, pages, extracted metadata) | 30% | 0.30 |" in text
    assert "| event loop and the rest (asyncio scheduling, thread hand-offs) | 20% | 0.20 |" in text
    assert text.index("tier decision") < text.index("database")  # the biggest part first
    assert summarize_parts("", 100, 1.0, 1) == "(no samples)"
