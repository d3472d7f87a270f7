"""Dependencies flow one way, and the folders show it: cli/web → services → adapters → core.

Checked by package, from the source (every import, relative ones resolved), so a new module is covered
without editing a list. ``mirror.config`` (a package whose modules import each other) and
``mirror.resources`` are settings shared by every layer above the core.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mirror

PACKAGE = Path(mirror.__file__).resolve().parent
#: layer → the layers (and shared modules) it may import from
ALLOWED = {
    "core": {"core"},
    "adapters": {"core", "adapters", "config"},
    "services": {"core", "adapters", "services", "config", "resources"},
    "web": {"core", "adapters", "services", "web", "config", "resources"},
    "cli": {"core", "adapters", "services", "web", "cli", "config", "resources"},
    "config": {"core", "config"},
    "resources": set(),
}
#: third-party frameworks the pure core must never import
IO_FRAMEWORKS = ("aiohttp", "sqlalchemy", "aiofiles", "aiosqlite", "asyncpg", "aiobotocore", "botocore")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append(name)
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "mirror" else None


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_belongs_to_a_layer() -> None:
    for path in _sources():
        module = _module_name(path)
        if module in ("mirror", "mirror.__main__"):
            continue
        assert _layer(module) in ALLOWED, f"{module} is outside the layers {sorted(ALLOWED)}"


def test_dependencies_flow_one_way() -> None:
    wrong = []
    for path in _sources():
        module = _module_name(path)
        layer = _layer(module)
        if layer not in ALLOWED:
            continue  # mirror/__init__.py and __main__.py: the entry points
        for imported in _imports(path):
            target = _layer(imported)
            if imported.startswith("mirror") and target is not None and target not in ALLOWED[layer]:
                wrong.append(f"{module} imports {imported} ({layer} → {target})")
    assert wrong == []


def test_core_never_imports_an_io_framework() -> None:
    wrong = []
    for path in _sources():
        module = _module_name(path)
        if _layer(module) != "core":
            continue
        for imported in _imports(path):
            if imported.split(".")[0] in IO_FRAMEWORKS:
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_importing_the_core_loads_no_io_framework() -> None:
    """Transitively too: importing every core module pulls in none of the I/O frameworks."""
    modules = [_module_name(p) for p in _sources() if _layer(_module_name(p)) == "core"]
    code = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
            f"print(sorted(m for m in {list(IO_FRAMEWORKS)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
