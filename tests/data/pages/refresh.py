"""Rebuild this corpus of real Simple API pages from the reachable upstream (a development tool).

    python tests/data/pages/refresh.py

Fetches the project pages listed in PAGES (JSON, HTML or both) and a 50,000-name sample of the
project list from the upstream pypi-simple points at, rewrites every host name found in them (and
its registrable domain) to neutral ones (``index.example`` for the index, ``files.example``... for
file hosts), gzips them here and writes MANIFEST.json. Tests never run this: they read the result.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
# Small and medium pages in both formats; the big ones (thousands of files) in one format each.
BOTH = ["setuptools", "requests", "django", "flask-sqlalchemy", "docopt", "sgmllib3k", "six", "certifi",
        "typing-extensions", "packaging", "urllib3", "idna", "pyyaml", "pip", "wheel", "jinja2", "markupsafe",
        "click", "attrs", "pytest", "torch"]
JSON_ONLY = ["pydantic-core", "boto3", "cryptography", "ruamel-yaml"]
HTML_ONLY = ["numpy", "botocore", "zope-interface", "pandas"]
LIST_SAMPLE = 50_000
_HOST = re.compile(rb"https?://([A-Za-z0-9.-]+)")


def _fetch(url: str, accept: str) -> tuple[bytes, str]:
    request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "mirror-corpus"})
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - a fixed https URL
        return response.read(), response.headers.get("Content-Type", "")


def _neutral(body: bytes, index_host: str) -> bytes:
    """``body`` with every URL host (and its registrable domain) replaced by a neutral name."""
    names: dict[bytes, bytes] = {index_host.encode(): b"index.example"}
    for host in dict.fromkeys(_HOST.findall(body)):
        if host not in names:
            names[host] = b"files.example" if len(names) == 1 else b"files%d.example" % len(names)
    for host, neutral in list(names.items()):
        domain = b".".join(host.split(b".")[-2:])
        if domain.count(b".") == 1 and domain not in names:
            names[domain] = neutral
    for host in sorted(names, key=len, reverse=True):  # whole host names before their domains
        body = body.replace(host, names[host])
    leftover = [h for h in names if h in body and names[h] != h]
    if leftover:
        raise SystemExit(f"host names left after rewriting: {leftover}")
    return body


def _save(name: str, body: bytes) -> None:
    (HERE / name).write_bytes(gzip.compress(body, compresslevel=9, mtime=0))


def main() -> int:
    from pypi_simple import PYPI_SIMPLE_ENDPOINT

    index_host = urlsplit(PYPI_SIMPLE_ENDPOINT).hostname or ""
    manifest: dict[str, dict[str, str]] = {}
    wanted = [(p, "json") for p in BOTH + JSON_ONLY] + [(p, "html") for p in BOTH + HTML_ONLY]
    for project, fmt in sorted(wanted):
        body, ctype = _fetch(f"{PYPI_SIMPLE_ENDPOINT}{project}/", JSON_TYPE if fmt == "json" else "text/html")
        name = f"{project}.{fmt}.gz"
        _save(name, _neutral(body, index_host))
        manifest[name] = {"project": project, "content_type": ctype.split(";")[0].strip(),
                          "page_url": f"https://index.example/simple/{project}/"}
        print(f"{name}: {len(body)} bytes", file=sys.stderr)
    body, ctype = _fetch(PYPI_SIMPLE_ENDPOINT, "text/html")
    lines = body.split(b"\n")
    anchors = [i for i, line in enumerate(lines) if line.lstrip().startswith(b"<a ")]
    step = max(1, len(anchors) // LIST_SAMPLE)
    drop = set(anchors) - set(anchors[::step][:LIST_SAMPLE])
    sample = b"\n".join(line for i, line in enumerate(lines) if i not in drop)
    _save("project-list-sample.html.gz", _neutral(sample, index_host))
    manifest["project-list-sample.html.gz"] = {
        "project": "", "content_type": ctype.split(";")[0].strip(),
        "page_url": "https://index.example/simple/",
        "note": f"every {step}th of the {len(anchors)} names of the real list, in its order"}
    (HERE / "MANIFEST.json").write_text(json.dumps(
        {"fetched": datetime.now(UTC).strftime("%Y-%m-%d"), "pages": manifest}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
