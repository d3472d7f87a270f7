"""The ``mirror`` command: the parser, the commands of each module (:mod:`.serve`, :mod:`.review`, :mod:`.sets`,
:mod:`.inspect`, :mod:`.db`, each registered by its ``register(commands)``), and one line per error."""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version

from mirror.cli import db, evidence, inspect, review, serve, sets, tokens
from mirror.cli.common import CONFIG_VARIABLE, Commands
from mirror.core.errors import ConfigError, MirrorError, PolicyError

#: The modules whose commands ``mirror`` offers, in the order ``mirror --help`` lists them.
MODULES = (serve, review, sets, inspect, evidence, tokens, db)


def package_version() -> str:
    try:
        return version("mirror")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH",
                        help=f"config file (default: ${CONFIG_VARIABLE}, else ./config.toml, else built-in defaults)")
    parser = argparse.ArgumentParser(prog="mirror", description="A tiered, caching Python package index.")
    parser.add_argument("--version", action="version", version=f"mirror {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = Commands(sub, common)
    for module in MODULES:
        module.register(commands)
    return parser


def _reader_gone() -> int:
    """The reader of our output went away (``mirror explain … | head -1``): stop quietly, as other tools do.
    Standard output is pointed at the null device so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not as a traceback at exit
        return code
    except BrokenPipeError:
        return _reader_gone()
    except ConfigError as exc:
        print(f"mirror: configuration error: {exc}", file=sys.stderr)
        return 1
    except PolicyError as exc:
        print(f"mirror: policy error: {exc}", file=sys.stderr)
        return 1
    except MirrorError as exc:
        print(f"mirror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
