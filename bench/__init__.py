"""The benchmark suite: this mirror next to proxpi, devpi-server and nginx, in one run, on one machine.

Run it with ``bench/run.sh`` or ``python -m bench`` from the repository root (bench/README.md lists the
phases and knobs). Importing any module of the package starts nothing: all work begins in
``bench.main.main``.
"""
