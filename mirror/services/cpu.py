"""CPU-heavy work (parsing and preparing big pages) off the event loop, in one dedicated lane.

Python threads share one interpreter lock: a pool of several busy threads would take the lock from the event
loop for several switch intervals in a row, and warm requests would wait behind cold pages. One dedicated thread
(per process) keeps the loop's share of the lock at a half at worst, so a warm page waits at most about one switch
interval (5 ms) for a cold one; big jobs queue behind each other instead of thrashing. ``threads`` can be raised
where a free-threaded interpreter makes threads truly parallel.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class CpuLane:
    """Runs blocking, CPU-bound callables in a dedicated thread; :meth:`close` when done."""

    def __init__(self, threads: int = 1) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mirror-cpu")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in the lane; its exceptions are raised here."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Stop the lane; queued jobs are cancelled, the running one finishes in its thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
