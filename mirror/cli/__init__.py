"""The ``mirror`` command line: the parser and error handling (:mod:`.main`), what every command shares
(:mod:`.common`: registration, configuration discovery, confirmation), one module per group of commands
(:mod:`.serve`, :mod:`.review`, :mod:`.sets`, :mod:`.inspect`), tables (:mod:`.output`) and progress
(:mod:`.progress`)."""

from mirror.cli.main import main

__all__ = ["main"]
