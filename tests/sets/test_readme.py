"""The README's reviewer walkthrough, run command by command on a fresh copy of the repository.

The copy holds the repository's tracked files (as a clone would); the only change is its ``config.toml``'s
upstream, which points at the local fake of the public index (serving Flask's and Requests' dependency sets)
instead of the real one. Each line of the walkthrough block runs in a shell in the copy, as written, except:
``mirror serve`` listens on a free port (``--port 0``) and the commands use that port instead of 8080; pip
installs into a directory of the test (``--target``) and downloads into one (``-d``), with no cache; every
command gets "y" answers on its input (the confirmations); before a line that talks to the server the test
waits for the server to have loaded the policy files (it polls them every second). A line marked "# fails"
must fail; every other line must succeed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from ..support.depworld import OLD
from ..support.fake_upstream import FakeUpstream
from ..support.installers import installed
from ..support.policies import PolicyDir

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- walkthrough: tests/sets/test_readme.py runs every line of the next block -->"

#: The public projects the walkthrough uses: (name, version, Requires-Dist).
PROJECTS = [
    ("Flask", "3.0.2", ["Werkzeug>=3.0.0", "Jinja2>=3.1.2", "itsdangerous>=2.1.2", "click>=8.1.3", "blinker>=1.6.2"]),
    ("Flask", "3.0.3", ["Werkzeug>=3.0.0", "Jinja2>=3.1.2", "itsdangerous>=2.1.2", "click>=8.1.3", "blinker>=1.6.2",
                        'importlib-metadata>=3.6.0; python_version < "3.10"']),
    ("Werkzeug", "3.0.3", ["MarkupSafe>=2.1.1"]),
    ("Jinja2", "3.1.4", ["MarkupSafe>=2.0"]),
    ("MarkupSafe", "2.1.5", []),
    ("itsdangerous", "2.2.0", []),
    ("click", "8.1.7", ['colorama; platform_system == "Windows"']),
    ("blinker", "1.8.2", []),
    ("colorama", "0.4.6", []),
    ("importlib-metadata", "8.0.0", []),
    ("requests", "2.32.3", ["charset-normalizer<4,>=2", "idna<4,>=2.5", "urllib3<3,>=1.21.1", "certifi>=2017.4.17"]),
    ("charset-normalizer", "3.3.2", []),
    ("idna", "3.7", []),
    ("urllib3", "2.2.2", []),
    ("certifi", "2024.7.4", []),
]
FLASK = {"flask": "3.0.3", "werkzeug": "3.0.3", "jinja2": "3.1.4", "markupsafe": "2.1.5", "itsdangerous": "2.2.0",
         "click": "8.1.7", "blinker": "1.8.2"}


def walkthrough() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split(MARKER, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def fresh_copy(destination: Path) -> Path:
    """The repository's tracked files (a clone's content) in ``destination``."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
        files = [f for f in listed.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("git is not available to list the repository's files (install git, run from a clone)")
    for name in files:
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def adapted(line: str, port: int, work: Path, step: int) -> str:
    line = line.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    command = line.split("#", 1)[0].rstrip()
    if command.startswith("pip install"):
        command += f" --no-cache-dir --target {work / f'site-{step}'}"
    elif command.startswith("pip download"):
        command += f" --no-cache-dir -d {work / 'downloads'}"
    return command


async def shell(command: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec("bash", "-c", command, cwd=cwd, env=env, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(b"y\n" * 20), 300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def test_the_readme_walkthrough_runs_as_written(tmp_path, upstream: FakeUpstream, dists,
                                                      http: aiohttp.ClientSession):
    for name, version, requires in PROJECTS:
        upstream.add_wheel(name, version, dists, requires_dist=requires, upload_time=OLD)
    clone = fresh_copy(tmp_path / "clone")
    config = clone / "config.toml"
    config.write_text(config.read_text().replace('url = "pypi"', f'url = "{upstream.url}"', 1))
    assert not (clone / "policies").exists()
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "MIRROR_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", PIP_CONFIG_FILE=os.devnull,
               PIP_DISABLE_PIP_VERSION_CHECK="1", UV_NO_CACHE="1", UV_NO_CONFIG="1", NO_PROXY="127.0.0.1")
    lines = walkthrough()
    assert lines[0].startswith("mirror serve") and len(lines) >= 12
    server = await asyncio.create_subprocess_exec(
        "mirror", "serve", "--port", "0", cwd=clone, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
    try:
        assert server.stdout is not None
        banner = (await asyncio.wait_for(server.stdout.readline(), 60)).decode()
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", banner)[1])  # type: ignore[index]
        policies = PolicyDir(clone / "policies")
        for step, line in enumerate(lines[1:], start=1):
            command = adapted(line, port, work, step)
            if command.startswith(("pip ", "uv ")):
                await policies.applied(http, f"http://127.0.0.1:{port}")
            code, out = await shell(command, clone, env)
            if "# fails" in line:
                assert code != 0, f"{line!r} was to fail:\n{out}"
            else:
                assert code == 0, f"{line!r} failed ({code}):\n{out}"
            if command.startswith("mirror promote flask"):
                assert "promote: needed by flask 3.0.3 (Werkzeug>=3.0.0)" in out and "importlib-metadata" not in out
            if command.startswith("pip install"):
                assert installed(work / f"site-{step}") == FLASK, out
            if command.startswith("mirror demand --apply"):
                assert "promoted requests into 'reviewed'" in out and "promoted urllib3 into 'reviewed'" in out
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 30)
    assert (clone / "policies" / ".gitignore").read_text().count(".lock") == 1
