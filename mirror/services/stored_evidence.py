"""The evidence the database holds about a project, read without fetching anything: for ``mirror explain``,
``mirror check`` and the dry run (``check --what-if``), which decide like the server without being it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db.advisories import AdvisoryStore
from mirror.adapters.db.licenses import LicenseRecords
from mirror.adapters.db.pages import PageStore
from mirror.adapters.db.sightings import SightingStore
from mirror.core.advisories import Advisory
from mirror.core.models import ProjectDetail
from mirror.core.policy.evaluate import ProvenanceStatuses, Sighting
from mirror.core.policy.evidence import Advisories
from mirror.core.tiers import Evidence, sightings_of
from mirror.services.licenses import stored_licenses


async def stored_evidence(engine: AsyncEngine, project: str, detail: ProjectDetail | None, *,
                          more: Iterable[Advisory] = (), provenance: ProvenanceStatuses | None = None,
                          sightings: bool = True) -> Evidence:
    """What the database knows about ``project``: its advisories (and ``more``, e.g. from a JSON API document
    just read), the licences read from its metadata, the metadata extracted and (``sightings``) when each file
    was first seen. Raises the database's errors."""
    advisories = Advisories([*await AdvisoryStore(engine).for_project(project), *more])
    if detail is None:
        return Evidence(advisories=advisories, provenance=provenance or {})
    shas = [f.sha256 for f in detail.files if f.sha256]
    extracted = await PageStore(engine).extracted_metadata_for(shas) if shas else {}
    licenses = await stored_licenses(LicenseRecords(engine), detail, extracted)
    seen: dict[str, Sighting] = {}
    if sightings:
        rows = await SightingStore(engine).load(project)
        seen = sightings_of((r.filename, r.sha256, datetime.fromtimestamp(r.first_seen, UTC), r.initial)
                            for r in rows)
    return Evidence(extracted=extracted, provenance=provenance or {}, sightings=seen, advisories=advisories,
                    licenses=licenses)
