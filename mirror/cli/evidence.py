"""Commands of the rules from evidence: ``mirror advisories import``, ``mirror waive`` and the dry run
``mirror check --what-if``."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path

from mirror.cli.common import Commands, load
from mirror.config import Config, DatabaseConfig
from mirror.core.errors import DatabaseError, PolicyError
from mirror.core.models import ProjectDetail
from mirror.core.policy.model import WaivedRule
from mirror.core.tiers import Evidence
from mirror.services.review import ReviewService

#: Exit status of ``check --what-if`` when something would disappear (0: nothing would).
WHAT_IF_DISAPPEARS = 3

def cmd_advisories(args: argparse.Namespace) -> int:
    config = load(args)
    lines = asyncio.run(_import(config, Path(args.path)))
    print("\n".join(lines))
    return 0


async def _import(config: Config, path: Path) -> list[str]:
    from mirror.adapters.db import open_database
    from mirror.adapters.db.advisories import AdvisoryStore
    from mirror.adapters.db.audit import AuditLog
    from mirror.adapters.db.pages import PageStore
    from mirror.adapters.db.sightings import SightingStore
    from mirror.adapters.stores import open_file_store
    from mirror.services.advisory_import import AdvisoryImporter

    engine = await open_database(config.database_settings)
    store = open_file_store(config.storage, stale_after=max(2 * config.upstream.file_timeout, 3600.0))
    try:
        await store.prepare()
        importer = AdvisoryImporter(AdvisoryStore(engine), AuditLog(engine), SightingStore(engine), PageStore(engine),
                                    store)
        report = await importer.run(path)
        return report.lines()
    finally:
        await store.close()
        await engine.dispose()


def cmd_waive(args: argparse.Namespace) -> int:
    config = load(args)

    async def run() -> tuple[str, ...]:
        async with ReviewService(config) as service:
            outcome = await service.waive(args.target, args.rule, args.until, args.by, args.reason, args.id)
            return outcome.lines

    print("\n".join(asyncio.run(run())))
    return 0


def what_if(args: argparse.Namespace) -> int:
    """``mirror check --what-if``: 0 when nothing would disappear, 3 when something would, 1 on a bad policy."""
    config = load(args)
    proposed = Path(args.policies) if args.policies else Path("policies")
    try:
        lines, disappears = asyncio.run(_what_if(config, proposed, args.against))
    except PolicyError as exc:
        print(f"mirror check --what-if: {exc}")
        return 1
    print("\n".join(lines))
    return WHAT_IF_DISAPPEARS if disappears else 0


async def _what_if(config: Config, proposed_dir: Path, against: str | None) -> tuple[list[str], bool]:
    from mirror.adapters.db import open_database
    from mirror.adapters.db.inventory import stored_page_keys
    from mirror.adapters.db.pages import PageStore
    from mirror.adapters.policy_dir import load_policies
    from mirror.adapters.policy_git import load_policies_at
    from mirror.core.simple.parse import parse_project_page
    from mirror.services.stored_evidence import stored_evidence
    from mirror.services.whatif import what_if as compare

    proposed = await asyncio.to_thread(load_policies, proposed_dir)
    if against:
        served, described = await asyncio.to_thread(load_policies_at, proposed_dir, against)
    else:
        served = await asyncio.to_thread(load_policies, config.policies.path)
        described = f"the policies the server serves ({config.policies.path})"
    notes = []
    try:  # read only: a missing or outdated database is never created or changed here
        engine = await open_database(config.database_settings, create=False, upgrade=False)
    except DatabaseError as exc:
        notes.append(f"note: {exc}: compared from the policies alone (no stored page or evidence)")
        engine = await open_database(DatabaseConfig(url="sqlite+aiosqlite://"))
    try:
        pages = PageStore(engine)

        class Source:
            async def detail(self, name: str) -> ProjectDetail | None:
                record = await pages.load(name)
                if record is None:
                    return None
                return parse_project_page(record.body, record.content_type, project=name, page_url=record.page_url)

            async def evidence(self, name: str, detail: ProjectDetail | None) -> Evidence:
                return await stored_evidence(engine, name, detail)

        result = await compare(served, proposed, Source(), lambda: stored_page_keys(engine), datetime.now(UTC))
    finally:
        await engine.dispose()
    head = [f"what-if: {proposed_dir} compared with {described}, from the pages and evidence in "
            "the database (nothing fetched, nothing changed)"]
    return head + notes + result.lines(), result.disappears


def add_check_options(p: argparse.ArgumentParser) -> None:
    """The dry-run options of ``mirror check``."""
    p.add_argument("--what-if", action="store_true",
                   help="list per tier what would appear and disappear (projects, releases, files) with the policies "
                        "in --policies instead of those served; exit 3 when something would disappear")
    p.add_argument("--against", metavar="GIT_REF",
                   help="with --what-if: compare with the policy directory at this git ref instead")
    p.add_argument("--policies", metavar="DIR",
                   help="with --what-if: the proposed policy directory (default: ./policies)")


def register(commands: Commands) -> None:
    advisories = commands.group("advisories", "manage advisories (vulnerabilities, malware reports)")
    p = advisories.add("import", cmd_advisories, "import OSV advisories from a directory, a .json file or OSV's zip "
                                                 "export (PyPI/all.zip); MAL- reports block in every tier")
    p.add_argument("path", metavar="PATH")
    p = commands.add("waive", cmd_waive, "let one release through one rule until a date (a time-boxed exception)")
    p.add_argument("target", metavar="PROJECT==VERSION")
    p.add_argument("--rule", required=True, choices=[r.value for r in WaivedRule],
                   help="the rule waived (malware cannot be)")
    p.add_argument("--id", metavar="ADVISORY", help="with --rule vulnerability: waive only this advisory")
    p.add_argument("--until", required=True, metavar="DATE",
                   help="when the waiver expires: 2026-03-01 (00:00 UTC) or 2026-03-01T12:00:00Z")
    p.add_argument("--by", required=True, metavar="NAME", help="who decides (normally your login)")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded with the waiver)")
