"""What every ``mirror`` command shares: how commands are registered, how the configuration is found, how a
service call runs, how outcomes are printed and how a reviewer confirms.

Registration: each command module has ``register(commands)``, which adds its commands with
:meth:`Commands.add` (each a small function taking the parsed arguments and returning the exit code).

The configuration is found the same way by every command: ``--config PATH``, else ``$MIRROR_CONFIG``, else
``./config.toml``, else the built-in defaults, with a warning on stderr saying where it looked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TextIO, TypeVar

from mirror.config import Config, default_config, load_config
from mirror.core.errors import MirrorError
from mirror.core.targets import Target, TargetError
from mirror.services.review import Outcome, ReviewService

T = TypeVar("T")
Handler = Callable[[argparse.Namespace], int]
#: The environment variable naming the configuration file when ``--config`` is not given.
CONFIG_VARIABLE = "MIRROR_CONFIG"
DEFAULT_CONFIG = Path("config.toml")


class Commands:
    """The ``mirror`` subcommands: :meth:`add` one, with the options every command takes."""

    def __init__(self, sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
        self._sub = sub
        self._common = common

    def add(self, name: str, handler: Handler, text: str) -> argparse.ArgumentParser:
        parser = self._sub.add_parser(name, parents=[self._common], help=text, description=text)
        parser.set_defaults(func=handler)
        return parser

    def group(self, name: str, text: str) -> Commands:
        """A command with actions of its own (``mirror db upgrade``): add them to the group returned."""
        parser = self._sub.add_parser(name, help=text, description=text)
        return Commands(parser.add_subparsers(dest=f"{name}_action", required=True, metavar="ACTION"), self._common)


def signed(parser: argparse.ArgumentParser, why: str) -> None:
    """``--by`` and, for a change that adds, ``--note`` (optional) or, for one that removes, ``--reason``."""
    parser.add_argument("--by", required=True, metavar="NAME", help="who decides (normally your login)")
    if why == "note":
        parser.add_argument("--note", metavar="TEXT", help="why (recorded in the file and the audit log)")
    else:
        parser.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded with the change)")


def config_source(explicit: str | None) -> tuple[Path | None, str | None]:
    """The configuration file to read and, when there is none, the warning naming where it looked."""
    if explicit:
        return Path(explicit), None
    named = os.environ.get(CONFIG_VARIABLE, "").strip()
    if named:
        return Path(named), None
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG, None
    return None, (f"mirror: warning: no configuration file (no --config, no ${CONFIG_VARIABLE}, no "
                  f"{Path.cwd() / DEFAULT_CONFIG}): using the built-in defaults, with policies in "
                  f"{Path.cwd() / 'policies'} and the cache in {Path.cwd() / 'cache'}")


def load(args: argparse.Namespace) -> Config:
    """The configuration of this invocation (see the module docstring); raises ConfigError."""
    path, warning = config_source(getattr(args, "config", None))
    if warning and not getattr(args, "_warned", False):
        print(warning, file=sys.stderr)
        args._warned = True
    return load_config(path) if path else default_config()


def run(args: argparse.Namespace, call: Callable[[ReviewService], Awaitable[T]]) -> T:
    """Run one service call with a fresh service (and event loop)."""
    config = load(args)

    async def main() -> T:
        async with ReviewService(config) as service:
            return await call(service)

    return asyncio.run(main())


def width() -> int:
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 140))


def wrap(line: str) -> str:
    """A long line wrapped to the terminal, continuation lines indented; unchanged when stdout is not a
    terminal (logs and scripts read whole lines)."""
    if len(line) <= width() or not sys.stdout.isatty():
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return textwrap.fill(line, width(), subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def say(lines: Iterable[str], *, file: TextIO | None = None) -> None:
    """Print ``lines``, each wrapped to the terminal."""
    for line in lines:
        for part in line.split("\n"):
            print(wrap(part), file=file or sys.stdout)


def done(outcome: Outcome) -> int:
    say(outcome.lines)
    return 0


def confirm(question: str, *, assume_yes: bool) -> bool:
    """Ask ``question`` on stderr and read the answer from stdin; ``assume_yes`` (``--yes``) answers yes.
    No answer (end of input) is a no."""
    if assume_yes:
        return True
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        answer = ""
    if not answer:
        print("", file=sys.stderr)
    return answer.strip().lower() in ("y", "yes")


def targets(args: argparse.Namespace, config: Config) -> tuple[Target, ...]:
    """``--target`` options, else ``[dependencies] targets``, else () (the running Python on Linux)."""
    given = getattr(args, "target", None) or list(config.dependencies.targets)
    try:
        return tuple(Target.parse(t) for t in given)
    except TargetError as exc:
        raise MirrorError(f"--target: {exc}") from None


def add_targets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", action="append", metavar="ENV",
                        help="a target environment like 3.12-linux-x86_64 or 3.11-macos-arm64 (repeat for several; "
                             "default: [dependencies] targets, else this Python on Linux x86_64)")
