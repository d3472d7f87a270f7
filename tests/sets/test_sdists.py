"""Reading an sdist's PKG-INFO and pyproject.toml: top-level members only, size-capped, never extracted."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from mirror.services.review.listing import latest, summarized
from mirror.services.sdists import MAX_MEMBER_BYTES, read_sdist

from ..support.dists import build_sdist


def test_reads_both_files_of_a_built_sdist(tmp_path):
    path = build_sdist(tmp_path, "demo", "1.0", requires_dist=["a>=1"], build_requires=["tinybuild"],
                       build_backend="tinybuild")
    found = read_sdist(path, path.name)
    assert found.pkg_info is not None and b"Requires-Dist: a>=1" in found.pkg_info
    assert found.pyproject is not None and b'build-backend = "tinybuild"' in found.pyproject
    assert read_sdist(io.BytesIO(path.read_bytes()), path.name) == found


def zipped(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def test_only_top_level_members_are_read_and_big_ones_are_skipped():
    source = zipped({"demo-1.0/sub/PKG-INFO": b"Name: wrong\n", "../PKG-INFO": b"Name: evil\n",
                     "demo-1.0/pyproject.toml": b"x" * (MAX_MEMBER_BYTES + 1), "demo-1.0/PKG-INFO": b"Name: demo\n"})
    found = read_sdist(source, "demo-1.0.zip")
    assert found.pkg_info == b"Name: demo\n" and found.pyproject is None


def test_a_tar_with_a_link_or_garbage_is_no_sdist(tmp_path: Path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        link = tarfile.TarInfo("demo-1.0/PKG-INFO")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    buffer.seek(0)
    assert read_sdist(buffer, "demo-1.0.tar.gz").pkg_info is None  # a link is not followed
    with pytest.raises(ValueError, match="is not a readable source archive"):
        read_sdist(io.BytesIO(b"\x1f\x8b garbage"), "demo-1.0.tar.gz")


def test_lists_are_summarized():
    names = [f"n{i}" for i in range(20)]
    assert summarized(names[:3]) == "n0, n1, n2"
    assert summarized(names, 3) == "n0, n1, n2, … and 17 more"
    assert latest(names, 2) == "18 earlier, n18, n19" and latest(names[:2]) == "n0, n1"
