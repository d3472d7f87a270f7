"""Reviewer commands as the mirror prints them, in hints, refusals and ``explain``.

Every word is shell-quoted (:func:`shlex.quote`), so pasting a printed command runs that command and
nothing else, whatever a project name, version or identity contains. Placeholders the reviewer fills in
(``NAME``, ``TEXT``, ``VERSION``, ``IDENTITY``) are plain words and print as they are. Only values that
were verified or that a reviewer gave belong in a command; upstream's unsigned claims never do.
"""

from __future__ import annotations

import shlex


def command(*words: str) -> str:
    """``words`` as one shell command line, each word quoted when it needs to be."""
    return " ".join(shlex.quote(w) for w in words)


def release(name: str, version: str | None) -> str:
    """The ``PROJECT==VERSION`` target of ``block``/``unblock`` (one word)."""
    return f"{name}=={version}"
