#!/usr/bin/env python3
"""Mutation testing of the decision core: run mutmut, print the score per module, fail below the target.

What is mutated and which tests run are configured in pyproject.toml: ``[tool.mutmut]`` (``only_mutate``: a
module joins with one line; ``pytest_add_cli_args_test_selection``: the fast pure tests). This script's own
settings are in ``[tool.mirror.mutation]``: ``target`` (per cent of non-equivalent mutants killed, in every
module), ``ci_modules`` (the decision modules CI checks on every run) and ``decision_functions`` (functions
that decide what a tier admits: no mutant of theirs may survive, whatever the score). Mutants reviewed as
equivalent (no test can tell them from the original) are listed, each with its reason, in
tools/mutation-equivalents.toml; an entry whose mutated line no longer matches is stale and does not count.

Usage (from the repository root; see docs/testing.md):

    python tools/mutation.py                        # every configured module (about an hour on 2 busy cores)
    python tools/mutation.py --ci                   # the decision modules, strict (what .ci/run checks)
    python tools/mutation.py mirror/core/hashes.py  # one or more modules, e.g. while killing survivors
    python tools/mutation.py --report               # only print the scores of the last run (no run)

Exit status: 0 when every module reached the target (and, with --strict or --ci, no mutant of a deciding
function survived), 1 otherwise, 2 when the run itself failed (its log is mutants/mutation.log).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "tools" / "mutation-equivalents.toml"
LOG = Path("mutants") / "mutation.log"

#: mutmut's exit codes (mutmut.stats.status_by_exit_code), folded into what a score needs.
KILLED_CODES = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout",
                255: "timeout", 37: "killed"}
MISSED_CODES = {0: "survived", 5: "no tests", 33: "no tests"}


@dataclass
class Module:
    """One mutated module's results."""

    path: str
    statuses: dict[str, str] = field(default_factory=dict)  # mutant name → status
    equivalent: set[str] = field(default_factory=set)

    @property
    def counted(self) -> int:
        return len(self.statuses) - len(self.equivalent)

    @property
    def killed(self) -> int:
        return sum(1 for s in self.statuses.values() if s in ("killed", "timeout"))

    @property
    def score(self) -> float:
        return 100.0 if not self.counted else 100.0 * self.killed / self.counted

    def missed(self) -> list[str]:
        caught = ("killed", "timeout")
        return sorted(n for n, s in self.statuses.items() if s not in caught and n not in self.equivalent)


def settings() -> tuple[dict[str, Any], dict[str, Any]]:
    """``[tool.mutmut]`` and ``[tool.mirror.mutation]`` of pyproject.toml."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    return tool["mutmut"], tool["mirror"]["mutation"]


def module_paths(mutmut: dict[str, Any]) -> list[str]:
    """Every configured module (the ``only_mutate`` patterns expanded), as repository paths."""
    found: list[str] = []
    for pattern in mutmut["only_mutate"]:
        found += sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern) if p.suffix == ".py")
    return [p for p in dict.fromkeys(found) if not p.endswith("__init__.py")]


def dotted(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def run_mutmut(paths: Sequence[str], max_children: int, fresh: bool) -> None:
    """Run mutmut over the mutants of ``paths``; raises SystemExit(2) with the log's tail when it fails."""
    if fresh:
        shutil.rmtree("mutants", ignore_errors=True)
    Path("mutants").mkdir(exist_ok=True)
    for path in paths:
        # mutmut keeps a copy newer than its source as it is; a module that joined only_mutate since the last
        # run was copied unmutated then, and would silently get no mutants: drop that copy so it is mutated.
        copy = Path("mutants") / path
        if copy.exists() and not Path(f"{copy}.meta").exists():
            copy.unlink()
    globs = [f"{dotted(p)}.*" for p in paths]
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *globs]
    # mutmut warns when started as "python -m mutmut" (its module is then imported twice); the console
    # script of the same interpreter avoids that.
    script = Path(sys.executable).with_name("mutmut")
    if script.exists():
        command[:3] = [str(script)]
    # MIRROR_MUTATION: property tests run fewer, derandomized examples per mutant (tests/core/test_advisory_matching.py)
    env = {**os.environ, "PYTHONHASHSEED": "0", "MIRROR_MUTATION": "1"}
    with LOG.open("w", encoding="utf-8") as log:
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        text = LOG.read_text(encoding="utf-8", errors="replace").replace("\r", "\n")
        tail = [line for line in text.splitlines() if line.strip()][-40:]
        print("\n".join(tail), file=sys.stderr)
        print(f"mutmut failed (exit {code}); the whole log is {LOG}", file=sys.stderr)
        raise SystemExit(2)


def load_results(paths: Iterable[str]) -> dict[str, Module]:
    """Each module's mutant statuses, from the ``.meta`` files mutmut writes beside the mutated copies."""
    import json

    modules = {}
    for path in paths:
        meta = Path("mutants") / f"{path}.meta"
        module = modules[path] = Module(path)
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        for name, code in codes.items():
            if code is None:
                status = "not checked"
            else:
                status = KILLED_CODES.get(code) or MISSED_CODES.get(code) or f"exit {code}"
            module.statuses[name] = status
    return modules


