"""The CPU lane: background work (the holes count) gives way to the requests' work, and always moves on."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from mirror.services import cpu as cpu_module
from mirror.services.cpu import BACKGROUND, CpuLane


def _job(name: str, seconds: float, ran: list[str]) -> str:
    ran.append(name)
    time.sleep(seconds)
    return name


async def _in_background(lane: CpuLane, name: str, seconds: float, ran: list[str]) -> str:
    BACKGROUND.set(True)
    return await lane.run(_job, name, seconds, ran)


async def test_a_background_job_waits_for_the_requests_jobs_queued_meanwhile() -> None:
    lane = CpuLane()
    ran: list[str] = []
    try:
        first = asyncio.ensure_future(lane.run(_job, "request 1", 0.2, ran))
        await asyncio.sleep(0.05)  # request 1 runs
        background = asyncio.ensure_future(_in_background(lane, "background", 0.0, ran))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(lane.run(_job, "request 2", 0.05, ran))  # asked after the background job
        assert await asyncio.gather(first, background, second) == ["request 1", "background", "request 2"]
    finally:
        lane.close()
    assert ran == ["request 1", "request 2", "background"]


async def test_a_background_job_moves_on_under_a_stream_of_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_module, "YIELD_AT_MOST", 0.2)
    lane = CpuLane()
    ran: list[str] = []
    try:
        background = asyncio.ensure_future(_in_background(lane, "background", 0.0, ran))
        stream = []
        for i in range(30):  # the lane is never free of requests' jobs for 1.5 s
            stream.append(asyncio.ensure_future(lane.run(_job, f"request {i}", 0.05, ran)))
            await asyncio.sleep(0.05)
        await asyncio.gather(background, *stream)
    finally:
        lane.close()
    assert 0 < ran.index("background") < 12  # after ~0.2 s of waiting, long before the stream ends


async def test_jobs_run_in_the_lane_thread_and_raise_there() -> None:
    lane = CpuLane()
    try:
        assert await lane.run(lambda: threading.current_thread().name) != threading.current_thread().name

        def fail() -> None:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await lane.run(fail)
        BACKGROUND.set(True)
        with pytest.raises(ValueError, match="boom"):
            await lane.run(fail)
    finally:
        lane.close()
