"""The report: a run's results → Markdown. Pure (plain values in, text out), unit-tested in tests/bench/."""

from __future__ import annotations

from bench.numbers import fmt_num, fmt_ratio, num, ratio
from bench.results import Results, RunInfo
from bench.settings import TIERS_ALL, Settings

Target = tuple[str, str, bool | None]  # (target, measured, met)
PEERS = ("proxpi", "devpi", "nginx")


def _warm_flag(res: dict[str, str], f: str) -> str:
    text = ""
    if res.get(f"non2xx_{f}") not in (None, "0", "n/a"):
        text += f" ({res[f'non2xx_{f}']} non-2xx!)"
    if res.get(f"errors_{f}") not in (None, "0"):
        text += f" ({res[f'errors_{f}']} timeouts)"
    return text


def warm_pages(r: Results, s: Settings, targets: list[Target]) -> list[str]:
    out = ["### 1. Warm project page (wrk req/s; ratios = mirror ÷ peer, same project and format)", "",
           "| project | server | tier | html req/s | json req/s | html p99 | json p99 | html bytes | json bytes "
           "| ×proxpi html / json | ×devpi html / json | ×nginx html / json |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for project in s.projects:
        size = f" ({r.page_versions.get(project, '?')} versions, {r.page_files.get(project, '?')} files)"
        peer_rows = {p: r.pages.get((project, p, "all")) for p in PEERS}
        for (p, server, tier), res in sorted(r.pages.items(), key=lambda kv: (
                kv[0][0], 0 if kv[0][1].startswith("mirror") else 1, kv[0][1], TIERS_ALL.index(kv[0][2]))):
            if p != project:
                continue
            cells = []
            for peer in PEERS:
                pr = peer_rows.get(peer)
                if server.startswith("mirror") and pr:
                    rh = ratio(num(res.get("html_rps")), num(pr.get("html_rps")))
                    rj = ratio(num(res.get("json_rps")), num(pr.get("json_rps")))
                    cells.append(f"{fmt_ratio(rh)} / {fmt_ratio(rj)}")
                else:
                    cells.append("")
            p99 = {f: ("-" if res.get(f"errors_{f}") not in (None, "0") else res.get(f"{f}_p99", "-"))
                   for f in ("html", "json")}
            out.append(f"| {project}{size} | {server} | {tier} | {fmt_num(num(res.get('html_rps')))}"
                       f"{_warm_flag(res, 'html')} | {fmt_num(num(res.get('json_rps')))}{_warm_flag(res, 'json')} | "
                       f"{p99['html']} | {p99['json']} | {res.get('html_bytes', '-')} | {res.get('json_bytes', '-')} | "
                       + " | ".join(cells) + " |")
            size = ""
    out += ["", "timeouts: wrk gave up on that many responses after 2 s (its latency figures are then meaningless, "
            "shown as -); the rate counts completed responses only. nginx serves the mirror's `all` page as static "
            "files (one worker, sendfile, `Accept` mapped to `index.html` / `index.json`: the config of "
            "`bench/peers/bench_static_ceiling.sh`); curated-tier rows are compared with that same page. proxpi and "
            "devpi have no tiers: their one page is compared with each tier's.", ""]
    for label in (f"mirror w{n}" for n in s.workers):
        for peer, want, name in (("proxpi", 10.0, "≥ 10× proxpi"), ("nginx", 0.3, "≥ 0.3× nginx static")):
            worst: tuple[float, str] | None = None
            missing = False
            for project in s.projects:
                pr = r.pages.get((project, peer, "all"))
                for tier in TIERS_ALL:
                    mine = r.pages.get((project, label, tier))
                    if mine is None:
                        continue
                    if pr is None:
                        missing = True
                        continue
                    for fmt in ("html", "json"):
                        x = ratio(num(mine.get(f"{fmt}_rps")), num(pr.get(f"{fmt}_rps")))
                        if x is not None and (worst is None or x < worst[0]):
                            worst = (x, f"{project} {tier} {fmt}")
            if worst is None:
                targets.append((f"warm page {name} ({label})",
                                "not measured" + (f" ({peer} missing)" if missing else ""), None))
            else:
                targets.append((f"warm page {name} ({label}, every project, tier and format)",
                                f"lowest {fmt_ratio(worst[0])}× ({worst[1]})", worst[0] >= want))
    return out


def prepare_times(r: Results, s: Settings, targets: list[Target]) -> list[str]:
    out = ["#### Prepare time (`Server-Timing: prepare;dur=`, ms: render + gzip + ETag of one page version)", "",
           "| project | tier | format | workers | when | prepare ms | bytes |", "|---|---|---|---:|---|---:|---:|"]
    for p in r.prepare:
        out.append(f"| {p['project']} | {p['tier']} | {p['fmt']} | {p.get('workers', '')} | {p['when']} | "
                   f"{fmt_num(p['ms'], 2)} | {p.get('bytes', '')} |")
    out += ["", "Served from prepared bytes (checks):", ""]
    out += [f"- {'✅' if ok else '❌'} {text}" for text, ok, _kind in r.prepared_checks] + [""]
    big = max(s.projects, key=lambda p: r.page_versions.get(p, 0)) if s.projects else None
    curated = [p for p in r.prepare if p["project"] == big and p["tier"] in ("reviewed", "vetted")
               and p["ms"] is not None]
    steady = [p for p in curated if p["when"] == "after policy change"] or curated
    if steady:
        worst = max(steady, key=lambda p: p["ms"])
        targets.append((f"filtered page of {big} ({r.page_versions.get(big or '')} versions) prepared in < 20 ms",
                        f"{worst['ms']:.1f} ms worst ({worst['tier']} {worst['fmt']}, {worst['when']}); "
                        f"first ever in the process: up to {max(p['ms'] for p in curated):.1f} ms", worst["ms"] < 20))
    checks = [ok for _t, ok, _k in r.prepared_checks]
    if checks:
        targets.append(("then served from prepared bytes until the upstream page or the policy changes",
                        f"{sum(checks)}/{len(checks)} checks passed", all(checks)))
    return out


def cold_pages(r: Results, s: Settings) -> list[str]:
    out = ["### 2. Cold project page (first fetch) against a local fake upstream (median ms)", "",
           "| page shape | files | fake upstream direct | mirror html | mirror json | mirror overhead html / json "
           "| mirror prepare html / json | proxpi first fetch | proxpi ÷ mirror (json) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r.cold:
        d = row.get("direct_ms")
        oh = [None if row.get(f"mirror_{f}_ms") is None or d is None else row[f"mirror_{f}_ms"] - d
              for f in ("html", "json")]
        out.append(f"| {row['shape']} | {row.get('files', '')} | {fmt_num(d, 1)} | "
                   f"{fmt_num(row.get('mirror_html_ms'), 1)} | {fmt_num(row.get('mirror_json_ms'), 1)} | "
                   f"{fmt_num(oh[0], 1)} / {fmt_num(oh[1], 1)} | {fmt_num(row.get('prepare_html_ms'), 1)} / "
                   f"{fmt_num(row.get('prepare_json_ms'), 1)} | {fmt_num(row.get('proxpi_ms'), 1)} | "
                   f"{fmt_ratio(ratio(row.get('proxpi_ms'), row.get('mirror_json_ms')))} |")
    return out + ["", f"Each figure is the median of {s.cold_n} first fetches of distinct copies of the page (the "
                  "fake upstream renders its page on every request, without ETags). Overhead = through the mirror "
                  "− directly from the fake upstream: fetch, parse, store in the database, filter, render, gzip.", ""]


def big_pages(r: Results, s: Settings, targets: list[Target]) -> list[str]:
    files = r.prepare_big[0].files
    out = [f"### 2b. Cold {files:,}-file page per tier (synthetic, fake upstream; median ms of {s.big_n} first "
           "fetches)", "", "| tier | format | direct | through the mirror | ÷ direct | mirror overhead | "
           "Server-Timing prepare | bytes |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    worst: tuple[float, str] | None = None
    for row in r.prepare_big:
        over = None if row.mirror_ms is None or row.direct_ms is None else row.mirror_ms - row.direct_ms
        if over is not None and (worst is None or over > worst[0]):
            worst = (over, f"{row.tier} {row.fmt}")
        failed = f" ({row.failed} failed!)" if row.failed else ""
        out.append(f"| {row.tier} | {row.fmt} | {fmt_num(row.direct_ms, 1)} | {fmt_num(row.mirror_ms, 1)}{failed} | "
                   f"{fmt_ratio(ratio(row.mirror_ms, row.direct_ms))} | {fmt_num(over, 1)} | "
                   f"{fmt_num(row.prepare_ms, 1)} | {fmt_num(row.mirror_bytes)} |")
    out += ["", "Every fetch is of a distinct page the mirror never saw: upstream fetch, parse, store, tier decision, "
            "render, gzip, ETag (overhead = through the mirror − direct). Direct: the same page from the fake "
            f"upstream in the same format. The vetted tier holds the newest {s.big_vetted_versions} versions.", ""]
    if worst is not None:
        targets.append((f"parse + prepare a {files:,}-file page for a tier ≤ 50 ms (cold overhead, synthetic page)",
                        f"worst {worst[0]:.1f} ms ({worst[1]})", worst[0] <= 50))
    if r.cold_stages:
        out += [f"#### Where the CPU of one cold {files:,}-file page goes (`bench/cold_stages.py`: CPU ms of each "
                "step, one process, caches cleared, median of 3)", "", r.cold_stages, "",
                "The steps `PreparedPages` runs for a page it never saw: parse upstream's page, the servable files "
                "(shared by the tiers), `decide_page`, render one format, gzip + ETag. In the mirror the page's "
                "other formats and tiers reuse the parse and the servable files; storing the page and its first "
                "sightings in the database, and the event loop's own work, come on top (the overhead above).", ""]
        totals = [float(line.rsplit("|", 2)[-2]) for line in r.cold_stages.splitlines()[2:] if line.count("|") > 3]
        if totals:
            targets.append((f"parse + prepare a {files:,}-file page for a tier ≤ 50 ms (CPU of the steps, in process; "
                            "synthetic and real pages)", f"{min(totals):.1f}–{max(totals):.1f} ms",
                            max(totals) <= 50))
    return out


def warm_under_cold(r: Results, targets: list[Target]) -> list[str]:
    w = r.warm_under_cold
    if w is None:
        return []
    out = [f"### 2c. Warm requests while cold pages are prepared (ms; {w.small_files}-file page, one client, "
           "sequential)", "", "| series | requests | p50 | p99 | max |", "|---|---:|---:|---:|---:|"]
    for name, st in (("warm, alone", w.alone), (f"warm, while {w.cold_pages} cold {w.big_files:,}-file pages are "
                                                f"prepared ({w.rounds} round{'s' if w.rounds > 1 else ''})", w.loaded),
                     ("the cold pages themselves", w.cold)):
        out.append(f"| {name} | {st.n} | {fmt_num(st.p50_ms, 2)} | {fmt_num(st.p99_ms, 2)} | {fmt_num(st.max_ms, 1)} |")
    out += ["", f"{w.failed} requests did not answer 200." if w.failed else "Every request answered 200.", ""]
    if w.loaded.p99_ms is not None:
        targets.append((f"warm p99 ≤ 20 ms while {w.cold_pages} cold {w.big_files:,}-file pages are prepared",
                        f"p99 {w.loaded.p99_ms:.1f} ms (alone {fmt_num(w.alone.p99_ms, 2)} ms)", w.loaded.p99_ms <= 20))
    return out


def project_list(r: Results, targets: list[Target]) -> list[str]:
    synthetic = next((row.names for row in r.project_list if row.names), None)
    size = f"{synthetic:,} names synthetic, and the real list where reachable" if synthetic else "the real list"
    out = [f"### 2d. Cold project list (`/all/simple/`; {size})", "",
           "| upstream list | client format | direct ms | cold through the mirror ms (first byte) | ÷ direct | "
           "mirror CPU s | once built ms | bytes upstream sends the mirror / direct / mirror | mirror RSS MB before → "
           "peak → holding it | held ÷ list size |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r.project_list:
        held = None if row.rss_after_mb is None or row.rss_before_mb is None else row.rss_after_mb - row.rss_before_mb
        held_ratio = ratio(held, row.list_bytes / 2**20 if row.list_bytes else None)
        status = "" if row.status == 200 else f" (answered {row.status}!)"
        cold_ratio = ratio(row.mirror_ms, row.direct_ms)
        out.append(f"| {row.upstream} | {row.fmt} | {fmt_num(row.direct_ms)} | {fmt_num(row.mirror_ms)}{status} "
                   f"({fmt_num(row.first_byte_ms)}) | {fmt_ratio(cold_ratio)} | {fmt_num(row.mirror_cpu_s, 2)} | "
                   f"{fmt_num(row.warm_ms)} | {fmt_num(row.list_bytes)} / "
                   f"{fmt_num(row.direct_bytes)} / {fmt_num(row.mirror_bytes)} | {fmt_num(row.rss_before_mb)} → "
                   f"{fmt_num(row.rss_peak_mb)} → {fmt_num(row.rss_after_mb)} | {fmt_ratio(held_ratio)} |")
        if row.status == 200 and cold_ratio is not None:
            targets.append((f"cold project list ≤ 3× direct ({row.upstream} upstream, {row.fmt})",
                            f"{cold_ratio:.2f}× ({fmt_num(row.mirror_ms)} vs {fmt_num(row.direct_ms)} ms)",
                            cold_ratio <= 3))
        if row.status == 200 and held_ratio is not None:
            targets.append((f"RSS held for the list ≤ 3× its size ({row.upstream} upstream, {row.fmt})",
                            f"{held_ratio:.2f}× (+{held:.0f} MB for {row.list_bytes / 2**20:.0f} MB)",
                            held_ratio <= 3))
    return out + ["", "Each row through its own fresh mirror (empty cache); direct = the median of the same list "
                  "fetched from the same upstream in the same format. The first answer is sent as the list is built; "
                  "\"once built\" is the next answer, served from prepared bytes. Mirror CPU: what its processes "
                  "used during the cold request (on a shared machine wall times stretch, CPU times much less). RSS: "
                  "the mirror's processes before the request, at the peak (sampled every 0.2 s) and holding the list "
                  "(both answers given, 2 s later); \"held ÷ list size\" divides the increase by the size of what "
                  "upstream sends the mirror.", ""]


def nodes(r: Results, s: Settings, targets: list[Target]) -> list[str]:
    n = r.nodes
    if n is None:
        return []
    out = [f"### 6. Nodes acting as one (fake upstream; warm page: `small0`, {n.small_files} files, JSON, tier all)",
           "", "| nodes | database | warm req/s (wrk on every node at once, summed) | ÷ 1 node on SQLite |",
           "|---:|---|---:|---:|"]
    sqlite = next((row.rps for row in n.throughput if row.database == "sqlite"), None)
    for row in n.throughput:
        bad = f" ({row.non2xx} non-2xx!)" if row.non2xx else ""
        out.append(f"| {row.nodes} | {row.database} | {row.rps:,.0f}{bad} | {fmt_ratio(ratio(row.rps, sqlite))} |")
    out += ["", f"wrk c={s.conns} split between the nodes, t=1 each, d={s.duration}. The nodes and wrk share this "
            "machine's cores: more nodes add no CPU here (on a machine other jobs load, more processes only get a "
            "larger share of it), so this shows what sharing PostgreSQL costs a warm request, not how a cluster "
            "of machines scales. Every node writes its access log (to a file) unless the row says otherwise.", ""]
    if n.herd:
        out += [f"Cold herd: {n.herd[0].requests} concurrent requests for one never-seen file "
                f"({n.herd_size / 1e6:.1f} MB, upstream answering after {n.file_delay:g} s) spread round robin over "
                f"{max(row.nodes for row in n.throughput)} PostgreSQL nodes, a new file each round:", "",
                "| round | right bytes | wall s | upstream requests for the file | for its page |",
                "|---:|---:|---:|---:|---:|"]
        for i, h in enumerate(n.herd):
            out.append(f"| {i + 1} | {h.ok}/{h.requests} | {h.seconds:.2f} | {h.file_fetches} | {h.page_fetches} |")
        out.append("")
        worst = max(max(h.file_fetches, h.page_fetches) for h in n.herd)
        all_ok = all(h.ok == h.requests for h in n.herd)
        targets.append(("cold herd across nodes: one upstream request per file and per page, every answer right",
                        f"at most {worst} per round, {'all' if all_ok else 'not all'} answers right",
                        worst == 1 and all_ok))
    return out


def wheel(r: Results, s: Settings, targets: list[Target]) -> list[str]:
    size = next((e["single"].get("size") for e in r.wheel.values()), "0")
    out = [f"### 3. Cached wheel ({s.wheel_file}, {int(size) / 1e6:.1f} MB), MB/s", "",
           f"| server | first download s | one download (median of {s.wheel_n}) | ×nginx | {s.concurrent} curl at "
           f"once, aggregate (median of {s.concurrent_rounds}) | ×nginx | wrk c={s.concurrent}, {s.duration} "
           "| ×nginx |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    ng = r.wheel.get("nginx") or {}
    ng_vals = [num((ng.get("single") or {}).get("warm_MBps")), (ng.get("concurrent") or {}).get("burst_MBps"),
               (ng.get("concurrent") or {}).get("wrk_MBps")]
    for label, e in r.wheel.items():
        conc = e.get("concurrent") or {}
        vals = [num(e["single"].get("warm_MBps")), conc.get("burst_MBps"), conc.get("wrk_MBps")]
        rs = [ratio(v, n) for v, n in zip(vals, ng_vals)]
        sha = "" if e["single"].get("sha256_ok") == "yes" else " (sha256 mismatch!)"
        cells = [label, fmt_num(num(e["single"].get("cold_s")), 2), fmt_num(vals[0]) + sha]
        for i, (v, x) in enumerate(zip(vals, rs)):
            if i:
                cells.append(fmt_num(v))
            cells.append(fmt_ratio(x) if label != "nginx" else "")
        out.append("| " + " | ".join(cells) + " |")
        if label.startswith("mirror") and (rs[0] is not None or rs[2] is not None):
            met = all(x is not None and x >= 0.9 for x in (rs[0], rs[2]))
            targets.append((f"cached wheel ≥ 0.9× nginx ({label}; one download and wrk c={s.concurrent})",
                            f"one download {fmt_ratio(rs[0])}×, wrk c={s.concurrent} {fmt_ratio(rs[2])}× "
                            f"({s.concurrent} curl at once {fmt_ratio(rs[1])}×)", met))
    return out + ["", "One download: `bench/peers/bench_wheel.sh` (curl into a temp file, sha256 checked each time; "
                  "the mirror's first download is its fetch from the upstream index). Curl at once: that many curl "
                  "processes started together, every response checked for status 200 and full size. wrk: that many "
                  "connections downloading the file again and again (the least client-bound figure). nginx serves "
                  "the same file (sendfile, one worker).", ""]


def installs(r: Results, s: Settings, targets: list[Target]) -> list[str]:
    out = ["### 4. Installing the set (`bench/install-set.txt`, 20 pinned packages), wall seconds", "",
           "| installer | direct from upstream | mirror, cold cache | ÷ direct | mirror, warm cache | ÷ direct "
           "| warm again | ÷ direct |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    wall = {k: (v or {}).get("s") for k, v in r.install.items()}
    for tool in ("pip", "uv"):
        d = wall.get(f"{tool} direct")
        c, wm, wa = (wall.get(f"{tool} mirror {x}") for x in ("cold", "warm", "warm again"))
        out.append(f"| {tool} | {fmt_num(d, 2)} | {fmt_num(c, 2)} | {fmt_ratio(ratio(c, d))} | {fmt_num(wm, 2)} | "
                   f"{fmt_ratio(ratio(wm, d))} | {fmt_num(wa, 2)} | {fmt_ratio(ratio(wa, d))} |")
        for what, value, want in (("warm", wm, 0.7), ("cold", c, 1.2 if tool == "pip" else 1.5)):
            x = ratio(value, d)
            extra = f"; warm again {fmt_ratio(ratio(wa, d))}×" if what == "warm" and wa else ""
            aside = " (uv, not in the issue's targets)" if (tool, what) == ("uv", "warm") else ""
            targets.append((f"{what} `{tool} install` ≤ {want}× direct{aside}",
                            (f"{fmt_ratio(x)}×" if x else "not measured") + extra, None if x is None else x <= want))
        x = ratio(c, d)
        targets.append((f"moonshot: cold `{tool} install` ≤ 1.0× direct", f"{fmt_ratio(x)}×" if x else "not measured",
                        None if x is None else x <= 1.0))
    for tool in ("pip", "uv"):
        d, on = wall.get(f"{tool} direct"), wall.get(f"{tool} mirror cold prefetch on")
        if on is not None:
            out.append(f"| {tool}, page prefetch on | {fmt_num(d, 2)} | {fmt_num(on, 2)} | "
                       f"{fmt_ratio(ratio(on, d))} | | | | |")
    out += ["", "Where the time goes: CPU seconds (user + system) of each install and of the mirror during it; after "
            "the last run, the mirror's `Server-Timing: prepare` of the JSON pages of the set (the time it spent "
            "preparing the page version it serves, once per version):", "",
            "| run | wall s | installer CPU s | mirror CPU s | pages prepared, sum ms | biggest |",
            "|---|---:|---:|---:|---:|---|"]
    for key, v in r.install.items():
        if v:
            pages = r.install_pages.get(key, [])
            big = sorted(pages, key=lambda row: row[2], reverse=True)[:2]
            out.append(f"| {key} | {v['s']:.2f} | {v['cpu']:.2f} | {fmt_num(v.get('server_cpu'), 2)} | "
                       f"{fmt_num(sum(row[2] for row in pages), 0) if pages else ''} | "
                       + ", ".join(f"{p} ({files} files) {ms:.0f} ms" for p, files, ms in big) + " |")
    return out + ["", "Each install: a fresh `--target` dir and no installer cache (`pip --no-cache-dir`, uv with an "
                  "empty `--cache-dir`), `PIP_CONFIG_FILE=/dev/null`, `UV_NO_CONFIG=1`, no `PIP_*`/`UV_*` variables, "
                  f"`--index-url` the only index. Cold = a mirror started on an empty cache (workers="
                  f"{s.install_workers}); warm = the same install again through it (its cache holds every page and "
                  "file; the installer's does not); warm again = once more. The same Server-Timing figure after two "
                  "runs means the page was not prepared again.", ""]


def memory(r: Results, s: Settings, targets: list[Target]) -> list[str]:
    out = ["### 5. Memory and start-up", "", "| server | peak RSS MB (all its processes, sampled every second) "
           "| start-up s |", "|---|---:|---:|"]
    for label in sorted(set(r.rss_peak_mb) | set(r.startup)):
        out.append(f"| {label} | {fmt_num(r.rss_peak_mb.get(label), 1)} | {fmt_num(r.startup.get(label), 2)} |")
    out += ["", "Start-up: from exec to the first 200 on `/healthz` (mirror, nginx); for proxpi and devpi, from "
            "launching their start script (which creates devpi's server dir) to the first 200 on their health URL.", ""]
    if r.soak:
        k = r.soak
        growth = k["last_mb"] - k["first_mb"]
        tol = max(5.0, 0.05 * k["first_mb"])
        out += [f"RSS soak ({k['label']}, {k['seconds']} s of wrk c={s.conns} over every page, tier, format and "
                f"encoding, 1 in 16 requests for one of 500 absent names): {fmt_num(k['rps'])} req/s, "
                f"{k['requests']} requests ({k['non2xx']} answered 404, the absent names); RSS after the first tenth "
                f"{k['first_mb']:.1f} MB, in the last tenth {k['last_mb']:.1f} MB (min {k['min_mb']:.1f}, max "
                f"{k['max_mb']:.1f}, {k['samples']} samples).", ""]
        soak_note = "" if k["seconds"] >= 300 else "; the issue asks 300 s: SOAK=300"
        targets.append((f"RSS flat over sustained load ({k['seconds']} s{soak_note})",
                        f"{growth:+.1f} MB ({growth / k['first_mb']:+.1%}), tolerance ±{tol:.1f} MB",
                        abs(growth) <= tol))
    return out


def missing_phases(r: Results, phases: tuple[str, ...]) -> list[str]:
    """The selected phases that produced no result at all (the run's exit code is 1 when there is one)."""
    produced = {"warm": bool(r.pages), "wheel": bool(r.wheel), "profile": bool(r.profiles), "soak": bool(r.soak),
                "cold": bool(r.cold), "prepare-big": bool(r.prepare_big), "project-list": bool(r.project_list),
                "warm-under-cold": r.warm_under_cold is not None, "install": any(r.install.values()),
                "nodes": r.nodes is not None}
    return [p for p in phases if not produced.get(p, False)]


def body(r: Results, s: Settings, elapsed_s: float) -> str:
    """Targets first, then each measured phase's table, the profiles and the notes."""
    targets: list[Target] = []
    out: list[str] = []
    if r.pages or r.prepare:
        out += warm_pages(r, s, targets) + prepare_times(r, s, targets)
    if r.cold:
        out += cold_pages(r, s)
    if r.prepare_big:
        out += big_pages(r, s, targets)
    out += warm_under_cold(r, targets)
    if r.project_list:
        out += project_list(r, targets)
    if r.wheel:
        out += wheel(r, s, targets)
    if r.install:
        out += installs(r, s, targets)
    out += memory(r, s, targets)
    out += nodes(r, s, targets)
    head = ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
    head += [f"| {name} | {measured} | {'✅ met' if met else ('❌ not met' if met is False else '—')} |"
             for name, measured, met in targets] + [""]
    if r.profiles:
        out += ["### Profiles", ""] + [line for p in r.profiles for line in (p, "")]
    notes = [n.splitlines()[0] for n in r.notes] + [f"phase {p}: no result" for p in missing_phases(r, s.phases)]
    if notes:
        out += ["### Notes", ""] + [f"- {n}" for n in notes] + [""]
    out.append(f"Suite wall time: {elapsed_s / 60:.1f} min.")
    return "\n".join(head + out)


def document(r: Results, s: Settings, info: RunInfo) -> str:
    """The whole report of a run, as printed and as appended to RESULTS.md."""
    header = (f"{info.date} · {info.machine} · {info.cores} cores · wrk c={s.conns} t={s.threads} d={s.duration} · "
              f"projects {', '.join(s.projects)} · phases {' '.join(s.phases)}")
    return (f"## {header}\n\nversions: {info.versions}\n\nload average (1/5/15 min) at start {info.load_start}, at the "
            f"end {info.load_end} (the machine is shared: other jobs' CPU use lowers every figure)\n\n"
            f"{body(r, s, info.elapsed_s)}\n")
