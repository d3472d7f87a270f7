"""The database as the ``mirror`` command shows it: ``mirror db``, ``serve`` on an older schema, read-only commands
that create nothing, the missing PostgreSQL extra, and passwords that are never printed. Real subprocesses, real
SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest

from mirror.adapters.db.schema import head_revision
from mirror.config import Config, DatabaseConfig, load_config
from mirror.core.errors import ConfigError, DatabaseError
from mirror.web.server import banner

from .db.test_migrations import LEGACY_FILE
from .support.databases import DATABASES
from .support.fake_upstream import FakeUpstream
from .test_cli import Run, fails, mirror, ok

#: Runs the command with asyncpg hidden, as on an installation without the postgres extra.
WITHOUT_ASYNCPG = ("import sys; sys.modules['asyncpg'] = None; from mirror.cli import main; "
                   "sys.exit(main(sys.argv[1:]))")
EXTRA = "pip install 'mirror[postgres]'"


def write_config(tmp_path: Path, upstream: FakeUpstream, database: str = "", extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[upstream]\nurl = "{upstream.url}"\nconnect_timeout = 2\nread_timeout = 5\npage_timeout = 10\n'
                    f'\n[database]\nurl = "{database}"\nconnect_timeout = 5\n{extra}')
    return path


@pytest.fixture(params=DATABASES)
def any_config(request: pytest.FixtureRequest, tmp_path: Path, upstream: FakeUpstream) -> Path:
    """A config on each database: the default SQLite file (cache/mirror.db), or a fresh PostgreSQL database."""
    url = "" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    return write_config(tmp_path, upstream, url)


def wrong_password(url: str) -> str:
    return re.sub(r":[^:@/]+@", ":Wrong-Secret-42@", url, count=1)


async def without_asyncpg(config_file: Path, *args: str) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WITHOUT_ASYNCPG, *args, "--config", str(config_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=config_file.parent)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


class Served:
    """``mirror serve --port 0`` in a subprocess: its banner, then whatever it prints until stopped."""

    def __init__(self, config_file: Path) -> None:
        self.config_file = config_file
        self.proc: asyncio.subprocess.Process | None = None
        self.banner = ""
        self.base = ""

    async def __aenter__(self) -> Served:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mirror", "serve", "--port", "0", "--config", str(self.config_file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=self.config_file.parent)
        assert self.proc.stdout is not None
        lines = []
        while sum("uv pip install" in line for line in lines) < 3:  # the banner ends with the 3 tiers
            line = (await asyncio.wait_for(self.proc.stdout.readline(), timeout=60)).decode()
            if not line:
                break
            lines.append(line)
        self.banner = "".join(lines)
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", self.banner)
        assert found, self.banner + (await self.proc.stderr.read()).decode()  # type: ignore[union-attr]
        self.base = found.group(1)
        return self

    async def stop(self) -> tuple[str, str]:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(self.proc.communicate(), timeout=60)
        return self.banner + out.decode(), err.decode()

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


# -- mirror db ------------------------------------------------------------------------------------------

async def test_db_current_upgrade_history(any_config):
    run = await mirror(any_config, "db", "current")
    assert run.code == 1 and "no mirror tables yet (`mirror db upgrade` or `mirror serve` creates them)" in run.out
    out = await ok(any_config, "db", "upgrade")
    head = head_revision()
    assert re.fullmatch(rf"database \S+: created at schema revision {head}\n", out), out
    assert (await ok(any_config, "db", "current")).endswith(f": schema revision {head} (current)\n")
    assert (await ok(any_config, "db", "upgrade")).endswith("(current): nothing to do\n")
    history = (await ok(any_config, "db", "history")).splitlines()
    assert [line.split()[0] for line in history] == [f"{n:04d}" for n in range(1, int(head) + 1)]
    assert history[-1].endswith("(head)")


async def test_serve_refuses_a_legacy_database_until_db_upgrade(tmp_path, upstream):
    upstream.every_name = True  # promote checks that upstream has the project
    config_file = write_config(tmp_path, upstream)
    (tmp_path / "cache").mkdir()
    shutil.copy(LEGACY_FILE, tmp_path / "cache" / "mirror.db")

    err = await fails(config_file, "serve", "--port", "0")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("mirror: database sqlite+aiosqlite:///") and err.endswith(
        f"schema from before migrations, older than this mirror's {head_revision()}: run `mirror db upgrade` "
        "(or set [database] auto_upgrade = true)\n")
    run = await mirror(config_file, "audit")  # read-only commands refuse too: they do not upgrade
    assert run.code == 1 and "run `mirror db upgrade`" in run.err
    err = await fails(config_file, "promote", "demo-app", "--by", "alice")  # and a reviewer command changes nothing
    assert err.startswith("mirror: nothing changed: cannot write to the audit log in sqlite+aiosqlite:///")
    assert "run `mirror db upgrade`" in err and not (tmp_path / "policies" / "projects" / "demo-app.toml").exists()
    assert (await mirror(config_file, "db", "current")).code == 1

    assert (await ok(config_file, "db", "upgrade")).endswith(
        f"upgraded from the schema from before migrations to revision {head_revision()}\n")
    audit = await ok(config_file, "audit")
    assert "alice" in audit and "core dependency" in audit and "demo-app==1.0" in audit
    assert "flask" in await ok(config_file, "demand")
    async with Served(config_file) as served:
        assert "database:  sqlite+aiosqlite:///" in served.banner
        await served.stop()


async def test_serve_upgrades_a_legacy_database_with_auto_upgrade(tmp_path, upstream):
    config_file = write_config(tmp_path, upstream, extra="auto_upgrade = true\n")
    (tmp_path / "cache").mkdir()
    shutil.copy(LEGACY_FILE, tmp_path / "cache" / "mirror.db")
    async with Served(config_file) as served:
        await served.stop()
    assert (await ok(config_file, "db", "current")).endswith("(current)\n")
    assert "core dependency" in await ok(config_file, "audit")


# -- read-only commands create nothing ---------------------------------------------------------------

async def test_read_only_commands_create_no_database(tmp_path, upstream, dists):
    upstream.add_wheel("demo-app", "1.0", dists)
    config_file = write_config(tmp_path, upstream)
    for args in (("audit",), ("demand",)):
        err = await fails(config_file, *args)
        assert "no mirror tables yet (`mirror db upgrade` or `mirror serve` creates them)" in err
    assert "not reviewed" in (await ok(config_file, "explain", "demo-app"))
    (tmp_path / "policies").mkdir()  # (`check` fails on a missing policy directory)
    out = await ok(config_file, "check", "--offline")
    assert "database OK: sqlite+aiosqlite:///" in out and "no mirror tables yet" in out
    assert (await mirror(config_file, "db", "current")).code == 1
    assert not (tmp_path / "cache" / "mirror.db").exists()
    # A writing command creates it.
    await ok(config_file, "promote", "demo-app", "--by", "alice")
    assert (tmp_path / "cache" / "mirror.db").exists()
    assert "promote" in await ok(config_file, "audit")


async def test_check_reports_an_outdated_database(tmp_path, upstream):
    config_file = write_config(tmp_path, upstream)
    (tmp_path / "policies").mkdir()  # (a missing policy directory is a problem of its own)
    (tmp_path / "cache").mkdir()
    shutil.copy(LEGACY_FILE, tmp_path / "cache" / "mirror.db")
    run = await mirror(config_file, "check", "--offline")
    assert run.code == 1
    assert "database problem: sqlite+aiosqlite:///" in run.out and "run `mirror db upgrade`" in run.out
    assert "the database cannot be used as it is" in run.err


# -- the postgres extra -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [("serve", "--port", "0"), ("check", "--offline"), ("audit",), ("db", "upgrade"),
                                  ("promote", "demo-app", "--by", "alice")])
async def test_a_missing_asyncpg_names_the_extra(tmp_path, upstream, args):
    url = "postgresql+asyncpg://mirror:Secret-Pw-123@127.0.0.1:1/mirror"
    config_file = write_config(tmp_path, upstream, url)
    run = await without_asyncpg(config_file, *args)
    assert run.code == 1, run
    shown = run.out + run.err
    assert EXTRA in shown and "Traceback" not in shown
    assert "Secret-Pw-123" not in shown and "mirror:***@127.0.0.1:1/mirror" in shown


def test_a_missing_asyncpg_names_the_extra_in_process(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    path = tmp_path / "config.toml"
    path.write_text('[database]\nurl = "postgresql://u:Secret-Pw-123@db.example/mirror"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 2 and caught.value.key == "database.url"
    assert EXTRA in str(caught.value) and "Secret-Pw-123" not in str(caught.value)

    from mirror.adapters.db.engine import create_engine

    with pytest.raises(DatabaseError, match=re.escape(EXTRA)) as raised:
        create_engine(DatabaseConfig(url="postgresql+asyncpg://u:Secret-Pw-123@db.example/mirror"))
    assert "Secret-Pw-123" not in str(raised.value)


# -- passwords are never printed ----------------------------------------------------------------------------

def test_banner_repr_and_config_errors_hide_the_password(tmp_path):
    url = "postgresql+asyncpg://mirror:Secret-Pw-123@db.example:5432/mirror"
    config = Config(database=DatabaseConfig(url=url))
    assert "database:  postgresql+asyncpg://mirror:***@db.example:5432/mirror" in banner(config, 8080)
    for text in (banner(config, 8080), repr(config), repr(config.database_settings), str(config)):
        assert "Secret-Pw-123" not in text
    path = tmp_path / "config.toml"
    for bad in ("postgresql+psycopg2://mirror:Secret-Pw-123@db.example/mirror",
                "postgresql://mirror:Secret-Pw-123@db@example/mirror",
                "mysql://mirror:Secret-Pw-123@db.example/mirror"):
        path.write_text(f'[database]\nurl = "{bad}"\n')
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert "Secret-Pw-123" not in str(caught.value) and "database.url" in str(caught.value)


async def test_postgres_serve_banner_and_logs_never_show_the_password(tmp_path, upstream, dists, postgres_url, http):
    upstream.add_wheel("demo-app", "1.0", dists)
    password = re.search(r":([^:@/]+)@", postgres_url).group(1)  # type: ignore[union-attr]
    config_file = write_config(tmp_path, upstream, postgres_url, extra="")
    config_file.write_text(config_file.read_text().replace("[database]", '[server]\nlog_level = "debug"\n\n[database]'))
    async with Served(config_file) as served:
        assert re.search(r"database:  postgresql\+asyncpg://\w+:\*\*\*@127\.0\.0\.1", served.banner), served.banner
        async with http.get(f"{served.base}/all/simple/demo-app/") as resp:
            assert resp.status == 200
        async with http.get(f"{served.base}/reviewed/simple/demo-app/") as resp:
            assert resp.status == 404
        out, err = await served.stop()
    assert "demo-app" in err  # the debug log ran
    assert password not in out and password not in err


@pytest.mark.parametrize("args", [("serve", "--port", "0"), ("db", "upgrade"), ("db", "current"), ("audit",),
                                  ("promote", "demo-app", "--by", "alice")])
async def test_postgres_connection_failures_never_show_the_password(tmp_path, upstream, dists, postgres_url, args):
    upstream.add_wheel("demo-app", "1.0", dists)  # (promote asks upstream first)
    config_file = write_config(tmp_path, upstream, wrong_password(postgres_url))
    run = await mirror(config_file, *args)
    assert run.code == 1, run
    shown = run.out + run.err
    assert "Wrong-Secret-42" not in shown and ":***@127.0.0.1" in shown, shown
    assert "password authentication failed" in shown and "Traceback" not in shown


async def test_postgres_check_reports_an_unreachable_database(tmp_path, upstream, postgres_url):
    config_file = write_config(tmp_path, upstream, wrong_password(postgres_url))
    run = await mirror(config_file, "check", "--offline")
    assert run.code == 1
    assert "database problem: cannot use database postgresql+asyncpg://" in run.out
    assert "Wrong-Secret-42" not in run.out + run.err

