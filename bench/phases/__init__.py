"""The suite's phases, one module each; ``PHASES`` selects them (see bench/settings.py and README.md).

On the main mirror instances (real upstream, one per ``WORKERS`` count), driven by ``bench.main``:
``warm`` (pages, prepare time, wrk next to the peers and nginx), ``wheel`` (a cached wheel), ``profile``
(py-spy, ``PROFILE=1``) and ``soak`` (RSS under sustained load). Each of the others starts its own
servers: ``cold`` (first fetches of copies of real pages from a fake upstream), ``prepare-big`` (cold
15,000-file pages per tier), ``warm-under-cold`` (warm latency while cold pages are prepared),
``project-list`` (a cold 700,000-name project list) and ``install`` (pip and uv, cold and warm).
"""
