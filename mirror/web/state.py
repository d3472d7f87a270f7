"""What the application holds: one :class:`Services` object under a typed ``web.AppKey``."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from mirror.config import Config
from mirror.services.demand import DemandRecorder
from mirror.services.downloads import Downloader
from mirror.services.evidence import EvidenceService
from mirror.services.filestore import FileStore
from mirror.services.metadata import MetadataExtractor
from mirror.services.pages import PageService
from mirror.services.policies import PolicyStore
from mirror.services.prefetch import Prefetcher
from mirror.services.prepared import PreparedPages
from mirror.services.provenance import ProvenanceCache, ProvenanceChecker
from mirror.services.telemetry import NO_TELEMETRY, Telemetry


@dataclass(frozen=True, slots=True)
class Services:
    """The long-lived objects a request handler may use; built and closed by ``create_app``."""

    config: Config
    storage: FileStore
    prepared: PreparedPages
    downloader: Downloader
    extractor: MetadataExtractor
    pages: PageService
    policies: PolicyStore
    demand: DemandRecorder
    provenance: ProvenanceCache
    provenance_checker: ProvenanceChecker
    evidence: EvidenceService
    prefetcher: Prefetcher | None = None
    telemetry: Telemetry = NO_TELEMETRY


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
#: The open file store (set first, closed last).
FILE_STORE: web.AppKey[FileStore] = web.AppKey("file_store")
