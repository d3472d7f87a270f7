"""Phase "warm": warm project pages through the mirror, the peers and nginx (wrk), and prepare time.

For each project of PROJECTS: the mirror's `all` page (its first fetch from upstream; the JSON is saved
as a page shape for phase "cold"), the policy that vets every final release, the first preparation of
each tier page (``Server-Timing: prepare``), checks that the next requests are served from the same
prepared bytes, then wrk (``bench/peers/bench_simple.sh``) on every page, tier and server.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from bench.context import Context
from bench.net import FORMATS, HTML_ACCEPT, JSON_ACCEPT, loopback
from bench.numbers import kv, prepare_ms
from bench.policies import Pins, pins_from_page, write_policies
from bench.procs import tail
from bench.servers import Mirror, Nginx, Peer
from bench.tools import fetch_page


def bench_simple(ctx: Context, label: str, base: str, project: str) -> dict[str, str] | None:
    """``bench_simple.sh`` on one page: its RESULT line as a dict (plus wrk's timeouts), None on failure."""
    s = ctx.settings
    ctx.say(f"wrk: {label} {project} ({base}, 2 x {s.duration})")
    env = dict(os.environ, DURATION=s.duration, CONNS=str(s.conns), THREADS=str(s.threads))
    ran = ctx.procs.run(f"simple.{label}.{project}".replace(" ", "_").replace("/", "_"),
                        ["bash", str(s.peers / "bench_simple.sh"), loopback(base), project],
                        seconds=ctx.budget.limit(2 * s.dur_s + 120), env=env)
    lines = [line for line in ran.out.splitlines() if line.startswith("RESULT ")]
    if ran.rc != 0 or not lines:
        ctx.note(f"wrk {label} {project}: bench_simple.sh failed (exit {ran.rc})\n{tail(ran.err)}")
        return None
    res = kv(lines[-1])
    # wrk gives up on a response after 2 s ("timeout" socket errors): the HTML run comes first, then JSON
    errors = re.finditer(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", ran.err)
    for fmt, m in zip(("html", "json"), errors):
        res[f"errors_{fmt}"] = str(sum(int(x) for x in m.groups()))
    ctx.say(f"  {label} {project}: html {res.get('html_rps')} req/s, json {res.get('json_rps')} req/s")
    return res


def prepared_check(mirror: Mirror, tier: str, project: str, accept: str,
                   n: int = 5) -> tuple[float | None, str | None, bool]:
    """n requests of one page: the same Server-Timing value and ETag each time = served from prepared bytes."""
    seen = set()
    dur, etag = None, None
    for _ in range(n):
        resp = fetch_page(mirror.base, tier, project, accept)
        if resp.status != 200:
            return None, None, False
        dur, etag = prepare_ms(resp.headers), resp.headers.get("etag")
        seen.add((dur, etag))
    return dur, etag, len(seen) == 1


def policy_change_check(ctx: Context, mirror: Mirror, policies: Path, pins: Pins, project: str) -> None:
    """Edit the policy (a note): each tier page is prepared once more, then served from the new bytes."""
    s, r = ctx.settings, ctx.results
    pages = [(tier, fmt, accept) for tier in s.tiers for fmt, accept in FORMATS
             if tier != "all" or fmt == "html"]  # the all tier ignores reviews: one format shows it
    before = {(tier, fmt): prepared_check(mirror, tier, project, accept, n=1)[0] for tier, fmt, accept in pages}
    write_policies(policies, s.projects, revision=1, pins=pins)
    for tier, fmt, accept in pages:
        changed, new = False, None
        end = time.monotonic() + 10  # the server polls its policy directory every second
        while time.monotonic() < end:
            resp = fetch_page(mirror.base, tier, project, accept)
            new = prepare_ms(resp.headers)
            if resp.status == 200 and new != before[(tier, fmt)]:
                changed = True
                break
            time.sleep(0.1)
        dur, _, stable = prepared_check(mirror, tier, project, accept)
        r.prepared_checks.append((
            f"{project} {tier} {fmt}: policy edited → prepared again ({before[(tier, fmt)]} → {new} ms), then the "
            f"next 5 requests carry the same Server-Timing and ETag", changed and stable and dur == new, "policy"))
        if changed:
            r.prepare.append({"project": project, "tier": tier, "fmt": fmt, "when": "after policy change",
                              "ms": new, "workers": mirror.workers})


def _first_fetches(ctx: Context, mirror: Mirror, nginx: Nginx | None,
                   first: bool) -> dict[str, dict[str, dict[str, str]]]:
    """The `all` page of every project (saved as a shape; copied to nginx): the pins of its final releases."""
    r = ctx.results
    pins: dict[str, dict[str, dict[str, str]]] = {}
    shapes = ctx.tmp / "shapes"
    shapes.mkdir(exist_ok=True)
    for project in ctx.settings.projects:
        bodies = {}
        for fmt, accept in (("json", JSON_ACCEPT), ("html", HTML_ACCEPT)):
            resp = fetch_page(mirror.base, "all", project, accept)
            if resp.status != 200:
                ctx.die(f"mirror: /all/simple/{project}/ answered {resp.status}: {resp.body[:200]!r}")
            bodies[fmt] = resp.body
            if first and fmt == "json":
                r.prepare.append({"project": project, "tier": "all", "fmt": fmt, "workers": mirror.workers,
                                  "when": f"first request: page fetched from upstream ({resp.seconds * 1000:.0f} ms "
                                          "in all)", "ms": prepare_ms(resp.headers), "bytes": len(resp.body)})
        page = json.loads(bodies["json"])
        pins[project] = pins_from_page(page)
        r.page_files[project] = len(page["files"])
        r.page_versions[project] = len(page.get("versions", []))
        (shapes / f"{project}.json").write_bytes(bodies["json"])
        if first and nginx is not None:
            nginx.add_page(project, bodies["html"], bodies["json"])
    return pins


def run(ctx: Context, mirror: Mirror, tiers: tuple[str, ...], peers: list[Peer], nginx: Nginx | None, first: bool,
        policies: Path) -> dict[str, dict[str, dict[str, str]]]:
    """Warm pages of every project through ``mirror`` (and, the first time, the peers and nginx).
    Returns the pins that vet every final release of each project. Fatal if the mirror's page fails."""
    s, r = ctx.settings, ctx.results
    label = f"mirror w{mirror.workers}"
    pins = _first_fetches(ctx, mirror, nginx, first)
    if first:  # vet every final release of each project (all its files pinned), wait for the reload
        write_policies(policies, s.projects, revision=0, pins=pins)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if all(fetch_page(mirror.base, "vetted", p, JSON_ACCEPT).status == 200 for p in s.projects):
                break
            time.sleep(0.2)
        else:
            ctx.note("the vetted tier did not pick up the policy within 15 s")
    # The first preparation of each page for the policy in force (the all tier's too: a policy change
    # re-prepares every tier), then "served from prepared bytes".
    when = "first for this policy version" if first else f"first in this worker ({mirror.workers} workers)"
    for project in s.projects:
        for tier in tiers:
            for fmt, accept in FORMATS:
                resp = fetch_page(mirror.base, tier, project, accept)
                if resp.status != 200:
                    ctx.note(f"mirror w{mirror.workers}: /{tier}/simple/{project}/ answered {resp.status}")
                    continue
                r.prepare.append({"project": project, "tier": tier, "fmt": fmt, "when": when,
                                  "ms": prepare_ms(resp.headers), "bytes": len(resp.body), "workers": mirror.workers})
        for tier in tiers if mirror.workers == 1 else ():  # each worker prepares its own copy
            for fmt, accept in FORMATS:
                dur, _etag, same = prepared_check(mirror, tier, project, accept)
                r.prepared_checks.append((f"{project} {tier} {fmt}: 5 requests, one Server-Timing value "
                                          f"({dur} ms) and one ETag", same, "prepared"))
    for project in s.projects:
        for tier in tiers:
            res = bench_simple(ctx, f"{label} {tier}", mirror.index(tier), project)
            if res:
                r.pages[(project, label, tier)] = res
        if first:
            for peer in peers:
                if peer.base:
                    res = bench_simple(ctx, peer.name, peer.base, project)
                    if res:
                        r.pages[(project, peer.name, "all")] = res
            if nginx is not None and nginx.running:
                res = bench_simple(ctx, "nginx", nginx.base, project)
                if res:
                    r.pages[(project, "nginx", "all")] = res
    return pins
