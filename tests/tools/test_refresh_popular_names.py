"""tools/refresh_popular_names.py: the popular-names list is rebuilt from the download-ranking dataset, from a
file or a URL, and a bad source changes nothing."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "tools" / "refresh_popular_names.py"


def dataset(count: int = 1_200, *, extra: list[dict] | None = None) -> dict:
    """A dataset like the published one: ``count`` projects, listed in no particular order."""
    rows = [{"download_count": 10 * (count - i), "project": f"Project_{i:05d}.Name"} for i in range(count)]
    rows = rows[::2] + rows[1::2] + (extra or [])
    return {"last_update": "2026-04-01 06:34:06", "source": "ClickHouse", "rows": rows, "total_rows": len(rows)}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          check=False)


def names_in(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


def test_a_local_snapshot_becomes_a_ranked_normalized_list(tmp_path):
    source = tmp_path / "top-pypi-packages-30-days.min.json"
    extra = [{"download_count": 10**9, "project": "Requests"}, {"download_count": 5, "project": "requests"},
             {"download_count": 10**8, "project": "not a name!"}, {"download_count": 10**7, "project": "-bad-"}]
    source.write_text(json.dumps(dataset(extra=extra)))
    output = tmp_path / "popular.txt"
    result = run(str(source), "--top", "1000", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert "wrote 1000 names (snapshot of 2026-04-01 06:34:06)" in result.stdout
    names = names_in(output)
    assert names[:3] == ["requests", "project-00000-name", "project-00001-name"]
    assert len(names) == 1000 and len(set(names)) == 1000
    assert "not a name!" not in output.read_text() and "-bad-" not in names
    header = [line for line in output.read_text().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert "The 1,000 most downloaded projects" in text
    assert "https://hugovk.github.io/top-pypi-packages/top-pypi-packages.min.json" in text
    assert "snapshot of 2026-04-01 06:34:06, read from top-pypi-packages-30-days.min.json." in text
    assert str(tmp_path) not in text  # the snapshot's name, not the path on whoever's disk
    assert "# Refresh: python tools/refresh_popular_names.py" in text
    assert output.stat().st_mode & 0o777 == 0o644


@pytest.fixture
def served(tmp_path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving ``tmp_path``; yields its root URL."""
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_dataset_is_downloaded_from_a_url(tmp_path, served):
    (tmp_path / "top-pypi-packages.min.json").write_text(json.dumps(dataset()))
    output = tmp_path / "out" / "popular.txt"
    url = f"{served}/top-pypi-packages.min.json"
    result = run(url, "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert len(names_in(output)) == 1_200  # fewer rows than --top: all of them
    assert f"read from {url}." in output.read_text()


@pytest.mark.parametrize(("content", "message"), [
    (b"<html>not json</html>", "is not JSON"),
    (json.dumps({"rows": "many"}).encode(), "has no 'rows' list"),
    (json.dumps([1, 2, 3]).encode(), "has no 'rows' list"),
    (json.dumps({"rows": [{"project": "a"}]}).encode(), "row 0 needs a 'project' string and a 'download_count'"),
    (json.dumps({"rows": [{"project": "a", "download_count": True}]}).encode(), "row 0 needs"),
    (json.dumps(dataset(999)).encode(), "lists 999 valid projects; expected at least 1000"),
])
def test_a_source_that_is_not_the_dataset_changes_nothing(tmp_path, content, message):
    source = tmp_path / "snapshot.json"
    source.write_bytes(content)
    output = tmp_path / "popular.txt"
    output.write_text("# old list\nrequests\n")
    result = run(str(source), "--output", str(output))
    assert result.returncode == 2
    assert message in result.stderr and str(source) in result.stderr and "nothing written" in result.stderr
    assert output.read_text() == "# old list\nrequests\n"
    assert [p.name for p in tmp_path.iterdir()] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_unreachable_or_oversized_source_changes_nothing(tmp_path, served):
    output = tmp_path / "popular.txt"
    result = run(f"{served}/missing.json", "--output", str(output))
    assert result.returncode == 2 and "cannot download" in result.stderr and "404" in result.stderr
    result = run(str(tmp_path / "missing.json"), "--output", str(output))
    assert result.returncode == 2 and "cannot read" in result.stderr
    big = tmp_path / "big.json"
    with big.open("wb") as file:
        file.truncate(16 * 1024 * 1024 + 1)
    result = run(str(big), "--output", str(output))
    assert result.returncode == 2 and "larger than" in result.stderr
    assert not output.exists()
