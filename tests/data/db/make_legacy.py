"""Write ``legacy-main.sqlite``: a database as the mirror made it before it had migrations, rows in every table.

Run it with the code of that mirror on the path (commit cc0f2ca of main), e.g.::

    git worktree add /tmp/legacy cc0f2ca
    PYTHONPATH=/tmp/legacy python tests/data/db/make_legacy.py tests/data/db/legacy-main.sqlite

It uses that code's own API (``open_database`` ran ``create_all``; no version table), so the file is exactly what
an existing installation has. An ``extracted_metadata`` table with a row is added as a database from before
``verified_wheel_metadata`` replaced it still has one (today's code would have added the new table beside it).
``tests/db/test_migrations.py`` knows the rows written here (``LEGACY_ROWS``).
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import sys
from pathlib import Path

from mirror.adapters.db import PageRecord, PageStore, open_database  # the legacy code's API
from mirror.adapters.db.audit import AuditLog, AuditRecord, DemandLog

PROVENANCE_URL = "http://up.example/integrity/demo-app/1.0/demo_app-1.0-py3-none-any.whl/provenance"
PROVENANCE = b'{"version": 1, "attestation_bundles": []}'


async def main(path: Path) -> None:
    engine = await open_database(f"sqlite+aiosqlite:///{path}")
    store = PageStore(engine)
    await store.save(PageRecord(key="demo-app", body=b'{"meta": {"api-version": "1.1"}, "files": []}',
                                content_type="application/vnd.pypi.simple.v1+json",
                                page_url="http://up.example/simple/demo-app/", etag='"abc"', serial=42,
                                revision="r1", fetched_at=1700000000.0))
    await store.save(PageRecord(key="/", body=b"<html>index</html>", content_type="text/html",
                                page_url="http://up.example/simple/", etag=None, serial=None, revision="r2",
                                fetched_at=1700000001.0))
    # A provenance document, as that code's provenance cache kept it in `pages` (revision 0003 moves it).
    await store.save(PageRecord(key=f"provenance:{hashlib.sha256(PROVENANCE_URL.encode()).hexdigest()}",
                                body=PROVENANCE, content_type="application/vnd.pypi.integrity.v1+json",
                                page_url=PROVENANCE_URL, etag='"p1"', serial=None,
                                revision=hashlib.sha256(PROVENANCE).hexdigest(), fetched_at=1700000002.0))
    await store.record_extracted_metadata("a" * 64, "b" * 64)
    log = AuditLog(engine)
    await log.append(AuditRecord(at=1700000100.0, actor="alice", action="promote", target="demo-app",
                                 before=None, after='[review]\nby = "alice"\n', note="core dependency"))
    await log.append(AuditRecord(at=1700000200.0, actor="bob", action="vet", target="demo-app==1.0",
                                 before=None, after='[vetted."1.0"]\n', note=""))
    await DemandLog(engine).add({("reviewed", "flask", ""): (3, 1700000300.0),
                                 ("vetted", "demo-app", "2.0"): (1, 1700000400.0)})
    await engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE extracted_metadata (file_sha256 VARCHAR(64) NOT NULL, "
               "metadata_sha256 VARCHAR(64) NOT NULL, PRIMARY KEY (file_sha256))")
    db.execute("INSERT INTO extracted_metadata VALUES (?, ?)", ("c" * 64, "d" * 64))
    db.execute("PRAGMA journal_mode=DELETE")  # one self-contained file (the WAL checkpointed into it)
    db.close()


if __name__ == "__main__":
    target = Path(sys.argv[1]).resolve()
    target.unlink(missing_ok=True)
    asyncio.run(main(target))
