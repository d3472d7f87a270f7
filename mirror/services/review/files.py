"""The policy directory as the reviewer commands change it.

Each command edits one ``<policies>/projects/<name>.toml`` (a new one when missing). The read-modify-write
happens under an exclusive ``flock`` on ``<policies>/.lock`` and, when given, a lock shared by every node (a lease
in the database: ``flock`` alone does not reach across machines on every network file system), so concurrent
invocations on any node never lose an edit;
the new text is validated with :func:`~mirror.core.policy.load.parse_project` and staged in a temporary file,
which replaces the file atomically (``os.replace``) only once the change's audit records are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from packaging.utils import canonicalize_name

from mirror.adapters.policy_dir import ensure_gitignore
from mirror.core.errors import PolicyError, ReviewError
from mirror.core.policy import edit
from mirror.core.policy.load import PROJECTS_DIR, TIERS_FILE, parse_project, parse_tiers
from mirror.core.policy.model import ProjectPolicy, TierRules

LOCK_FILE = ".lock"
#: How long a command waits for another one holding the policy lock.
LOCK_TIMEOUT = 60.0


def _fix_first(exc: PolicyError) -> ReviewError:
    return ReviewError(f"{exc}\nfix this file first (`mirror check` lists every problem)")


class StagedFile:
    """A validated new text of ``path``, waiting in the temporary file ``tmp`` (see :meth:`PolicyFiles.stage`)."""

    def __init__(self, path: Path, tmp: Path) -> None:
        self.path, self.tmp = path, tmp

    def commit(self) -> None:
        """Replace ``path`` atomically; ReviewError (``path`` unchanged) when the rename fails."""
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise ReviewError(f"cannot replace {self.path}: {exc}") from None

    def discard(self) -> None:
        """Remove the temporary file if it is still there (after a failure, or after :meth:`commit`: a no-op)."""
        with contextlib.suppress(OSError):
            self.tmp.unlink()


class PolicyFiles:
    """The policy files below ``directory``: read, validated, replaced atomically under the directory's lock.

    ``shared_lock()``, when given, is held inside the directory's lock: the lock of every node (see
    :meth:`locked`).
    """

    def __init__(self, directory: Path,
                 shared_lock: Callable[[], AbstractAsyncContextManager[None]] | None = None) -> None:
        self.directory = directory
        self._shared_lock = shared_lock

    def project_path(self, name: str) -> Path:
        return self.directory / PROJECTS_DIR / f"{name}.toml"

    def read(self, name: str) -> tuple[str, ProjectPolicy | None]:
        """The project's file text (a new header when missing) and its parsed policy (None when missing)."""
        path = self.project_path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return edit.new_project_file(name), None
        except (OSError, UnicodeDecodeError) as exc:
            raise ReviewError(f"cannot read {path}: {exc}") from None
        try:
            return text, parse_project(text, str(path), name)
        except PolicyError as exc:
            raise _fix_first(exc) from None

    def stage(self, name: str, text: str) -> StagedFile:
        """Validate ``text`` as the project's policy and write it to a temporary file beside the project's file
        (flushed to disk); nothing is visible until :meth:`StagedFile.commit`. Raises ReviewError."""
        path = self.project_path(name)
        try:
            parse_project(text, str(path), name)
        except PolicyError as exc:  # an edit must never produce a file the server would refuse
            raise ReviewError(f"the edit would make {path} invalid, nothing was written: {exc}") from None
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise ReviewError(f"cannot write {path}, nothing was changed: {exc}") from None
        return StagedFile(path, tmp)

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Hold the exclusive lock of the policy directory and, when given, the lock shared by every node."""
        async with self._local_lock():
            if self._shared_lock is None:
                yield
            else:
                async with self._shared_lock():
                    yield

    @contextlib.asynccontextmanager
    async def _local_lock(self) -> AsyncIterator[None]:
        """Hold the exclusive ``flock`` of the policy directory (polling, so waiting never blocks the loop)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ensure_gitignore(self.directory)  # the lock file below is no policy: keep it out of git
        lock_path = self.directory / LOCK_FILE
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT
            delay = 0.005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise ReviewError(f"cannot lock {lock_path}: {exc}") from None
                if time.monotonic() > deadline:
                    raise ReviewError(f"another mirror command holds {lock_path} for more than "
                                      f"{LOCK_TIMEOUT:g}s; try again")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
            yield
        finally:
            os.close(fd)  # releases the lock

    def rules(self) -> TierRules:
        path = self.directory / TIERS_FILE
        if not path.is_file():
            return TierRules()
        try:
            return parse_tiers(path.read_text(encoding="utf-8"), str(path))
        except PolicyError as exc:
            raise _fix_first(exc) from None

    def reviewed_names(self, *, besides: str) -> dict[str, str]:
        """Reviewed projects other than ``besides`` → their file. An unreadable file counts as reviewed."""
        found: dict[str, str] = {}
        for path in sorted((self.directory / PROJECTS_DIR).glob("*.toml")):
            name = path.stem
            if name == besides:
                continue
            try:
                policy = parse_project(path.read_text(encoding="utf-8"), str(path), name)
            except (OSError, UnicodeDecodeError, PolicyError):
                found[canonicalize_name(name)] = str(path)  # safe side: it may well be reviewed
                continue
            if policy.review is not None:
                found[name] = str(path)
        return found
