"""The dependency closure over plain values: markers per target, extras chains, cycles, holes, bounds, build
requirements, and the async driver sharing the one walk."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement

from mirror.core.buildsystem import DEFAULT_BACKEND, build_requirements
from mirror.core.closure import (
    BUILD,
    Closure,
    ClosureWalk,
    Missing,
    Need,
    Release,
    closure,
    closure_async,
)
from mirror.core.metadata import CoreMetadata, parse_metadata
from mirror.core.requirements import DependencyFileError
from mirror.core.targets import Target

LINUX_312 = Target("3.12")
LINUX_39 = Target("3.9")
WIN_311 = Target("3.11", "windows-amd64")
MAC_ARM = Target("3.13", "macos-arm64")
PYPY_ARM = Target("3.10", "linux-aarch64", "pypy")


def meta(name: str, version: str, *requires: str, extras: tuple[str, ...] = (), python: str | None = None
         ) -> CoreMetadata:
    """Metadata built the way upstream's would be read: through the real parser."""
    lines = ["Metadata-Version: 2.4", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Python: {python}"] if python else []
    lines += [f"Provides-Extra: {e}" for e in extras] + [f"Requires-Dist: {r}" for r in requires]
    return parse_metadata("\n".join(lines) + "\n")


class Index:
    """A provider over a dict of project → metadata (or Missing); records what it was asked."""

    def __init__(self, *releases: CoreMetadata | tuple[str, Missing]) -> None:
        self.releases: dict[str, CoreMetadata | Missing] = {}
        for release in releases:
            if isinstance(release, tuple):
                self.releases[release[0]] = release[1]
            else:
                self.releases[release.canonical_name] = release
        self.asked: list[Need] = []

    def __call__(self, need: Need) -> CoreMetadata | Missing | None:
        self.asked.append(need)
        return self.releases.get(need.project)


def roots(*texts: str) -> list[Requirement]:
    return [Requirement(t) for t in texts]


FLASK = Index(
    meta("Flask", "3.0.3", "Werkzeug>=3.0.0", "Jinja2>=3.1.2", "itsdangerous>=2.1.2", "click>=8.1.3",
         "blinker>=1.6.2", 'importlib-metadata>=3.6.0; python_version < "3.10"', 'asgiref>=3.2; extra == "async"',
         'python-dotenv; extra == "dotenv"', extras=("async", "dotenv")),
    meta("Werkzeug", "3.0.4", "MarkupSafe>=2.1.1", 'watchdog>=2.3; extra == "watchdog"', extras=("watchdog",)),
    meta("Jinja2", "3.1.4", "MarkupSafe>=2.0", 'Babel>=2.7; extra == "i18n"', extras=("i18n",)),
    meta("itsdangerous", "2.2.0"),
    meta("click", "8.1.7", 'colorama; platform_system == "Windows"'),
    meta("blinker", "1.8.2"),
    meta("MarkupSafe", "2.1.5"),
    meta("colorama", "0.4.6"),
    meta("importlib_metadata", "8.5.0", "zipp>=3.20", 'typing-extensions>=3.6.4; python_version < "3.8"'),
    meta("zipp", "3.20.2"),
    meta("asgiref", "3.8.1", 'typing_extensions>=4; python_version < "3.11"'),
    meta("typing_extensions", "4.12.2"),
    meta("python-dotenv", "1.0.1"),
)


def test_a_real_shaped_closure_with_edges() -> None:
    result = closure(roots("flask"), FLASK, [LINUX_312])
    assert list(result.projects) == ["flask", "werkzeug", "jinja2", "itsdangerous", "click", "blinker", "markupsafe"]
    assert result.holes == () and result.unsatisfied == () and result.skipped == () and result.complete
    markupsafe = result.projects["markupsafe"]
    assert (markupsafe.version, markupsafe.depth) == ("2.1.5", 2)
    assert [e.describe() for e in markupsafe.needed_by] == [
        "needed by werkzeug 3.0.4 (MarkupSafe>=2.1.1)", "needed by jinja2 3.1.4 (MarkupSafe>=2.0)"]
    assert result.projects["flask"].needed_by[0].describe() == "a root requirement (flask)"
    assert result.targets == ("cpython3.12-linux-x86_64",)


@pytest.mark.parametrize(
    ("targets", "present", "absent"),
    [
        ([LINUX_312], set(), {"colorama", "importlib-metadata", "zipp"}),
        ([LINUX_39], {"importlib-metadata", "zipp"}, {"colorama", "typing-extensions"}),
        ([WIN_311], {"colorama"}, {"importlib-metadata"}),
        ([MAC_ARM], set(), {"colorama", "importlib-metadata"}),
        ([LINUX_312, WIN_311, LINUX_39], {"colorama", "importlib-metadata", "zipp"}, {"typing-extensions"}),
    ],
    ids=["linux-3.12", "linux-3.9", "windows", "macos", "all-three"],
)
def test_markers_are_evaluated_per_target(targets: list[Target], present: set[str], absent: set[str]) -> None:
    result = closure(roots("flask"), FLASK, targets)
    assert present <= set(result.projects) and not absent & set(result.projects)


def test_edges_and_projects_carry_the_targets_they_hold_on() -> None:
    result = closure(roots("flask"), FLASK, [LINUX_312, WIN_311, LINUX_39])
    (colorama_edge,) = result.projects["colorama"].needed_by
    assert colorama_edge.targets == ("cpython3.11-windows-amd64",)
    assert result.projects["zipp"].targets == ("cpython3.9-linux-x86_64",)
    assert result.projects["click"].targets == tuple(t.label for t in (LINUX_312, WIN_311, LINUX_39))


@pytest.mark.parametrize(
    ("marker", "target", "needed"),
    [
        ('python_version >= "3.11"', LINUX_312, True),
        ('python_version >= "3.11"', LINUX_39, False),
        ('python_full_version < "3.9.2"', LINUX_39, True),
        ('sys_platform == "win32"', WIN_311, True),
        ('sys_platform == "linux"', MAC_ARM, False),
        ('sys_platform == "darwin" and platform_machine == "arm64"', MAC_ARM, True),
        ('platform_machine == "x86_64"', PYPY_ARM, False),
        ('platform_machine == "aarch64"', PYPY_ARM, True),
        ('implementation_name == "pypy"', PYPY_ARM, True),
        ('implementation_name == "cpython"', PYPY_ARM, False),
        ('platform_python_implementation != "PyPy"', LINUX_312, True),
        ('os_name == "nt"', WIN_311, True),
        ('extra == "socks"', LINUX_312, False),
        # the kernel is unknown on a target: kept, not silently dropped
        ('platform_release >= "6"', LINUX_312, True),
        ('platform_release < "6"', LINUX_312, True),
        ('"microsoft" in platform_release', LINUX_312, True),
        ('platform_version == "x" and sys_platform == "win32"', LINUX_312, False),
    ],
)
def test_marker_table(marker: str, target: Target, needed: bool) -> None:
    index = Index(meta("app", "1", f"dep; {marker}"), meta("dep", "1"))
    assert ("dep" in closure(roots("app"), index, [target]).projects) is needed


def test_extras_chain_through_dependencies() -> None:
    index = Index(
        meta("app", "1", "web[server]>=2"),
        meta("web", "2.0", "core", 'uvicorn[standard]; extra == "server"', extras=("server",)),
        meta("uvicorn", "0.30", "h11", 'uvloop; extra == "standard" and sys_platform != "win32"',
             'websockets>=10; extra == "standard"', extras=("standard",)),
        meta("core", "1"), meta("h11", "0.14"), meta("uvloop", "0.20"), meta("websockets", "13"),
    )
    result = closure(roots("app"), index, [LINUX_312])
    assert set(result.projects) == {"app", "web", "core", "uvicorn", "h11", "uvloop", "websockets"}
    assert result.projects["web"].extras == ("server",) and result.projects["uvicorn"].extras == ("standard",)
    (edge,) = result.projects["uvloop"].needed_by
    assert edge.describe() == ('needed by uvicorn 0.30[standard] '
                               '(uvloop; extra == "standard" and sys_platform != "win32")')
    assert edge.extra == "standard"
    windows = closure(roots("app"), index, [WIN_311])
    assert "uvloop" not in windows.projects and "websockets" in windows.projects


def test_an_extra_asked_later_adds_its_requirements_without_asking_again() -> None:
    index = Index(meta("a", "1", "lib", "b"), meta("b", "1", "lib[fast]"),
                  meta("lib", "1", 'speedups; extra == "fast"', extras=("fast",)), meta("speedups", "1"))
    result = closure(roots("a"), index)
    assert "speedups" in result.projects and result.projects["lib"].extras == ("fast",)
    assert [n.project for n in index.asked].count("lib") == 1


def test_self_referencing_extras() -> None:
    index = Index(
        meta("dask", "2024.8", "toolz", 'numpy; extra == "array"', 'pandas; extra == "dataframe"',
             'dask[array,dataframe]; extra == "complete"', extras=("array", "dataframe", "complete")),
        meta("toolz", "1"), meta("numpy", "2"), meta("pandas", "2"))
    result = closure(roots("dask[complete]"), index)
    assert set(result.projects) == {"dask", "toolz", "numpy", "pandas"}
    assert result.projects["dask"].extras == ("array", "complete", "dataframe")
    assert all(e.parent != "dask" or e.child != "dask" for p in result.projects.values() for e in p.needed_by)


def test_cycles_terminate_and_keep_both_edges() -> None:
    index = Index(meta("a", "1", "b"), meta("b", "1", "c"), meta("c", "1", "a>=1", "b"))
    result = closure(roots("a"), index)
    assert list(result.projects) == ["a", "b", "c"] and result.complete
    assert [e.describe() for e in result.projects["a"].needed_by] == ["a root requirement (a)",
                                                                     "needed by c 1 (a>=1)"]
    assert len(index.asked) == 3


def test_a_chain_several_levels_deep() -> None:
    chain = [meta(f"level{i}", "1.0", f"level{i + 1}>=1") for i in range(8)] + [meta("level8", "1.0")]
    result = closure(roots("level0"), Index(*chain))
    assert [(p.name, p.depth) for p in result.projects.values()] == [(f"level{i}", i) for i in range(9)]


def test_holes_name_the_exact_requirement_and_the_reason() -> None:
    index = Index(meta("requests", "2.34.2", "idna<4,>=2.5", "urllib3<3,>=1.21.1", "certifi>=2017.4.17"),
                  meta("certifi", "2024.8.30"), ("idna", Missing("is not in reviewed", "mirror promote idna")))
    result = closure(roots("requests"), index)
    assert [h.fix for h in result.holes] == ["mirror promote idna", None]  # the provider's fix, per hole
    assert [h.describe() for h in result.holes] == [
        "requests 2.34.2 needs idna<4,>=2.5: idna is not in reviewed",
        "requests 2.34.2 needs urllib3<3,>=1.21.1: urllib3 is not available"]
    assert [h.edge.requirement for h in result.holes] == [Requirement("idna<4,>=2.5"),
                                                           Requirement("urllib3<3,>=1.21.1")]
    assert not result.complete and set(result.projects) == {"requests", "certifi"}
    root_hole = closure(roots("nothere>=1"), index).holes
    assert [h.describe() for h in root_hole] == ["the root requirements need nothere>=1: nothere is not available"]


def test_a_release_outside_a_requirement_is_reported_unsatisfied() -> None:
    index = Index(meta("app", "1", "idna<3", "lib"), meta("lib", "1", "idna>=3"), meta("idna", "3.10"))
    result = closure(roots("app"), index)
    assert [u.describe() for u in result.unsatisfied] == ["app 1 needs idna<3, but idna 3.10 is followed"]


def test_notes_for_unknown_extras_requires_python_and_bad_metadata() -> None:
    index = Index(meta("app", "1", "lib[nope]", "new"), meta("lib", "1"), meta("new", "2", python=">=3.13"))
    bad = parse_metadata("Metadata-Version: 2.1\nName: lib\nVersion: 1\nRequires-Dist: not valid (\n")
    index.releases["lib"] = bad
    texts = [n.text for n in closure(roots("app"), index, [LINUX_312, MAC_ARM]).notes]
    assert "lib 1 has no extra 'nope'" in texts
    assert "new 2 requires Python >=3.13, not met on cpython3.12-linux-x86_64" in texts
    assert any(t.startswith("lib 1: invalid requirement 'not valid ('") for t in texts)


def test_a_root_whose_marker_holds_nowhere_is_noted_not_followed() -> None:
    index = Index(meta("pywin32", "306"))
    result = closure(roots("pywin32; sys_platform == 'win32'"), index, [LINUX_312])
    assert result.projects == {} and index.asked == [] and result.complete
    assert "is not needed" in result.notes[0].text


def test_metadata_naming_another_project_is_a_hole() -> None:
    index = Index(meta("app", "1", "dep"))
    index.releases["dep"] = meta("evil", "6.6.6", "malware")
    result = closure(roots("app"), index)
    assert [h.describe() for h in result.holes] == [
        "app 1 needs dep: dep has metadata that names another project ('evil')"]
    assert "malware" not in result.projects and "evil" not in result.projects


def test_depth_bound() -> None:
    chain = [meta(f"l{i}", "1", f"l{i + 1}") for i in range(10)] + [meta("l10", "1")]
    result = closure(roots("l0"), Index(*chain), max_depth=3)
    assert list(result.projects) == ["l0", "l1", "l2", "l3"] and not result.complete
    (skip,) = result.skipped
    assert (skip.project, skip.text) == ("l4", "not followed: deeper than 3 levels")
    assert skip.edge is not None and skip.edge.parent == "l3"


def test_size_bound() -> None:
    wide = Index(meta("hub", "1", *[f"leaf{i}" for i in range(50)]), *[meta(f"leaf{i}", "1") for i in range(50)])
    result = closure(roots("hub"), wide, max_projects=10)
    assert len(result.projects) == 10 and len(result.skipped) == 41
    assert result.skipped[0].text == "not followed: the closure reached 10 projects"


def test_needs_carry_every_requirement_on_the_project() -> None:
    index = Index(meta("a", "1", "shared>=1"), meta("b", "1", "shared<3"), meta("shared", "2"))
    closure(roots("a", "b"), index)
    (need,) = [n for n in index.asked if n.project == "shared"]
    assert need.requirements == (Requirement("shared>=1"), Requirement("shared<3"))


def test_the_walk_by_hand() -> None:
    walk = ClosureWalk(roots("a"), [LINUX_312])
    assert [n.project for n in walk.needs()] == ["a"]
    assert [n.project for n in walk.needs()] == ["a"], "asking again returns what is still unanswered"
    with pytest.raises(ValueError, match="not asked for"):
        walk.provide("b", None)
    with pytest.raises(ValueError, match="still needs metadata"):
        walk.result()
    walk.provide("A", Release(meta("a", "1", "b")))
    assert [n.project for n in walk.needs()] == ["b"]
    walk.provide("b", None)
    assert walk.needs() == () and walk.done
    assert isinstance(walk.result(), Closure) and walk.result().holes[0].reason == "is not available"


# --- build requirements -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("pyproject", "requires", "backend", "default"),
    [
        ('[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n', ["hatchling"],
         "hatchling.build", False),
        ('[build-system]\nrequires = ["setuptools>=61", "wheel"]\nbuild-backend = "setuptools.build_meta"\n',
         ["setuptools>=61", "wheel"], "setuptools.build_meta", False),
        ('[build-system]\nrequires = ["flit_core >=3.2,<4"]\nbuild-backend = "flit_core.buildapi"\n',
         ["flit_core<4,>=3.2"], "flit_core.buildapi", False),
        ('[tool.poetry]\nname = "x"\n\n[build-system]\nrequires = ["poetry-core>=1.0.0"]\n'
         'build-backend = "poetry.core.masonry.api"\n', ["poetry-core>=1.0.0"], "poetry.core.masonry.api", False),
        ('[build-system]\nrequires = ["setuptools", "cython; python_version < \'3.13\'"]\n',
         ["setuptools", 'cython; python_version < "3.13"'], DEFAULT_BACKEND, False),
        ('[project]\nname = "x"\n', ["setuptools>=40.8.0"], DEFAULT_BACKEND, True),
        (None, ["setuptools>=40.8.0"], DEFAULT_BACKEND, True),
    ],
    ids=["hatchling", "setuptools", "flit-core", "poetry-core", "marker", "no-build-system", "no-pyproject"],
)
def test_build_requirements(pyproject: str | None, requires: list[str], backend: str, default: bool) -> None:
    found = build_requirements(pyproject)
    assert [str(r) for r in found.requires] == requires
    assert (found.backend, found.default) == (backend, default)


