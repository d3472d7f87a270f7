"""The suite's knobs: environment variables parsed once, in ``main``, into a frozen :class:`Settings`.

Parsing is pure (a mapping in, a value out) so it is unit-tested without starting anything; a bad value
raises :class:`SettingsError` naming the variable. bench/README.md lists every knob.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

TIERS_ALL = ("all", "reviewed", "vetted")
#: Every phase, in the order a run executes them. The first four run on the main mirror instances
#: (one per ``WORKERS`` count, against the real upstream); the others start their own servers.
PHASES_ALL = ("warm", "wheel", "profile", "soak", "cold", "prepare-big", "warm-under-cold", "project-list",
              "install", "nodes")
MAIN_MIRROR_PHASES = ("warm", "wheel", "profile", "soak")
#: Other names accepted in ``PHASES``.
PHASE_ALIASES = {"cold-install": "install", "cold-page": "cold", "pages": "warm"}
#: ``WITH_<X>=0`` drops phase X from the default selection (the knobs of the suite before ``PHASES``).
_WITH_FLAGS = {"cold": "WITH_COLD", "wheel": "WITH_WHEEL", "install": "WITH_INSTALL", "soak": "WITH_SOAK"}
_WHEEL = "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?")


class SettingsError(ValueError):
    """A knob has a value the suite cannot use; the message names the variable."""


def parse_duration(text: str, knob: str = "DURATION") -> int:
    """``5s``, ``10``, ``2m`` or ``1h`` → seconds. Raises SettingsError otherwise."""
    m = re.fullmatch(r"(\d+)([smh]?)", text.strip())
    if not m:
        raise SettingsError(f"{knob}={text!r} is not a duration like 5s, 10s or 1m")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def parse_list(text: str) -> tuple[str, ...]:
    """Words separated by spaces and/or commas."""
    return tuple(text.replace(",", " ").split())


class _Env:
    """Typed reads of one environment mapping; an empty value counts as unset."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, name: str, default: str) -> str:
        value = self.environ.get(name)
        return default if value is None or value == "" else value

    def flag(self, name: str, default: bool) -> bool:
        return self.text(name, "1" if default else "0").strip().lower() not in ("0", "no", "false", "off")

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        text = self.text(name, str(default))
        try:
            value = int(text)
        except ValueError:
            raise SettingsError(f"{name}={text!r} is not a whole number") from None
        if value < minimum:
            raise SettingsError(f"{name}={value} is below its minimum {minimum}")
        return value

    def path(self, name: str, default: Path) -> Path:
        return Path(self.text(name, str(default))).expanduser()


def select_phases(env: _Env, profile: bool) -> tuple[str, ...]:
    """The phases to run, in execution order: ``PHASES`` if set (``all`` = every phase), else every
    phase minus those a ``WITH_<X>=0`` turns off, with ``profile`` only under ``PROFILE=1``."""
    text = env.text("PHASES", "")
    if text:
        wanted: set[str] = set()
        for word in parse_list(text):
            name = PHASE_ALIASES.get(word, word)
            if name == "all":
                wanted.update(PHASES_ALL)
            elif name in PHASES_ALL:
                wanted.add(name)
            else:
                raise SettingsError(f"PHASES: unknown phase {word!r}; phases are {', '.join(PHASES_ALL)}")
        return tuple(p for p in PHASES_ALL if p in wanted)
    dropped = {phase for phase, knob in _WITH_FLAGS.items() if not env.flag(knob, True)}
    if not profile:
        dropped.add("profile")
    return tuple(p for p in PHASES_ALL if p not in dropped)


