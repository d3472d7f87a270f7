"""Phase "prepare-big": the cold first fetch of a synthetic BIG_FILES-file page (15,000 by default), per
tier and format, through a fresh mirror, next to the same page fetched directly from the fake upstream.

Every measured fetch is of a page the mirror has never seen (a distinct name ``big<i>``), so it covers
the whole cold path: upstream fetch, parse, store, the tier decision, render, gzip, ETag. The
``Server-Timing: prepare`` figure of the response is recorded too. Each cell is the median of BIG_N
first fetches; the vetted tier holds the newest BIG_VETTED_VERSIONS versions of each page. Then
``bench/cold_stages.py`` says where the CPU of such a page goes, step by step, in one process.
"""

from __future__ import annotations

from bench.context import Context
from bench.net import FORMATS, JSON_ACCEPT, http_get
from bench.numbers import fmt_num, median, ms, prepare_ms
from bench.phases.common import big_names, synthetic_mirror
from bench.procs import tail
from bench.results import BigPageRow
from bench.settings import REPO
from bench.tools import fetch_page


def run(ctx: Context) -> None:
    s = ctx.settings
    plan = [(tier, fmt, accept) for tier in s.tiers for fmt, accept in FORMATS]
    names = big_names(0, len(plan) * s.big_n)
    vetted = [name for k, name in enumerate(names) if plan[k // s.big_n][0] == "vetted"]
    ctx.say(f"prepare-big: {len(names)} cold {s.big_files}-file pages ({', '.join(s.tiers)} × html/json × {s.big_n})")
    with synthetic_mirror(ctx, "prepare big", reviewed=names, vetted=vetted, workers=s.workers[0]) as servers:
        if servers is None:
            return
        fake, mirror = servers
        fetch_page(mirror.base, "all", "small0", JSON_ACCEPT)  # one-time costs (imports, pools) not counted
        for k, (tier, fmt, accept) in enumerate(plan):
            mine = names[k * s.big_n:(k + 1) * s.big_n]
            direct = [http_get(f"{fake.url}{name}/", {"Accept": accept}, timeout=120).seconds for name in mine]
            through: list[float] = []
            prep: list[float] = []
            size = None
            failed = 0
            for name in mine:
                resp = fetch_page(mirror.base, tier, name, accept, timeout=300)
                if resp.status != 200:
                    failed += 1
                    ctx.note(f"prepare-big: /{tier}/simple/{name}/ ({fmt}) answered {resp.status}")
                    continue
                through.append(resp.seconds)
                prep.append(prepare_ms(resp.headers) or 0.0)
                size = len(resp.body)
            row = BigPageRow(tier=tier, fmt=fmt, files=s.big_files, n=len(through),
                             direct_ms=ms(median(direct)), mirror_ms=ms(median(through)),
                             prepare_ms=median(prep), mirror_bytes=size, failed=failed)
            ctx.results.prepare_big.append(row)
            ctx.say(f"  {tier} {fmt}: direct {fmt_num(row.direct_ms, 1)} ms, first fetch through the mirror "
                    f"{fmt_num(row.mirror_ms, 1)} ms (prepare {fmt_num(row.prepare_ms, 1)} ms)")
    _stages(ctx)


def _stages(ctx: Context) -> None:
    """The CPU of each step of the cold path for one big page (bench/cold_stages.py), synthetic and real."""
    s = ctx.settings
    ctx.say("prepare-big: the CPU of each step of a cold big page, in one process (bench/cold_stages.py)")
    ran = ctx.procs.run("cold_stages", [ctx.python, "-m", "bench.cold_stages", "--files", str(s.big_files)],
                        seconds=ctx.budget.limit(300), cwd=REPO)
    if ran.rc != 0:
        ctx.note(f"cold_stages.py failed: {tail(ran.err)}")
        return
    ctx.results.cold_stages = ran.out.strip()
