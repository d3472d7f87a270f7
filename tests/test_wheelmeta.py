"""Reading METADATA out of wheels (pure apart from reading the file)."""

import zipfile

from mirror.services.metadata import read_wheel_metadata

from .support.dists import build_wheel
from .support.dists import read_wheel_metadata as reference


def test_reads_the_dist_info_metadata_exactly(tmp_path):
    wheel = build_wheel(tmp_path, "Some.Project", "1.2", requires_dist=["dep>=1"])
    assert read_wheel_metadata(wheel) == reference(wheel)


def test_not_a_zip_or_ambiguous_gives_none(tmp_path):
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"not a zip")
    assert read_wheel_metadata(junk) is None
    two = tmp_path / "two-1.0-py3-none-any.whl"
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("a-1.0.dist-info/METADATA", "Name: a\n")
        z.writestr("b-1.0.dist-info/METADATA", "Name: b\n")
    assert read_wheel_metadata(two) is None
