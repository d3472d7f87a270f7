"""The bench package: nothing runs at import time, modules stay small, and the report's peers live inside."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.settings import BENCH_DIR, REPO


def test_importing_every_module_starts_nothing(tmp_path: Path) -> None:
    code = ("import importlib, pkgutil, threading, bench, bench.phases\n"
            "names = [m.name for m in pkgutil.walk_packages(bench.__path__, 'bench.') if m.name != 'bench.__main__']\n"
            "for name in names: importlib.import_module(name)\n"
            "print(len(names), threading.active_count())\n")
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(REPO))
    ran = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    modules, threads = map(int, ran.stdout.split())
    assert modules >= 20 and threads == 1  # no sampler thread, no server
    assert list(tmp_path.iterdir()) == []  # no temp dir


def test_modules_stay_small() -> None:
    for path in BENCH_DIR.rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 400, f"{path.relative_to(REPO)} has {lines} lines"


def test_the_peer_scripts_are_in_the_repository_and_executable() -> None:
    for script in ("start_proxpi.sh", "start_devpi.sh", "bench_simple.sh", "bench_wheel.sh", "bench_static_ceiling.sh"):
        path = BENCH_DIR / "peers" / script
        assert path.is_file() and os.access(path, os.X_OK), path
