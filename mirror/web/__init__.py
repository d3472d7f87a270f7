"""The HTTP edge: aiohttp application, routes and response helpers."""

from .app import create_app

__all__ = ["create_app"]
