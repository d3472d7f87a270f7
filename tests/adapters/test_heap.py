"""The heap's free memory goes back to the system after a big build (glibc only)."""

from __future__ import annotations

import platform
import sys

import pytest

from mirror.adapters.heap import trim_heap, trim_heap_soon

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                           reason="malloc_trim is glibc's: nothing to give back elsewhere")


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@glibc
def test_freed_heap_memory_is_given_back() -> None:
    trim_heap()
    # 64 MB in blocks below glibc's mmap threshold: they come from the heap, and stay there once freed.
    blocks = [bytes(bytearray(100_000)) for _ in range(640)]
    held = _rss_kb()
    del blocks[::2]  # every other block: free memory in the middle of the heap, which only a trim returns
    assert trim_heap() is True
    assert held - _rss_kb() > 20_000


@glibc
async def test_a_trim_from_the_event_loop_gives_memory_back_too() -> None:
    trim_heap()
    blocks = [bytes(bytearray(100_000)) for _ in range(640)]
    held = _rss_kb()
    del blocks[::2]
    await trim_heap_soon()
    assert held - _rss_kb() > 20_000
