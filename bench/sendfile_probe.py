"""A bare aiohttp ``FileResponse`` server, to tell the event loop's share of file-serving throughput.

    python -m bench.sendfile_probe asyncio|uvloop FILE PORT

Serves FILE at ``http://127.0.0.1:PORT/file`` with the given event loop and nothing else (no routing,
no lookups). Phase "profile" (PROFILE=1) runs wrk against it with each loop: aiohttp sends a file with
``sendfile(2)`` only when the loop implements ``loop.sendfile``; uvloop does not, so aiohttp falls back
to reading chunks in a thread pool and writing them from Python.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


def main() -> None:
    loop_name, path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(path)

    app = web.Application()
    app.router.add_get("/file", handler)
    if loop_name == "uvloop":
        import uvloop
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
