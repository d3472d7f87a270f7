"""A policy directory as a git ref has it (``mirror check --what-if --against REF``): the directory's files at
that ref are exported with ``git archive`` into a temporary directory and loaded from there. Blocking."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

from mirror.adapters.policy_dir import load_policies
from mirror.core.errors import PolicyError
from mirror.core.policy.model import PolicySet

#: Largest export read (policy repositories are text; a bigger one is not a policy directory).
MAX_EXPORT = 256 * 1024 * 1024
_TIMEOUT = 60


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, timeout=_TIMEOUT, check=False)
    except FileNotFoundError:
        raise PolicyError(str(cwd), None, "git is not installed: --against needs it") from None
    except subprocess.TimeoutExpired:
        raise PolicyError(str(cwd), None, f"git {args[0]} took longer than {_TIMEOUT} s") from None
    if done.returncode != 0:
        problem = done.stderr.decode(errors="replace").strip().splitlines()
        raise PolicyError(str(cwd), None, f"git {args[0]}: {problem[-1] if problem else 'failed'}")
    return done.stdout


def load_policies_at(directory: Path, ref: str) -> tuple[PolicySet, str]:
    """The policies of ``directory`` as git ref ``ref`` of its repository has them, and a description of that
    source. A ref where the directory does not exist yet is an empty policy set. Raises PolicyError (not a git
    repository, an unknown ref, an invalid policy at that ref: named as ``REF:path``)."""
    if ref.startswith("-"):
        raise PolicyError(str(directory), None, f"{ref!r} is not a git ref")
    directory = directory.resolve()
    top = Path(_git(directory, "rev-parse", "--show-toplevel").decode().strip())
    relative = directory.relative_to(top).as_posix()
    commit = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    listed = _git(top, "ls-tree", "-d", "--name-only", commit, "--", relative or ".").decode().strip()
    described = f"git ref {ref} ({commit[:12]}) of {top}"
    if relative and not listed:
        return PolicySet(), described
    archive = _git(top, "archive", "--format=tar", commit, "--", relative or ".")
    if len(archive) > MAX_EXPORT:
        raise PolicyError(str(directory), None, f"{ref}: the export is larger than {MAX_EXPORT} bytes")
    with tempfile.TemporaryDirectory(prefix="mirror-what-if-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        root = Path(tmp) / relative if relative else Path(tmp)
        try:
            return load_policies(root), described
        except PolicyError as exc:
            shown = str(exc.file).replace(str(root), f"{ref}:{relative or '.'}")
            raise PolicyError(shown, exc.key, exc.problem, line=exc.line) from None