@pytest.mark.parametrize(
    ("pyproject", "line", "key", "message"),
    [
        ("[build-system\nrequires = []\n", 1, None, "not valid TOML"),
        ('[build-system]\nbuild-backend = "x"\n', None, "build-system.requires", "must be a list"),
        ('[build-system]\nrequires = "hatchling"\n', None, "build-system.requires", "must be a list"),
        ('[build-system]\nrequires = ["ok", "not ok ("]\n', None, "build-system.requires[1]", "is not a requirement"),
        ('[build-system]\nrequires = []\nbuild-backend = 3\n', None, "build-system.build-backend", "must be a string"),
        ('build-system = 3\n', None, "build-system", "is not a table"),
    ],
)
def test_bad_build_system_names_file_and_key(pyproject: str, line: int | None, key: str | None, message: str) -> None:
    with pytest.raises(DependencyFileError, match=message) as caught:
        build_requirements(pyproject, "demo-1.0.tar.gz/pyproject.toml")
    assert (caught.value.file, caught.value.line, caught.value.key) == ("demo-1.0.tar.gz/pyproject.toml", line, key)


def test_build_requirements_join_the_closure_as_build_edges() -> None:
    hatch = build_requirements('[build-system]\nrequires = ["hatchling>=1.24"]\nbuild-backend = "hatchling.build"\n')
    index = Index(meta("app", "1", "sdist-only"), meta("hatchling", "1.25", "packaging>=24.2", "pluggy>=1.0"),
                  meta("packaging", "24.2"), meta("pluggy", "1.5"))

    def provider(need: Need) -> Release | CoreMetadata | Missing | None:
        if need.project == "sdist-only":
            return Release(meta("sdist-only", "0.9"), hatch.requires)
        return index(need)

    result = closure(roots("app"), provider)
    assert {"hatchling", "packaging", "pluggy"} <= set(result.projects)
    (edge,) = result.projects["hatchling"].needed_by
    assert (edge.kind, edge.describe()) == (BUILD, "needed to build sdist-only 0.9 (hatchling>=1.24)")


