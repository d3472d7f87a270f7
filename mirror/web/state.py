"""What the application holds: one :class:`Services` object under a typed ``web.AppKey``."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from aiohttp import web

from mirror.config import Config
from mirror.core.auth import RateLimiter
from mirror.services.admin import AdminActions
from mirror.services.advisories import AdvisoryService
from mirror.services.closure import ClosureService
from mirror.services.demand import DemandRecorder
from mirror.services.downloads import Downloader
from mirror.services.evidence import EvidenceService
from mirror.services.filestore import FileStore
from mirror.services.holes import HoleCounter
from mirror.services.json_documents import JsonDocuments
from mirror.services.jsonapi import JsonApiService
from mirror.services.metadata import MetadataExtractor
from mirror.services.pages import PageService
from mirror.services.policies import PolicyStore
from mirror.services.prefetch import Prefetcher
from mirror.services.prepared import PreparedPages
from mirror.services.prepared_lists import ProjectLists
from mirror.services.provenance import ProvenanceCache, ProvenanceChecker
from mirror.services.telemetry import NO_TELEMETRY, Telemetry
from mirror.services.tokens import TokenService
from mirror.services.ui import UiService


@dataclass(frozen=True, slots=True)
class Services:
    """The long-lived objects a request handler may use; built and closed by ``create_app``."""

    config: Config
    storage: FileStore
    prepared: PreparedPages
    #: the tiers' project lists, prepared
    lists: ProjectLists
    downloader: Downloader
    extractor: MetadataExtractor
    pages: PageService
    policies: PolicyStore
    demand: DemandRecorder
    provenance: ProvenanceCache
    provenance_checker: ProvenanceChecker
    evidence: EvidenceService
    #: dependency sets through a tier, as served: the release and metadata per project, closures and holes
    closure: ClosureService
    jsonapi: JsonApiService
    #: upstream's JSON API documents (the one cache of them: the JSON API, the UI and the advisories read it)
    json_documents: JsonDocuments
    tokens: TokenService
    admin: AdminActions
    ui: UiService
    #: the UI's templates (autoescaped), and the rate limits of logins and of the admin API
    ui_templates: jinja2.Environment
    login_limit: RateLimiter
    api_limit: RateLimiter
    prefetcher: Prefetcher | None = None
    telemetry: Telemetry = NO_TELEMETRY
    advisories: AdvisoryService | None = None
    #: the curated tiers' holes, counted in the background for /healthz
    holes: HoleCounter | None = None


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
#: The open file store (set first, closed last).
FILE_STORE: web.AppKey[FileStore] = web.AppKey("file_store")
