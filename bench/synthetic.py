"""Synthetic index pages for the cold-path phases, rendered once as templates (pure, no I/O).

A project page of N files (wheels for 6 Pythons × 24 platforms plus an sdist per version, like the
biggest real pages) is rendered once, in HTML and PEP 691 JSON, with a placeholder where the project
name goes; :meth:`Template.render` then makes the page of any name with one ``bytes.join``, so the
fake index serves distinct never-seen pages of 15,000 files in a few milliseconds each. File hashes
depend on the file's position only, so the pins of a vetted release are known without the page.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PLACEHOLDER = "@@NAME@@"
PYTHONS = ("cp38", "cp39", "cp310", "cp311", "cp312", "cp313")
PLATFORMS = (
    "manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "manylinux_2_17_armv7l.manylinux2014_armv7l", "manylinux_2_17_ppc64le.manylinux2014_ppc64le",
    "manylinux_2_17_s390x.manylinux2014_s390x", "manylinux_2_5_i686.manylinux1_i686",
    "musllinux_1_1_x86_64", "musllinux_1_1_aarch64", "musllinux_1_1_armv7l", "musllinux_1_2_x86_64",
    "musllinux_1_2_aarch64", "musllinux_1_2_i686", "macosx_10_12_x86_64", "macosx_11_0_arm64",
    "macosx_10_9_universal2", "win_amd64", "win32", "win_arm64", "manylinux_2_28_x86_64",
    "manylinux_2_28_aarch64", "manylinux_2_31_riscv64", "android_21_arm64_v8a", "ios_13_0_arm64_iphoneos",
    "emscripten_3_1_58_wasm32",
)
FILES_PER_VERSION = len(PYTHONS) * len(PLATFORMS) + 1
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class SynthFile:
    """One file of a synthetic page; ``filename`` holds :data:`PLACEHOLDER` for the project name."""

    filename: str
    version: str
    sha256: str
    size: int
    upload_time: datetime

    def named(self, name: str) -> str:
        return self.filename.replace(PLACEHOLDER, name)


def synthetic_files(count: int) -> list[SynthFile]:
    """``count`` files, newest version last: per version the sdist, then the wheels."""
    files: list[SynthFile] = []
    version_no = 0
    while len(files) < count:
        version = f"1.{version_no}.0"
        uploaded = _EPOCH + timedelta(days=version_no)
        names = [f"{PLACEHOLDER}-{version}.tar.gz"] + [
            f"{PLACEHOLDER}-{version}-{py}-{py}-{plat}.whl" for py in PYTHONS for plat in PLATFORMS]
        for filename in names[: count - len(files)]:
            i = len(files)
            files.append(SynthFile(filename, version, hashlib.sha256(str(i).encode()).hexdigest(),
                                   100_000 + i, uploaded))
        version_no += 1
    return files


def vetted_pins(name: str, count: int, versions: int) -> dict[str, dict[str, str]]:
    """{version: {filename: sha256}} of the newest ``versions`` versions of the page of ``name``."""
    from packaging.utils import canonicalize_version

    by_version: dict[str, dict[str, str]] = {}
    for f in synthetic_files(count):
        by_version.setdefault(canonicalize_version(f.version), {})[f.named(name)] = f.sha256
    return dict(list(by_version.items())[-versions:])


class Template:
    """A page rendered once with :data:`PLACEHOLDER` for the name; ``render(name)`` fills it in."""

    def __init__(self, body: bytes) -> None:
        self.parts = body.split(PLACEHOLDER.encode())
        self.size = len(body)

    def render(self, name: str) -> bytes:
        return name.encode().join(self.parts)


def project_templates(count: int, files_base: str, serial: int = 1, api_version: str = "1.1",
                      requires_python: str = ">=3.8") -> tuple[Template, Template]:
    """(HTML, JSON) templates of a page of ``count`` files; file URLs are ``{files_base}{sha256}/{filename}``
    (absolute, like the public index's), every file with a size, an upload time and Requires-Python."""
    files = synthetic_files(count)
    out: list[dict[str, object]] = []
    anchors = [f"<h1>Links for {PLACEHOLDER}</h1>"]
    rp = html.escape(requires_python)
    for f in files:
        url = f"{files_base}{f.sha256}/{f.filename}"
        when = f.upload_time.strftime(_TIME_FORMAT)
        out.append({"filename": f.filename, "url": url, "hashes": {"sha256": f.sha256},
                    "requires-python": requires_python, "size": f.size, "upload-time": when, "yanked": False,
                    "core-metadata": False, "data-dist-info-metadata": False, "provenance": None})
        anchors.append(f'<a href="{html.escape(url)}#sha256={f.sha256}" data-requires-python="{rp}">'
                       f"{html.escape(f.filename)}</a><br />")
    versions = list(dict.fromkeys(f.version for f in files))
    data = {"meta": {"api-version": api_version, "_last-serial": serial}, "name": PLACEHOLDER,
            "versions": versions, "files": out}
    body_json = json.dumps(data, separators=(",", ":")).encode()
    return Template(_html_page(f"Links for {PLACEHOLDER}", anchors, api_version, serial)), Template(body_json)


def project_list(count: int, serial: int = 1, api_version: str = "1.1") -> tuple[bytes, bytes]:
    """(HTML, JSON) of a project list of ``count`` names ``synthetic-<i>``, each with its last serial."""
    names = [f"synthetic-{i}" for i in range(count)]
    anchors = [f'<a href="/simple/{n}/">{n}</a>' for n in names]
    body_html = _html_page("Simple index", anchors, api_version, serial)
    data = {"meta": {"api-version": api_version, "_last-serial": serial},
            "projects": [{"name": n, "_last-serial": i + 1} for i, n in enumerate(names)]}
    return body_html, json.dumps(data, separators=(",", ":")).encode()


def _html_page(title: str, body: list[str], api_version: str, serial: int) -> bytes:
    lines = ["<!DOCTYPE html>", "<html>", "  <head>",
             f'    <meta name="pypi:repository-version" content="{api_version}">', f"    <title>{title}</title>",
             "  </head>", "  <body>", *(f"    {x}" for x in body), "  </body>", "</html>", f"<!--SERIAL {serial}-->"]
    return ("\n".join(lines) + "\n").encode()