# --- the async driver ---------------------------------------------------------------------------------------

async def test_async_driver_gives_the_same_closure_whatever_the_answer_order() -> None:
    expected = closure(roots("flask[async,dotenv]"), FLASK, [LINUX_312, WIN_311, LINUX_39])
    rng = random.Random(7)
    running = 0
    peak = 0

    async def provider(need: Need) -> CoreMetadata | Missing | None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(rng.random() / 200)
        running -= 1
        return FLASK.releases.get(need.project)

    for _ in range(3):
        got = await closure_async(roots("flask[async,dotenv]"), provider, [LINUX_312, WIN_311, LINUX_39],
                                  concurrency=3)
        assert got == expected
        assert list(got.projects) == list(expected.projects)
    assert peak == 3


async def test_async_provider_failure_propagates_and_cancels_the_rest() -> None:
    cancelled = []

    async def provider(need: Need) -> CoreMetadata | None:
        if need.project == "werkzeug":
            raise ConnectionError("upstream down")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(need.project)
            raise
        return None

    walk_roots = roots("werkzeug", "jinja2", "click")
    with pytest.raises(ConnectionError, match="upstream down"):
        await asyncio.wait_for(closure_async(walk_roots, provider), timeout=5)
    assert sorted(cancelled) == ["click", "jinja2"]


