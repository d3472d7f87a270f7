"""One run's shared state: its settings, temp dir, processes, RSS sampler, ports and results.

Built by ``bench.main`` (nothing exists before); every phase and server receives it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from bench.net import Ports
from bench.procs import Budget, Fatal, Procs, RssSampler
from bench.results import Results
from bench.settings import Settings


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


@dataclass
class Context:
    settings: Settings
    tmp: Path
    procs: Procs
    rss: RssSampler
    ports: Ports
    budget: Budget
    results: Results

    @classmethod
    def create(cls, settings: Settings) -> Context:
        """A fresh temp dir (logs inside) and nothing started yet."""
        tmp = Path(tempfile.mkdtemp(prefix="mirror-bench."))
        tmp.chmod(0o755)  # nginx workers (another user) read the static copies under it
        (tmp / "logs").mkdir()
        budget = Budget(settings.max_runtime)
        return cls(settings=settings, tmp=tmp, procs=Procs(tmp / "logs", budget, settings.verbose),
                   rss=RssSampler(), ports=Ports(), budget=budget, results=Results())

    @property
    def logs(self) -> Path:
        return self.tmp / "logs"

    @property
    def python(self) -> str:
        return self.settings.python

    def say(self, msg: str) -> None:
        say(msg)

    def note(self, msg: str) -> None:
        """A remark that goes into the report's Notes (first line) and to stderr now."""
        self.results.notes.append(msg)
        say(msg)

    def die(self, msg: str) -> NoReturn:
        raise Fatal(msg)

    def free_port(self, start: int) -> int:
        try:
            return self.ports.free(start)
        except OSError as exc:
            self.die(str(exc))

    def close(self) -> None:
        """Stop everything still running and remove the temp dir (unless KEEP_TMP)."""
        self.rss.stopped.set()
        self.procs.stop_all()
        if self.settings.keep_tmp:
            say(f"kept logs and caches in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
