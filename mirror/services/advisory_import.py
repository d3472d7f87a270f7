"""``mirror advisories import PATH``: OSV advisories from a directory, a ``.json`` file or OSV's zip export into
the database, deduplicated by the latest ``modified``.

Running servers notice the change within seconds (the change log, :mod:`mirror.services.advisories`) and decide
the projects named again. A malware report (``MAL-``) that is new or changed has the cached files of the
releases it names withdrawn from the store, and an audit record per project names the report and the files;
a malware report that is withdrawn gets an audit record too (its releases come back).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mirror.adapters.db.advisories import AdvisoryStore, Outcome, Stored
from mirror.adapters.db.audit import AuditLog, AuditRecord
from mirror.adapters.osv_import import FileProblem, ImportLimits, OsvImport
from mirror.core.advisories import Advisory, affects_every_version, is_malware
from mirror.services.filestore import FileStore
from mirror.services.malware import KnownFiles, StoredPages, Withdrawn, withdraw_malware

#: Who the audit log names for what an import changed.
ACTOR = "mirror advisories import"


@dataclass
class ImportReport:
    """What one import did: files read, records per outcome, malware reports and what they withdrew."""

    path: str
    files: int = 0
    foreign: int = 0
    problems: list[FileProblem] = field(default_factory=list)
    outcomes: collections.Counter[Outcome] = field(default_factory=collections.Counter)
    malware: list[tuple[Advisory, list[Withdrawn]]] = field(default_factory=list)
    restored: list[Advisory] = field(default_factory=list)
    audit_ids: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{self.outcomes[o]} {o.value}" for o in Outcome)
        out = [f"imported {sum(self.outcomes.values())} PyPI advisories from {self.path} ({self.files} file(s) read; "
               f"{counts}; {self.foreign} naming no PyPI project)"]
        for advisory, withdrawn in self.malware:
            files = sum(len(w.files) for w in withdrawn)
            names = ", ".join(dict.fromkeys(a.name for a in advisory.affected))
            out.append(f"malware {advisory.id}: {names} blocked in every tier; {files} cached file(s) withdrawn")
        for advisory in self.restored:
            out.append(f"malware report {advisory.id} is withdrawn: its releases are no longer blocked")
        out += [f"skipped {p.name}: {p.reason}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            out.append(f"... and {len(self.problems) - 50} more skipped file(s)")
        return out


class AdvisoryImporter:
    """Imports into ``advisories``; withdraws malware from ``store`` (None: nothing to withdraw from)."""

    def __init__(self, advisories: AdvisoryStore, audit: AuditLog, sightings: KnownFiles, pages: StoredPages,
                 store: FileStore | None, clock: Callable[[], float] = time.time) -> None:
        self._advisories = advisories
        self._audit = audit
        self._sightings = sightings
        self._pages = pages
        self._store = store
        self._clock = clock

    async def run(self, path: Path, limits: ImportLimits | None = None) -> ImportReport:
        """Import ``path``; raises OsvSourceError when it cannot be read at all, StorageError when the store
        fails while withdrawing (the advisories are imported by then: running the import again finishes it)."""
        source = OsvImport(path, limits)
        found = await asyncio.to_thread(list, source)  # reading and parsing files blocks: in a thread
        report = ImportReport(str(path), source.files, source.foreign, list(source.problems))
        results = await self._advisories.import_osv(found)
        report.outcomes.update(r.outcome for r in results)
        records: list[AuditRecord] = []
        for result in results:
            if result.outcome not in (Outcome.NEW, Outcome.UPDATED):
                continue
            advisory = result.advisory
            if is_malware(advisory) and advisory.withdrawn is None:
                withdrawn = (await withdraw_malware(advisory, self._sightings, self._pages, self._store)
                             if self._store is not None else [])
                report.malware.append((advisory, withdrawn))
                records += self._malware_records(advisory, withdrawn)
            elif _was_malware(result):
                report.restored.append(advisory)
                records += [self._record("malware-withdrawn", name, advisory,
                                         f"malware report {advisory.id} withdrawn upstream of this mirror "
                                         f"({advisory.withdrawn:%Y-%m-%d}): {name} is no longer blocked by it")
                            for name in dict.fromkeys(a.name for a in advisory.affected)]
        if records:
            report.audit_ids = await self._audit.append_all(records)
        return report

    def _malware_records(self, advisory: Advisory, withdrawn: list[Withdrawn]) -> list[AuditRecord]:
        files = {w.project: w.files for w in withdrawn}
        records = []
        for name in dict.fromkeys(a.name for a in advisory.affected):
            scope = "every release" if affects_every_version(advisory, name) else "the releases it names"
            removed = files.get(name, ())
            shown = ", ".join(removed[:20]) + (f" and {len(removed) - 20} more" if len(removed) > 20 else "")
            summary = f": {advisory.summary}" if advisory.summary else ""
            records.append(self._record(
                "malware", name, advisory,
                f"malware report {advisory.id}{summary}; {scope} blocked in every tier; "
                + (f"{len(removed)} cached file(s) withdrawn: {shown}" if removed else "no cached file to withdraw")))
        return records

    def _record(self, action: str, name: str, advisory: Advisory, note: str) -> AuditRecord:
        return AuditRecord(at=self._clock(), actor=ACTOR, action=action, target=name, before=None,
                           after=f"advisory {advisory.id} (modified {advisory.modified:%Y-%m-%dT%H:%M:%SZ})"
                           if advisory.modified else f"advisory {advisory.id}", note=note)


def _was_malware(result: Stored) -> bool:
    """A malware report that was in force and is now withdrawn."""
    previous = result.previous
    return (previous is not None and is_malware(previous) and previous.withdrawn is None
            and result.advisory.withdrawn is not None)
