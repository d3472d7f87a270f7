"""What a run was measured with: versions of every program involved, the machine's load."""

from __future__ import annotations

import os
import shutil
import subprocess

from bench.context import Context
from bench.settings import REPO
from bench.tools import uv_bin


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _out(argv: list[str], stderr: bool = False) -> str:
    try:
        ran = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (ran.stderr if stderr else ran.stdout).strip()


def versions(ctx: Context) -> str:
    """``mirror 0.1.0 python 3.11 aiohttp ... (git abc123); proxpi ...; nginx ...; pip ...; uv ...; wrk ...``."""
    v = []
    out = _out([ctx.python, "-c", "import mirror, sys, aiohttp; print(mirror.__version__, 'python', "
                "sys.version.split()[0], 'aiohttp', aiohttp.__version__)"]) or "?"
    rev = _out(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]) or "no-commit"
    if _out(["git", "-C", str(REPO), "status", "--porcelain"]):
        rev += "+dirty"
    v.append(f"mirror {out} (git {rev})")
    peer_py = ctx.settings.peers_home / "venv" / "bin" / "python"
    if peer_py.exists():
        for pk in ("proxpi", "gunicorn", "devpi-server"):
            ver = _out([str(peer_py), "-c", f"import importlib.metadata as m; print(m.version('{pk}'))"])
            if ver:
                v.append(f"{pk} {ver}")
    if shutil.which("nginx"):
        v.append(_out(["nginx", "-v"], stderr=True).replace("nginx version: ", "").replace("/", " "))
    pip = _out([ctx.python, "-m", "pip", "--version"]).split()
    if len(pip) > 1:
        v.append(f"pip {pip[1]}")
    uv = uv_bin(ctx.python)
    if uv:
        v.append(_out([uv, "--version"]))
    if shutil.which("wrk"):
        v.append(" ".join(_out(["wrk", "-v"]).split()[:2]))
    v.append(" ".join(_out(["curl", "--version"]).split()[:2]))
    return "; ".join(x for x in v if x)
