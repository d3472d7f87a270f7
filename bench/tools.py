"""Small helpers shared by several phases: page fetches, installer environments, tool look-ups."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse

from bench.net import JSON_ACCEPT, Response, http_get, loopback


def fetch_page(base: str, tier: str, project: str, accept: str, timeout: float = 120) -> Response:
    """GET ``{base}/{tier}/simple/{project}/`` from a mirror."""
    return http_get(f"{base}/{tier}/simple/{project}/", {"Accept": accept}, timeout=timeout)


def file_url(base: str, project: str, filename: str) -> tuple[str, str] | None:
    """(absolute URL, sha256) of ``filename`` from the index's PEP 691 page of ``project``."""
    page = base.rstrip("/") + f"/{project}/"
    try:
        resp = http_get(page, {"Accept": JSON_ACCEPT}, timeout=60)
        if resp.status != 200:
            return None
        for f in json.loads(resp.body)["files"]:
            if f["filename"] == filename:
                return loopback(urllib.parse.urljoin(page, f["url"])), f["hashes"]["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus pip/uv settings (this machine sets PIP_FIND_LINKS, for example)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", UV_NO_CONFIG="1",
               UV_NO_PROGRESS="1", NO_PROXY="127.0.0.1,localhost")
    env.update(extra)
    return env


def uv_bin(python: str) -> str | None:
    """The uv executable of ``python``'s environment (the ``uv`` package), else the one on PATH."""
    try:
        out = subprocess.run([python, "-c", "from uv import find_uv_bin; print(find_uv_bin())"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return shutil.which("uv")


def direct_index(upstream: str) -> str | None:
    """The upstream simple index URL the "direct" figures use: UPSTREAM, or pypi-simple's constant."""
    if upstream != "pypi":
        return upstream
    try:
        from pypi_simple import PYPI_SIMPLE_ENDPOINT
    except ImportError:
        return None
    return str(PYPI_SIMPLE_ENDPOINT)
