#!/usr/bin/env python3
"""Refresh mirror/core/policy/popular.txt: the most downloaded project names, which the typo-squat gate of
`mirror promote` guards (and never flags itself).

Source: the "top-pypi-packages" dataset by Hugo van Kemenade, the 15,000 most downloaded projects of the
public index over the last 30 days, refreshed monthly and published on the author's GitHub Pages:

    https://hugovk.github.io/top-pypi-packages/top-pypi-packages.min.json

(``top-pypi-packages-30-days.min.json`` beside it is the same data under its older name.) The JSON holds
``last_update`` and ``rows``: ``[{"project": ..., "download_count": ...}, ...]``.

Usage:

    python tools/refresh_popular_names.py                       # from the URL above
    python tools/refresh_popular_names.py SNAPSHOT.json         # from a downloaded copy
    python tools/refresh_popular_names.py URL --top 5000 --output PATH

Writes the names normalized, most downloaded first, one per line, under a header naming the source, its
date and this command; atomically, so a failed refresh leaves the old list. Exits 2, saying why, when the
source cannot be read or does not look like the dataset (nothing is written then).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import urllib.request
from pathlib import Path

from packaging.utils import canonicalize_name

DATASET_URL = "https://hugovk.github.io/top-pypi-packages/top-pypi-packages.min.json"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "mirror" / "core" / "policy" / "popular.txt"
DEFAULT_TOP = 10_000
#: The dataset is under 1 MB; anything much larger is not it.
MAX_BYTES = 16 * 1024 * 1024
TIMEOUT_SECONDS = 60
#: Fewer rows than this means a truncated or wrong file, not a smaller dataset.
MIN_ROWS = 1_000
#: A valid project name (the core metadata specification's rule).
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


class SourceError(Exception):
    """The source could not be read, or is not the dataset."""


def read_source(source: str) -> bytes:
    """The bytes of ``source``, an http(s) URL or a file path, at most ``MAX_BYTES``."""
    if re.match(r"^https?://", source, re.IGNORECASE):
        try:
            with urllib.request.urlopen(source, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only
                data = response.read(MAX_BYTES + 1)
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot download {source}: {exc}") from exc
    else:
        try:
            with open(source, "rb") as file:
                data = file.read(MAX_BYTES + 1)
        except OSError as exc:
            raise SourceError(f"cannot read {source}: {exc.strerror or exc}") from exc
    if len(data) > MAX_BYTES:
        raise SourceError(f"{source} is larger than {MAX_BYTES} bytes: not the download-ranking dataset")
    return data


def ranked_names(data: bytes, source: str) -> tuple[list[str], str]:
    """The normalized project names of the dataset in ``data``, most downloaded first (duplicates and invalid
    names dropped), and the dataset's ``last_update``. Raises SourceError naming what is wrong."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{source} is not JSON: {exc}") from exc
    rows = document.get("rows") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise SourceError(f"{source} has no 'rows' list: not the download-ranking dataset")
    counted: list[tuple[int, str]] = []
    for number, row in enumerate(rows):
        if not (isinstance(row, dict) and isinstance(row.get("project"), str)
                and isinstance(row.get("download_count"), int) and not isinstance(row["download_count"], bool)):
            raise SourceError(f"{source}: row {number} needs a 'project' string and a 'download_count' integer")
        if _NAME.match(row["project"]):
            counted.append((row["download_count"], canonicalize_name(row["project"])))
    if len(counted) < MIN_ROWS:
        raise SourceError(f"{source} lists {len(counted)} valid projects; expected at least {MIN_ROWS}")
    # Most downloaded first, whatever order the file has; ties by name, so a refresh is reproducible.
    counted.sort(key=lambda pair: (-pair[0], pair[1]))
    names = list(dict.fromkeys(name for _, name in counted))
    updated = document.get("last_update")
    return names, updated if isinstance(updated, str) and updated.strip() else "an unknown date"


def render(names: list[str], source: str, updated: str) -> str:
    """The text of the list file: a header naming source, date and refresh command, then one name a line."""
    header = [
        f"# The {len(names):,} most downloaded projects of the public index over 30 days, most downloaded",
        "# first, normalized, one per line. `mirror promote` refuses look-alikes of them (typo-squats; see",
        "# mirror/core/policy/lookalike.py) and never flags a listed name itself.",
        "# Source: the \"top-pypi-packages\" dataset (Hugo van Kemenade),",
        f"#   {DATASET_URL}",
        f"#   snapshot of {updated}, read from {source}.",
        "# Refresh: python tools/refresh_popular_names.py [URL or FILE] [--top N] [--output PATH]",
        "",
    ]
    return "\n".join(header + names) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the permissions of the file replaced; a new one is readable by all, like any source file.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", nargs="?", default=DATASET_URL,
                        help="URL or path of the dataset's JSON (default: %(default)s)")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP,
                        help="how many of the most downloaded names to keep (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error("--top must be at least 1")
    try:
        names, updated = ranked_names(read_source(args.source), args.source)
    except SourceError as exc:
        print(f"refresh_popular_names: {exc}; nothing written", file=sys.stderr)
        return 2
    names = names[:args.top]
    # A file is named without its directory: the list records which snapshot, not whose disk.
    shown = args.source if re.match(r"^https?://", args.source, re.IGNORECASE) else Path(args.source).name
    write_atomically(args.output, render(names, shown, updated))
    print(f"wrote {len(names)} names (snapshot of {updated}) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
