"""Line numbers of tables and keys in a TOML text, so errors and ``explain`` can point at them.

A light scanner, not a parser: it follows ``[table]`` / ``[[array]]`` headers and ``key =`` lines, which
is all policy files use. Array-of-tables entries are addressed by their index, e.g. ``("block", 0)``.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*[=.]""")


def _split_dotted(text: str) -> list[str]:
    parts, current, quote = [], "", None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            else:
                current += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'" else key


class Locator:
    """Maps table paths and (table path, key) pairs of one TOML text to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._tables: dict[tuple, int] = {}
        self._keys: dict[tuple, int] = {}
        arrays: dict[tuple, int] = {}
        current: tuple = ()
        in_multiline = False
        for number, line in enumerate(text.splitlines(), start=1):
            if in_multiline:
                if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                    in_multiline = False
                continue
            header = _HEADER.match(line)
            if header and not line.lstrip().startswith("#"):
                parts = tuple(_split_dotted(header.group(2)))
                if header.group(1) == "[[":
                    index = arrays.get(parts, -1) + 1
                    arrays[parts] = index
                    current = (*parts, index)
                else:
                    current = parts
                self._tables.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if key:
                self._keys.setdefault((current, _unquote(key.group(1))), number)
                if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                    in_multiline = True

    def table_line(self, path: tuple) -> int | None:
        """Line of the table's header (or of the key that defines it inline), None for the top level."""
        if not path:
            return None
        if path in self._tables:
            return self._tables[path]
        return self._keys.get((path[:-1], path[-1]))

    def key_line(self, path: tuple, key: str) -> int | None:
        """Line of ``key`` inside the table at ``path``; the key's own table header if it is a table."""
        return self._keys.get((path, key)) or self._tables.get((*path, key)) or self.table_line(path)
