"""Offline OSV import: directories and export zips built by the tests, with good and bad entries."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mirror.adapters.osv_import import FileProblem, ImportLimits, OsvImport, OsvSourceError
from mirror.core.advisories import affects, is_malware

DATA = Path(__file__).resolve().parent.parent / "data" / "osv"
REAL = sorted(p.name for p in DATA.glob("*.json"))


def osv(aid: str, name: str = "demo", versions: tuple[str, ...] = ("1.0",), ecosystem: str = "PyPI") -> bytes:
    doc: dict[str, Any] = {
        "id": aid, "modified": "2024-05-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": ecosystem, "name": name}, "versions": list(versions)}],
    }
    return json.dumps(doc).encode()


#: The export's good entries: the real records plus a malware report written here.
GOOD = {**{name: (DATA / name).read_bytes() for name in REAL}, "MAL-2025-1.json": osv("MAL-2025-1", "evil-pkg")}
#: Bad entries and the start of the reason each is skipped with.
BAD = {
    "broken.json": (b'{"id": "PYSEC-1", ', "not JSON"),
    "latin1.json": ('{"id": "caf\xe9"}'.encode("latin-1"), "not JSON"),
    "list.json": (b"[]", "advisory (no id): record: is not an object"),
    "no-modified.json": (b'{"id": "GHSA-aaaa-bbbb-cccc", "affected": []}',
                         "advisory GHSA-aaaa-bbbb-cccc: modified: is missing"),
    "bad-event.json": (json.dumps({
        "id": "PYSEC-2024-9", "modified": "2024-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}]}],
    }).encode(), "advisory PYSEC-2024-9: affected[0].ranges[0].events[0]: must hold exactly one of"),
    "deep.json": (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
}


def write_export(path: Path, entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def names(problems: list[FileProblem]) -> list[str]:
    return [Path(p.name).name for p in problems]


def test_zip_export_with_good_and_bad_entries(tmp_path):
    entries = {**GOOD, **{name: data for name, (data, _) in BAD.items()},
               "npm-only.json": osv("GHSA-npmx-aaaa-bbbb", "left-pad", ecosystem="npm"),
               "README.txt": b"not an advisory", "nested/": b""}
    entries["bomb.json"] = b'{"id": "X", "pad": "' + b" " * (5 * 1024 * 1024) + b'"}'  # inflates past the cap
    export = write_export(tmp_path / "all.zip", entries)
    assert export.stat().st_size < 200_000

    run = OsvImport(export)
    advisories = {a.id: a for a in run}

    assert sorted(advisories) == ["GHSA-j8r2-6x86-q33q", "MAL-2024-4720", "MAL-2025-1", "PYSEC-2023-74"]
    assert affects(advisories["PYSEC-2023-74"], "requests", "2.30.0")
    assert is_malware(advisories["MAL-2025-1"]) and affects(advisories["MAL-2025-1"], "Evil_Pkg", "1.0")
    reasons = {p.name: p.reason for p in run.problems}
    assert set(reasons) == {*BAD, "bomb.json"}
    for name, (_, reason) in BAD.items():
        assert reasons[name].startswith(reason), (name, reasons[name])
    assert reasons["bomb.json"] == f"larger than {4 * 1024 * 1024} bytes"
    assert run.foreign == 1
    assert run.files == len(GOOD) + len(BAD) + 2  # the .txt and the directory entry are not looked at


def test_a_zip_entry_that_lies_about_its_size_is_skipped(tmp_path):
    real = b'{"id": "MAL-2025-2", "modified": "2024-01-01T00:00:00Z", "pad": "' + b"x" * 4000 + b'"}'
    export = write_export(tmp_path / "all.zip", {"liar.json": real, "MAL-2025-1.json": osv("MAL-2025-1")})
    raw = bytearray(export.read_bytes())
    central = raw.index(b"PK\x01\x02")  # the first central directory header: liar.json
    struct.pack_into("<I", raw, central + 24, 10)  # claim 10 bytes uncompressed
    export.write_bytes(bytes(raw))

    run = OsvImport(export)
    assert [a.id for a in run] == ["MAL-2025-1"]
    assert [p.name for p in run.problems] == ["liar.json"]
    assert run.problems[0].reason.startswith("cannot be read from the zip")


def test_the_zip_is_read_entry_by_entry(tmp_path):
    export = write_export(tmp_path / "all.zip", {f"MAL-2025-{i}.json": osv(f"MAL-2025-{i}") for i in range(1, 6)})
    run = OsvImport(export)
    stream = iter(run)
    assert next(stream).id == "MAL-2025-1"
    assert run.files == 1  # nothing beyond the first entry has been inflated yet
    assert [a.id for a in stream] == [f"MAL-2025-{i}" for i in range(2, 6)]


@pytest.mark.parametrize(
    ("limits", "count", "stopped"),
    [
        (ImportLimits(max_files=2), 2, "import stopped: more than 2 files"),
        (ImportLimits(max_total_bytes=len(osv("MAL-2025-1")) * 3), 3, "import stopped: more than"),
        (ImportLimits(), 5, None),
    ],
)
def test_count_and_total_size_caps(tmp_path, limits, count, stopped):
    export = write_export(tmp_path / "all.zip", {f"MAL-2025-{i}.json": osv(f"MAL-2025-{i}") for i in range(1, 6)})
    run = OsvImport(export, limits)
    assert len(list(run)) == count
    if stopped is None:
        assert run.problems == []
    else:
        assert len(run.problems) == 1 and run.problems[0].reason.startswith(stopped)


def test_directory_import(tmp_path):
    root = tmp_path / "osv"
    (root / "PyPI" / "requests").mkdir(parents=True)
    for name in REAL:
        shutil.copy(DATA / name, root / "PyPI" / "requests" / name)
    (root / "a-first.json").write_bytes(BAD["broken.json"][0])
    (root / "notes.txt").write_text("ignored")
    (root / "UPPER.JSON").write_bytes(osv("MAL-2025-7", "upper"))
    (root / "big.json").write_bytes(osv("MAL-2025-8") + b" " * 2500)
    (root / "go.json").write_bytes(osv("GO-2024-1", "example.org/x", ecosystem="Go"))
    os.mkfifo(root / "fifo.json")  # must be skipped, not block the import
    (root / "loop").symlink_to(root, target_is_directory=True)  # never followed

    run = OsvImport(root, ImportLimits(max_file_bytes=2000))  # PYSEC-2023-74.json is 2749 bytes
    ids = sorted(a.id for a in run)

    assert ids == ["GHSA-j8r2-6x86-q33q", "MAL-2024-4720", "MAL-2025-7"]
    assert {Path(p.name).name: p.reason for p in run.problems} == {
        "a-first.json": run.problems[0].reason,
        "big.json": "larger than 2000 bytes",
        "fifo.json": "not a regular file",
        "PYSEC-2023-74.json": "larger than 2000 bytes",
    }
    assert run.problems[0].reason.startswith("not JSON")
    assert run.foreign == 1
    assert run.files == 8

    again = list(run)  # a second pass starts afresh
    assert len(again) == len(ids) and len(run.problems) == 4


def test_single_json_file(tmp_path):
    path = tmp_path / "MAL-2025-3.json"
    path.write_bytes(osv("MAL-2025-3", "x"))
    assert [a.id for a in OsvImport(path)] == ["MAL-2025-3"]


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "is neither"),
        (lambda p: (p / "all.zip").write_bytes(b"PK\x03\x04 truncated") and p / "all.zip", "is neither"),
    ],
)
def test_unusable_sources_fail_before_reading(tmp_path, make, problem):
    with pytest.raises(OsvSourceError) as caught:
        list(OsvImport(make(tmp_path)))
    assert problem in str(caught.value)
