"""Giving the C heap's free memory back to the system after a big build (glibc's ``malloc_trim``).

Building a 700,000-name project list allocates hundreds of megabytes of transient buffers, a piece at a time. glibc
keeps freed blocks in its heaps for the next allocations, which is what makes the build cheap: forcing big blocks
out of the heaps instead (a fixed ``M_MMAP_THRESHOLD``) makes every transient buffer fresh pages the kernel must
fault in and zero, measured at half the CPU of a cold project list. Once such a build is done, its free memory is
handed back at once instead, so that the server holds what it keeps and little more.
"""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Callable


def _libc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def trim_heap() -> bool:
    """Return the free memory of every heap to the system (blocking: a few milliseconds for a few hundred
    megabytes; ctypes releases the GIL meanwhile). True when some memory was returned; False when none was or
    the C library cannot."""
    trim = _libc_trim()
    return bool(trim(0)) if trim is not None else False


async def trim_heap_soon() -> None:
    """:func:`trim_heap` in a thread (the event loop goes on meanwhile)."""
    await asyncio.to_thread(trim_heap)