# --- properties over random graphs ---------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.integers(2, 25).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.lists(st.integers(0, n - 1), max_size=5), min_size=n, max_size=n),
    st.sets(st.integers(1, n - 1), max_size=3))))
def test_closure_is_exactly_what_is_reachable(graph: tuple[int, list[list[int]], set[int]]) -> None:
    n, edges, missing = graph
    index = Index(*[meta(f"n{i}", "1", *[f"n{j}" for j in edges[i]]) for i in range(n) if i not in missing],
                  *[(f"n{i}", Missing()) for i in missing])
    reachable, stack = {0}, [0]
    while stack:
        node = stack.pop()
        if node in missing:
            continue
        for child in edges[node]:
            if child not in reachable:
                reachable.add(child)
                stack.append(child)
    result = closure(roots("n0"), index)
    assert set(result.projects) == {f"n{i}" for i in reachable - missing}
    assert {h.edge.child for h in result.holes} == {f"n{i}" for i in reachable & missing}
    assert sorted(need.project for need in index.asked) == sorted(f"n{i}" for i in reachable)
    for project in result.projects.values():
        assert all(e.child == project.name for e in project.needed_by)
        assert project.depth == 0 or any(result.projects[e.parent].depth == project.depth - 1
                                         for e in project.needed_by if e.parent in result.projects)
