"""Locating files shipped beside the code (the jinja2 templates)."""

from __future__ import annotations

from pathlib import Path


def templates_dir() -> Path:
    """The ``templates/`` directory: inside the installed package (a wheel), or at the checkout root.

    Raises FileNotFoundError when neither exists (a broken installation).
    """
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "templates", package_dir.parent / "templates"):
        if (candidate / "project.html").is_file():
            return candidate
    raise FileNotFoundError(f"no templates/ directory next to {package_dir}")
