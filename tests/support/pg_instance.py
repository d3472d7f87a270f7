"""A PostgreSQL server of the test's own, which the test may stop and start: Debian's ``initdb`` and ``pg_ctl``
(``/usr/lib/postgresql/<version>/bin``) on a data directory in a fresh temp directory, listening on 127.0.0.1 on a
free port (its socket in that directory), password authentication. Run as the ``postgres`` user when the tests
run as root (PostgreSQL refuses to run as root), else as the current user. Stopping it touches nothing else.

Without the binaries the tests that need it skip, saying how to provide them (``apt-get install postgresql-15``),
except under CI=true, where they fail.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

HOW_TO_PROVIDE = ("these tests run a PostgreSQL server of their own: apt-get install postgresql-15 "
                  "(they use /usr/lib/postgresql/<version>/bin/initdb and pg_ctl; .ci/run installs it)")
PASSWORD = "outage-test"
DATABASE = "mirror"


def unavailable(reason: str) -> None:
    message = f"{HOW_TO_PROVIDE} ({reason})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgInstance:
    """One PostgreSQL server in ``root`` (``root/data``, ``root/server.log``) on 127.0.0.1:``port``."""

    def __init__(self, bin_dir: Path, root: Path, port: int, user: str | None) -> None:
        self.bin_dir, self.root, self.port, self.user = bin_dir, root, port, user
        self.data = root / "data"
        self.log = root / "server.log"
        self._paused: list[int] = []

    @classmethod
    def create(cls) -> PgInstance:
        """initdb and start it, with a database ``mirror``; skips (fails under CI) when it cannot."""
        bin_dir = _bin_dir()
        if bin_dir is None:
            unavailable("no /usr/lib/postgresql/*/bin/pg_ctl")
        assert bin_dir is not None
        user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no postgres user to run the server as")
            user = "postgres"
        root = Path(tempfile.mkdtemp(prefix="mirror-pg-"))
        instance = cls(bin_dir, root, _free_port(), user)
        if user is not None:
            shutil.chown(root, user)
        pwfile = root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if user is not None:
            shutil.chown(pwfile, user)
        try:
            instance._run("initdb", "-D", str(instance.data), "-U", "postgres", "--auth=scram-sha-256",
                          f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync", "--no-instructions")
            instance.start()
            instance._run("createdb", "-h", "127.0.0.1", "-p", str(instance.port), "-U", "postgres", DATABASE,
                          env={"PGPASSWORD": PASSWORD})
        except (OSError, subprocess.CalledProcessError) as exc:
            output = getattr(exc, "stdout", "") or ""
            instance.destroy()
            unavailable(f"could not start one: {exc} {output[-1000:]}")
        return instance

    def _run(self, tool: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
        command = [str(self.bin_dir / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False,
                              env={**os.environ, **(env or {})})
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout + done.stderr)
        return done.stdout

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of database ``mirror``."""
        return f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop it (``fast``: connections are closed at once; ``immediate``: as if the machine died)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def _pids(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True, text=True,
                                  check=False).stdout.split()
        return [postmaster, *map(int, children)]

    def pause(self) -> None:
        """SIGSTOP the server and its backends: connections are accepted (by the kernel) and statements sent,
        but nothing answers, as a database behind a cut network or hopelessly slow. :meth:`resume` continues."""
        self._paused = self._pids()
        for pid in self._paused:
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._paused = []

    def running(self) -> bool:
        try:
            self._run("pg_ctl", "-D", str(self.data), "status")
            return True
        except subprocess.CalledProcessError:
            return False

    def psql(self, sql: str) -> str:
        """Run ``sql`` on database ``mirror``; its unaligned output."""
        return self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", DATABASE,
                         "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql, env={"PGPASSWORD": PASSWORD})

    def destroy(self) -> None:
        """Stop it if it runs, and remove its directory."""
        self.resume()
        if self.data.exists():
            try:
                if self.running():
                    self.stop("immediate")
            except (OSError, subprocess.CalledProcessError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)