def mutant_change(name: str, path: str) -> str:
    """The lines a mutant changes, as ``-old`` / ``+new`` lines (what the equivalents list records)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=path)
    return "\n".join(line.rstrip() for line in diff.splitlines()[2:]
                     if line[:1] in "+-" and line.strip() not in ("+", "-"))


def _norm(change: str) -> str:
    return "\n".join(line[0] + " ".join(line[1:].split()) for line in change.strip().splitlines() if line.strip())


def apply_equivalents(modules: dict[str, Module]) -> list[str]:
    """Mark the reviewed equivalent mutants; returns a problem per stale entry."""
    entries = tomllib.loads(EQUIVALENTS.read_text(encoding="utf-8")).get("equivalent", [])
    problems = []
    by_name = {name: m for m in modules.values() for name in m.statuses}
    for entry in entries:
        name, change, reason = entry.get("mutant"), entry.get("change", ""), entry.get("reason", "")
        module = by_name.get(name)
        if module is None:
            if any(dotted(p) in str(name) for p in modules):
                problems.append(f"{name}: listed as equivalent, but there is no such mutant (the code changed?)")
            continue
        if not reason.strip():
            problems.append(f"{name}: listed as equivalent without a reason")
            continue
        now = mutant_change(name, module.path)
        if _norm(now) != _norm(change):
            problems.append(f"{name}: listed as equivalent for\n{change}\n  but it now changes\n{now}")
            continue
        if module.statuses[name] in ("killed", "timeout"):
            problems.append(f"{name}: listed as equivalent, but a test kills it (remove it from the list)")
            continue
        module.equivalent.add(name)
    return problems


def is_decision(name: str, patterns: Sequence[str]) -> bool:
    function = name.rsplit("__mutmut_", 1)[0]
    return any(fnmatch.fnmatchcase(function, p) for p in patterns)


def report(modules: dict[str, Module], target: float, decision: Sequence[str], problems: list[str],
           show: bool, strict: bool = False) -> int:
    problems_to_warn: list[str] = []
    width = max(len(p) for p in modules)
    print(f"{'module':{width}}  mutants  killed  survived  no tests  equivalent   score")
    failed = []
    for m in modules.values():
        counts = Counter(m.statuses.values())
        survived = counts["survived"] - sum(1 for n in m.equivalent if m.statuses[n] == "survived")
        no_tests = counts["no tests"] - sum(1 for n in m.equivalent if m.statuses[n] == "no tests")
        flag = "" if m.score >= target else "  < target"
        print(f"{m.path:{width}}  {len(m.statuses):7}  {m.killed:6}  {survived:8}  {no_tests:8}  "
              f"{len(m.equivalent):10}  {m.score:5.1f}%{flag}")
        if not m.statuses:
            failed.append(f"{m.path}: no mutant results (was it run?)")
        elif counts["not checked"]:
            failed.append(f"{m.path}: {counts['not checked']} mutants not checked (the run was cut short)")
        elif m.score < target:
            failed.append(f"{m.path}: {m.score:.1f}% of non-equivalent mutants killed, below the {target:g}% target")
    total = sum(m.counted for m in modules.values())
    killed = sum(m.killed for m in modules.values())
    print(f"{'all':{width}}  {sum(len(m.statuses) for m in modules.values()):7}  {killed:6}  "
          f"{'':8}  {'':8}  {sum(len(m.equivalent) for m in modules.values()):10}  "
          f"{100.0 * killed / total if total else 100.0:5.1f}%")
    decisive = [n for m in modules.values() for n in m.missed() if is_decision(n, decision)]
    if decisive:
        # A failure with --strict (and --ci): a surviving mutant there may admit what a tier must not serve.
        (failed if strict else problems_to_warn).append(
            f"{len(decisive)} mutants of functions that decide what a tier admits survived")
    missed = {n: m.path for m in modules.values() for n in m.missed()}
    if show or decisive:
        for name, path in missed.items():
            if show or name in decisive:
                try:
                    change = mutant_change(name, path)
                except (OSError, ValueError) as exc:  # mutants/ gone or changed since the run
                    change = f"(no diff: {exc})"
                print(f"\n{name} ({modules[path].statuses[name]})\n{change}")
    for problem in problems:
        print(f"equivalents list: {problem}", file=sys.stderr)
    for problem in problems_to_warn:
        print(f"WARNING: {problem}", file=sys.stderr)
    for problem in failed:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if failed or problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="repository paths of modules to mutate (default: all)")
    parser.add_argument("--ci", action="store_true", help="only the decision modules CI checks")
    parser.add_argument("--report", action="store_true", help="print the last run's scores, run nothing")
    parser.add_argument("--keep", action="store_true", help="reuse mutants/ (default: start afresh)")
    parser.add_argument("--show-survivors", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--strict", action="store_true",
                        help="fail when a deciding function's mutant survives (always so with --ci)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--nice", type=int, default=10, help="niceness of the run (default 10)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    mutmut, ours = settings()
    everything = module_paths(mutmut)
    if args.modules:
        unknown = [p for p in args.modules if p not in everything]
        if unknown:
            parser.error(f"not configured in [tool.mutmut] only_mutate: {', '.join(unknown)}")
        paths = list(args.modules)
    elif args.ci:
        paths = [p for p in everything if any(fnmatch.fnmatchcase(p, c) for c in ours["ci_modules"])]
    else:
        paths = everything
    if not args.report:
        if args.nice:
            os.nice(args.nice)
        run_mutmut(paths, args.max_children, fresh=not args.keep and not args.modules)
    sys.path.insert(0, str(ROOT / "mutants"))
    modules = load_results(paths)
    problems = apply_equivalents(modules)
    return report(modules, float(ours["target"]), ours["decision_functions"], problems, args.show_survivors,
                  args.strict or args.ci)


if __name__ == "__main__":
    sys.exit(main())
