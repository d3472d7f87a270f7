"""The HTTP edge: aiohttp application, routes and response helpers."""

from mirror.web.app import create_app

__all__ = ["create_app"]
