"""CPU-heavy work (parsing and preparing big pages) off the event loop, in one dedicated lane.

Python threads share one interpreter lock: a pool of several busy threads would take the lock from the event
loop for several switch intervals in a row, and warm requests would wait behind cold pages. One dedicated thread
(per process) keeps the loop's share of the lock at a half at worst, so a warm page waits at most about one switch
interval (5 ms) for a cold one; big jobs queue behind each other instead of thrashing. ``threads`` can be raised
where a free-threaded interpreter makes threads truly parallel.

Work nobody waits for (the holes count walking every vetted release: :data:`BACKGROUND`) yields the lane to the
requests' work: one background job at a time, started when no request's job is in the lane (or after
:data:`YIELD_AT_MOST` seconds, so that it always moves on); between its steps on the event loop it pauses
(:func:`background_pause`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: True in a task doing background work: its jobs in the lane give way to the requests' (see the docstring).
BACKGROUND: ContextVar[bool] = ContextVar("mirror_cpu_background", default=False)
#: Longest a background job waits for the requests' jobs to leave the lane.
YIELD_AT_MOST = 0.5


async def background_pause(spent: float) -> None:
    """In a :data:`BACKGROUND` task, after a step that took ``spent`` seconds: as long again (at most
    :data:`YIELD_AT_MOST`), so that background work takes at most about half of the event loop, whose requests
    it would delay otherwise; elsewhere, nothing."""
    if BACKGROUND.get():
        await asyncio.sleep(min(spent, YIELD_AT_MOST))


class CpuLane:
    """Runs blocking, CPU-bound callables in a dedicated thread; :meth:`close` when done."""

    def __init__(self, threads: int = 1) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mirror-cpu")
        self._foreground = 0  # the requests' jobs in the lane (queued or running)
        self._idle = asyncio.Event()  # set when there are none
        self._idle.set()
        self._background = asyncio.Lock()  # one background job in the lane at a time

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in the lane; its exceptions are raised here. In a :data:`BACKGROUND` task it
        waits for the requests' jobs first (at most :data:`YIELD_AT_MOST` seconds)."""
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        if BACKGROUND.get():
            async with self._background:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), YIELD_AT_MOST)
                return await loop.run_in_executor(self._executor, call)
        self._foreground += 1
        self._idle.clear()
        try:
            return await loop.run_in_executor(self._executor, call)
        finally:
            self._foreground -= 1
            if not self._foreground:
                self._idle.set()

    def close(self) -> None:
        """Stop the lane; queued jobs are cancelled, the running one finishes in its thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
