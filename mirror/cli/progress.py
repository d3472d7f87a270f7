"""How ``mirror prefetch`` shows its progress: a rich progress bar on a terminal, one plain line per file
otherwise (CI logs, pipes)."""

from __future__ import annotations

import sys
from typing import IO, Any

from mirror.services.setfetch import FileTask


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


class PlainProgress:
    """One line per file when it is done: ``[3/12] fetched requests/requests-2.32.3-py3-none-any.whl (62.5 KB)``."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout
        self._total = 0
        self._count = 0

    def begin(self, files: int, total_bytes: int) -> None:
        self._total = files

    def advance(self, task: FileTask, received: int) -> None:
        pass

    def done(self, task: FileTask, status: str) -> None:
        self._count += 1
        size = f" ({human(task.dist.size)})" if task.dist.size else ""
        print(f"[{self._count}/{self._total}] {status} {task.label}{size}", file=self._out, flush=True)

    def end(self) -> None:
        pass


class BarProgress:
    """A rich progress bar of bytes over the whole plan, with the files in flight named."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                             TimeRemainingColumn(), transient=False)
        self._task: Any = None
        self._seen: dict[str, int] = {}
        self._files = 0
        self._count = 0

    def begin(self, files: int, total_bytes: int) -> None:
        self._files = files
        self._bar.start()
        self._task = self._bar.add_task(f"0/{files} files", total=total_bytes or None)

    def advance(self, task: FileTask, received: int) -> None:
        before = self._seen.get(task.label, 0)
        if received > before:
            self._seen[task.label] = received
            self._bar.update(self._task, advance=received - before)

    def done(self, task: FileTask, status: str) -> None:
        self._count += 1
        self._bar.update(self._task, description=f"{self._count}/{self._files} files")
        if status.startswith("failed"):
            self._bar.console.print(f"{status}: {task.label}")

    def end(self) -> None:
        self._bar.stop()


def progress_for(stream: IO[str] | None = None) -> PlainProgress | BarProgress:
    """A bar when ``stream`` (stdout) is a terminal, plain lines otherwise."""
    stream = stream or sys.stdout
    return BarProgress() if stream.isatty() else PlainProgress(stream)
