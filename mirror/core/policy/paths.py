"""Policy file locations as anonymous clients may see them: relative to the policy directory. Pure."""

from __future__ import annotations

from typing import Any

#: What the policy directory itself is called in text shown to clients.
DIRECTORY_NAME = "<policy directory>"


def relative_paths(value: Any, directory: str) -> Any:
    """``value`` (a string, or lists and dicts of them, as JSON answers are built) with every mention of
    ``directory`` made relative: ``/srv/policies/projects/x.toml`` becomes ``projects/x.toml``; the directory
    itself becomes :data:`DIRECTORY_NAME`. Other values are returned unchanged."""
    if isinstance(value, str):
        root = directory.rstrip("/")
        if not root:
            return value
        return value.replace(root + "/", "").replace(root, DIRECTORY_NAME)
    if isinstance(value, dict):
        return {k: relative_paths(v, directory) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [relative_paths(v, directory) for v in value]
    return value