@dataclass(frozen=True)
class Settings:
    """Every knob of one run (see bench/README.md, "Knobs")."""

    phases: tuple[str, ...]
    projects: tuple[str, ...]
    tiers: tuple[str, ...]
    workers: tuple[int, ...]
    more_workers_tiers: tuple[str, ...]
    duration: str
    dur_s: int
    conns: int
    threads: int
    with_proxpi: bool
    with_devpi: bool
    with_nginx: bool
    profile: bool
    soak: int
    cold_n: int
    wheel_project: str
    wheel_file: str
    wheel_n: int
    concurrent: int
    concurrent_rounds: int
    install_set: Path
    install_workers: int
    install_timeout: int
    big_files: int
    big_n: int
    big_vetted_versions: int
    small_files: int
    cold_load: int
    wuc_rounds: int
    wuc_warm_n: int
    list_size: int
    list_n: int
    nodes_database_url: str
    herd: int
    herd_rounds: int
    herd_size: int
    record: bool
    results_file: Path
    keep_tmp: bool
    verbose: bool
    peers: Path
    peers_home: Path
    tools_home: Path
    upstream: str
    mirror_port: int
    proxpi_port: int
    devpi_port: int
    nginx_port: int
    log_level: str
    holes_delay: int
    start_timeout: int
    peer_start_timeout: int
    max_runtime: int
    python: str

    def has(self, phase: str) -> bool:
        return phase in self.phases

    @property
    def main_mirror(self) -> bool:
        """Whether any phase runs on the main mirror instances (real upstream, one per WORKERS count)."""
        return any(p in self.phases for p in MAIN_MIRROR_PHASES)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, home: Path | None = None,
                 which: Callable[[str], str | None] = shutil.which) -> Settings:
        """Parse the knobs from ``environ``. Raises SettingsError naming the first bad variable."""
        env = _Env(environ)
        home = home or Path.home()
        profile = env.flag("PROFILE", False)
        phases = select_phases(env, profile)
        duration = env.text("DURATION", "5s")
        shared = env.text("SHARED", "")  # the suite's peers once lived in <SHARED>/peers
        settings = cls(
            phases=phases,
            projects=parse_list(env.text("PROJECTS", "requests setuptools")),
            tiers=parse_list(env.text("TIERS", "all reviewed vetted")),
            workers=tuple(_ints("WORKERS", env.text("WORKERS", "1 2"))),
            more_workers_tiers=parse_list(env.text("MORE_WORKERS_TIERS", "all")),
            duration=duration, dur_s=parse_duration(duration),
            conns=env.integer("CONNS", 32, 1), threads=env.integer("THREADS", 2, 1),
            with_proxpi=env.flag("WITH_PROXPI", True), with_devpi=env.flag("WITH_DEVPI", True),
            with_nginx=env.flag("WITH_NGINX", which("nginx") is not None),
            profile=profile or "profile" in phases,
            soak=env.integer("SOAK", 60, 1), cold_n=env.integer("COLD_N", 10, 1),
            wheel_project=env.text("WHEEL_PROJECT", "numpy"),
            wheel_file=env.text("WHEEL_FILE", _WHEEL),
            wheel_n=env.integer("WHEEL_N", 7, 1),
            concurrent=env.integer("CONCURRENT", 50, 1), concurrent_rounds=env.integer("CONCURRENT_ROUNDS", 3, 1),
            install_set=env.path("INSTALL_SET", BENCH_DIR / "install-set.txt"),
            install_workers=env.integer("INSTALL_WORKERS", 1, 1),
            install_timeout=env.integer("INSTALL_TIMEOUT", 240, 1),
            big_files=env.integer("BIG_FILES", 15000, 1), big_n=env.integer("BIG_N", 3, 1),
            big_vetted_versions=env.integer("BIG_VETTED_VERSIONS", 10, 1),
            small_files=env.integer("SMALL_FILES", 250, 1),
            cold_load=env.integer("COLD_LOAD", 10, 1), wuc_rounds=env.integer("WUC_ROUNDS", 3, 1),
            wuc_warm_n=env.integer("WUC_WARM_N", 1000, 10),
            list_size=env.integer("LIST_SIZE", 700_000, 1), list_n=env.integer("LIST_N", 3, 1),
            nodes_database_url=env.text("NODES_DATABASE_URL", env.text("MIRROR_TEST_DATABASE_URL", "")),
            herd=env.integer("HERD", 100, 1), herd_rounds=env.integer("HERD_ROUNDS", 3, 1),
            herd_size=env.integer("HERD_SIZE", 8 * 1024 * 1024, 1),
            record=env.flag("RECORD", False),
            results_file=env.path("RESULTS_FILE", BENCH_DIR / "RESULTS.md"),
            keep_tmp=env.flag("KEEP_TMP", False), verbose=env.flag("VERBOSE", False),
            peers=env.path("PEERS_DIR", Path(shared) / "peers" if shared else BENCH_DIR / "peers"),
            peers_home=env.path("PEERS_HOME", home / ".cache" / "mirror-peers"),
            tools_home=env.path("BENCH_TOOLS", home / ".cache" / "mirror-bench-tools"),
            upstream=env.text("UPSTREAM", "pypi"),  # the mirror's keyword for the public index
            mirror_port=env.integer("MIRROR_PORT", 8090, 1), proxpi_port=env.integer("PROXPI_PORT", 5000, 1),
            devpi_port=env.integer("DEVPI_PORT", 3141, 1), nginx_port=env.integer("NGINX_PORT", 8081, 1),
            log_level=environ.get("MIRROR_LOG_LEVEL", "warning"),  # set but empty: the mirror's default
            holes_delay=env.integer("HOLES_DELAY", 3600, 0),
            start_timeout=env.integer("MIRROR_START_TIMEOUT", 60, 1),
            peer_start_timeout=env.integer("PEER_START_TIMEOUT", 300, 1),
            max_runtime=env.integer("MAX_RUNTIME", 1500, 10),
            python=env.text("PYTHON", sys.executable),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raises SettingsError on values that parse but cannot work together."""
        for p in self.projects:
            if not _NAME.fullmatch(p):
                raise SettingsError(f"PROJECTS: {p!r} is not a normalized project name")
        for knob, tiers in (("TIERS", self.tiers), ("MORE_WORKERS_TIERS", self.more_workers_tiers)):
            for t in tiers:
                if t not in TIERS_ALL:
                    raise SettingsError(f"{knob}: unknown tier {t!r}; tiers are {', '.join(TIERS_ALL)}")
        if not self.workers:
            raise SettingsError("WORKERS: at least one worker count is needed")
        if self.main_mirror and not self.projects:
            raise SettingsError("PROJECTS: the warm-page phases need at least one project")
        if self.log_level and self.log_level not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"MIRROR_LOG_LEVEL={self.log_level!r}: debug, info, warning, error or empty")


def _ints(knob: str, text: str) -> list[int]:
    try:
        values = [int(w) for w in parse_list(text)]
    except ValueError:
        raise SettingsError(f"{knob}={text!r} is not a list of whole numbers") from None
    if any(v < 1 for v in values):
        raise SettingsError(f"{knob}={text!r}: every count must be at least 1")
    return values
