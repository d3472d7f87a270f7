"""``mirror prefetch``: everything a requirements or lock file needs, downloaded through a tier and verified; a
second run fetches nothing twice; what the tier lacks is reported with the rule."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mirror.cli.progress import BarProgress, PlainProgress, progress_for
from mirror.core.models import DistFile
from mirror.services.setfetch import FileTask

from ..support import depworld
from ..support.cli import mirror as cli
from ..support.cli import write_config
from ..support.fake_upstream import FakeUpstream

#: The files installers take for webapp on Linux: seven wheels, and aiostuff's sdist (no wheel of it).
FILES = 8


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream, dists: Path) -> Path:
    depworld.publish(upstream, dists)
    return write_config(tmp_path, upstream)


def files_fetched(upstream: FakeUpstream) -> list[str]:
    return [p for _, p in upstream.requests if p.startswith("/files/") and not p.endswith(".metadata")]


async def test_prefetch_through_reviewed_reports_what_is_missing_then_fetches_once(config, tmp_path, upstream):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("webapp\n")
    run = await cli("prefetch", "-r", requirements, "--tier", "reviewed", config=config)
    assert run.code == 1
    assert f"{requirements} through 'reviewed': 0 project(s), 0 file(s), 0 B" in run.out
    assert ("  the root requirements need webapp: webapp is not in 'reviewed': not reviewed: no [review] for this "
            "project") in run.out
    (await cli("promote", "webapp", "--with-deps", "--yes", "--by", "alice", config=config)).ok()
    upstream.reset_log()
    run = await cli("prefetch", "-r", requirements, "--tier", "reviewed", config=config)
    out = run.ok()
    assert f"{requirements} through 'reviewed': 8 project(s), {FILES} file(s)" in out
    # The sdist is stored already: promote --with-deps read its PKG-INFO through the store.
    assert f"[{FILES}/{FILES}] " in out and "cached aiostuff/aiostuff-1.0.tar.gz" in out
    assert f"fetched {FILES - 1} file(s) (" in out and ", 1 already stored, 0 failed" in out
    assert len(files_fetched(upstream)) == FILES - 1
    again = (await cli("prefetch", "-r", requirements, "--tier", "reviewed", config=config)).ok()
    assert f"fetched 0 file(s) (0 B), {FILES} already stored, 0 failed" in again
    assert len(files_fetched(upstream)) == FILES - 1  # nothing twice


async def test_an_interrupted_prefetch_resumes_with_what_is_missing(config, tmp_path, upstream):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("framework>=2\n")
    upstream.wrong_bytes = True
    upstream.fault_filter = lambda path: path.endswith("routing-1.3-py3-none-any.whl")
    run = await cli("prefetch", "-r", requirements, config=config)
    assert run.code == 1 and "failed: routing/routing-1.3-py3-none-any.whl: " in run.out
    assert "fetched 3 file(s)" in run.out and "1 failed" in run.out  # framework, templating, escaping
    upstream.wrong_bytes = False
    upstream.reset_log()
    run = await cli("prefetch", "-r", requirements, config=config)
    assert "fetched 1 file(s)" in run.ok() and ", 3 already stored, 0 failed" in run.out
    assert files_fetched(upstream) == [f"/files/{upstream.files_of('routing', '1.3')[0].sha256}/"
                                       "routing-1.3-py3-none-any.whl"]


async def test_prefetch_of_a_lock_takes_exactly_its_files(config, tmp_path, upstream):
    [escaping] = upstream.files_of("escaping", "2.5")
    [routing] = upstream.files_of("routing", "1.3")
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\ncreated-by = "tests"\n'
                    + "".join(f'\n[[packages]]\nname = "{n}"\nversion = "{v}"\nindex = "https://up.example/simple/"\n'
                              f'[[packages.wheels]]\nname = "{f}"\nurl = "https://up.example/{f}"\n'
                              f'hashes = {{sha256 = "{sha}"}}\n'
                              for n, v, f, sha in [("escaping", "2.5", escaping.filename, "e" * 64),
                                                   ("routing", "1.3", routing.filename, routing.sha256),
                                                   ("nowhere", "1.0", "nowhere-1.0-py3-none-any.whl", "0" * 64)]))
    run = await cli("prefetch", "--lock", lock, config=config)
    assert run.code == 1
    assert "fetched 1 file(s)" in run.out and "fetched routing/routing-1.3-py3-none-any.whl" in run.out
    assert ("  escaping 2.5: escaping-2.5-py3-none-any.whl: the lock's hash differs from the one 'all' serves"
            in run.out)
    assert f"  nowhere 1.0 ({lock}:22): upstream has no such project" in run.out


def task(size: int) -> FileTask:
    return FileTask("demo", "1.0", DistFile("demo-1.0-py3-none-any.whl", "https://up.example/x", {}, size=size))


def test_a_terminal_gets_a_bar_and_a_pipe_gets_lines():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(progress_for(Terminal()), BarProgress)
    lines = io.StringIO()
    plain = progress_for(lines)
    assert isinstance(plain, PlainProgress)
    plain.begin(2, 3072)
    plain.advance(task(2048), 1024)
    plain.done(task(2048), "fetched")
    plain.done(task(1024), "cached")
    plain.end()
    assert lines.getvalue() == ("[1/2] fetched demo/demo-1.0-py3-none-any.whl (2.0 KB)\n"
                                "[2/2] cached demo/demo-1.0-py3-none-any.whl (1.0 KB)\n")
    bar = BarProgress()
    bar._bar.console.file = io.StringIO()  # a bar drawn nowhere: begin → advance → done → end
    bar.begin(1, 2048)
    bar.advance(task(2048), 1024)
    bar.advance(task(2048), 2048)
    bar.done(task(2048), "fetched")
    bar.end()
    assert bar._bar.tasks[0].completed == 2048 and bar._bar.tasks[0].description == "1/1 files"
