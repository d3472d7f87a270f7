"""What the application holds: one :class:`Services` object under a typed ``web.AppKey``."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..config import Config
from ..demand import DemandRecorder
from ..downloads import Downloader
from ..integrity import ProvenanceCache, ProvenanceChecker
from ..pages import PageCache
from ..policy.store import PolicyStore
from ..prepared import PreparedPages
from ..storage import Storage
from ..wheelmeta import MetadataExtractor


@dataclass(frozen=True, slots=True)
class Services:
    """The long-lived objects a request handler may use; built and closed by ``create_app``."""

    config: Config
    storage: Storage
    prepared: PreparedPages
    downloader: Downloader
    extractor: MetadataExtractor
    pages: PageCache
    policies: PolicyStore
    demand: DemandRecorder
    provenance: ProvenanceCache
    provenance_checker: ProvenanceChecker


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
