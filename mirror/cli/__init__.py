"""The ``mirror`` command line: argument parsing and printing (:mod:`.main`), tables (:mod:`.output`)."""

from mirror.cli.main import main

__all__ = ["main"]
