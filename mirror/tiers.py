"""Pure views of a project page: what a tier may serve of it.

Before any tier rule, a page is reduced to what the mirror can *serve*: files whose bytes it can verify
(upstream advertised a supported hash) and ``.metadata`` it can deliver with a hash (upstream's own,
or one the mirror extracted from the verified wheel). Installers abort when advertised metadata is
missing, so nothing else is advertised.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from .models import DistFile, ProjectDetail


def servable_file(f: DistFile, extracted: Mapping[str, str]) -> DistFile | None:
    """``f`` as the mirror can serve it, or None when its bytes cannot be verified.

    ``extracted`` maps a file's sha256 to the sha256 of metadata the mirror extracted from it.
    """
    if f.verifiable_hash() is None:
        return None
    if f.metadata_hash() is not None:
        return f
    local = extracted.get(f.sha256 or "")
    if local is not None:
        return replace(f, core_metadata={"sha256": local})
    return f if f.core_metadata is None else replace(f, core_metadata=None)


def servable_view(detail: ProjectDetail, extracted: Mapping[str, str]) -> ProjectDetail:
    """The page with only servable files (see :func:`servable_file`)."""
    files = tuple(s for f in detail.files if (s := servable_file(f, extracted)) is not None)
    return replace(detail, files=files)
