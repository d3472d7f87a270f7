"""Build hook (hatchling): compile the project list's native passes, ``mirror/core/simple/_scan*.c``.

They are optional: without a C compiler and Python's headers, or with ``MIRROR_NO_EXTENSIONS=1`` in the
environment, the package installs without them and uses the Python versions (``mirror/core/simple/scan.py``),
slower on a 700,000-name list. The extension is compiled with setuptools (which knows each platform's compiler
and flags) next to its source, as ``build_ext --inplace`` does, so that the checkout finds it too: the tests run
from the repository root, and an editable install imports the checkout.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

EXTENSION = "mirror.core.simple._scan"
SOURCES = ["mirror/core/simple/_scan.c", "mirror/core/simple/_scan_index.c"]
HEADERS = ["mirror/core/simple/_scan.h"]


def compile_extension(root: Path) -> Path:
    """Compile :data:`EXTENSION` in place under ``root``; the path of the built module. Raises what setuptools
    raises when it cannot (no compiler, no headers)."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    extension = Extension(EXTENSION, SOURCES, depends=HEADERS, extra_compile_args=["-O2"])
    here = Path.cwd()
    os.chdir(root)
    try:
        with tempfile.TemporaryDirectory() as temp:
            command = build_ext(Distribution({"name": "mirror", "ext_modules": [extension]}))
            command.inplace = True
            command.build_temp = temp
            command.ensure_finalized()
            command.run()
            return root / command.get_ext_filename(EXTENSION)
    finally:
        os.chdir(here)


class NativePassesHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the compiled module to the wheel (and leaves it in the checkout); warns and goes on without it."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("MIRROR_NO_EXTENSIONS"):
            return
        try:
            built = compile_extension(Path(self.root))
        except Exception as exc:  # noqa: BLE001 - any failure to compile leaves the Python versions in use
            self.app.display_warning(f"mirror: the native list passes were not built ({exc}); "
                                     "the Python versions will be used")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":  # an editable install imports the checkout, where the module now is
            build_data["force_include"][str(built)] = built.relative_to(self.root).as_posix()
