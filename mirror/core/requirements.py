"""Requirements files (pip's format) read into requirement entries that remember their file and line.

The grammar is pip's: ``#`` comments, ``\\`` line continuations, ``${VAR}`` expansion (from a mapping
the caller gives), ``-r``/``-c`` includes, global options (``--index-url`` and friends, which a mirror
decides for itself and so only reports), per-requirement ``--hash`` options, and lines that name a URL,
a path or an editable checkout — reported as not promotable, since a curated index cannot serve them.
Includes are read through a callback the caller gives, so this module stays pure. Every error names the
file and the line.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urljoin

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from .depfiles import DependencyFileError, digest_problem

__all__ = ["DependencyFileError", "RequirementEntry", "RequirementsSet", "parse_requirements", "resolve_include"]

#: Largest requirements file read (real ones are a few KiB; a hash-pinned one a few hundred).
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Deepest chain of ``-r``/``-c`` includes followed.
MAX_INCLUDE_DEPTH = 16
#: Hash algorithms pip accepts in ``--hash`` (it refuses weaker ones).
HASH_ALGORITHMS = ("sha256", "sha384", "sha512")

#: A reader of included files: (including file, reference as written) → (file name, text).
#: It raises OSError or LookupError when the reference cannot be read.
Include = Callable[[str, str], tuple[str, str]]

_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
_ARCHIVE = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar", ".tar.lz", ".tlz")
_VCS = ("git+", "hg+", "svn+", "bzr+")
_URL_REQUIREMENT = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")

_INCLUDES = {"-r": False, "--requirement": False, "-c": True, "--constraint": True}
_EDITABLE = ("-e", "--editable")
#: Options that take a value and that a mirror decides itself: reported, never obeyed.
_IGNORED_WITH_VALUE = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host",
                       "--no-binary", "--only-binary", "--use-feature", "--global-option", "--config-settings")
_IGNORED_FLAGS = ("--no-index", "--pre", "--prefer-binary", "--require-hashes")
#: Options pip allows on a requirement line besides ``--hash``.
_PER_REQUIREMENT = ("--global-option", "--config-settings")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an entry came from: the file (as the caller or include callback named it) and its line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class RequirementEntry:
    """One requirement line: the PEP 508 requirement, its ``--hash`` values (algorithm → hex digests)
    and where it was written. ``constraint`` is True for lines read from a ``-c`` file."""

    requirement: Requirement
    origin: Origin
    hashes: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    constraint: bool = False

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)


@dataclass(frozen=True, slots=True)
class Unpromotable:
    """A line naming something a curated index cannot serve (URL, local path, editable checkout)."""

    text: str
    origin: Origin
    reason: str
    name: NormalizedName | None = None
    editable: bool = False


@dataclass(frozen=True, slots=True)
class IgnoredOption:
    """A global option (``--index-url`` …) that the mirror does not obey; reported so nothing is silent."""

    option: str
    value: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class RequirementsSet:
    """Everything a requirements file (and its includes) says, in file order."""

    requirements: tuple[RequirementEntry, ...]
    constraints: tuple[RequirementEntry, ...] = ()
    unpromotable: tuple[Unpromotable, ...] = ()
    ignored: tuple[IgnoredOption, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[NormalizedName, ...]:
        """The projects the requirements name, each once, in first-mention order."""
        return tuple(dict.fromkeys(entry.name for entry in self.requirements))


def resolve_include(including: str, reference: str) -> str:
    """Where pip looks for ``-r reference`` written in ``including``: relative to the including file's
    directory (or URL), unless ``reference`` is absolute or a URL itself. Pure string work."""
    if "://" in reference or reference.startswith("/"):
        return reference
    if "://" in including:
        return urljoin(including, reference)
    return posixpath.normpath(posixpath.join(posixpath.dirname(including), reference))


def parse_requirements(text: str, file: str = "requirements.txt", *, include: Include | None = None,
                       environ: Mapping[str, str] | None = None,
                       max_bytes: int = MAX_FILE_BYTES) -> RequirementsSet:
    """Parse a requirements file.

    ``include`` reads the files named by ``-r``/``-c`` (without it, an include is an error);
    ``environ`` supplies ``${VAR}`` values (unset ones stay as written, as with pip). Raises
    :class:`DependencyFileError` naming the file and line of the first line that is not valid.
    """
    reader = _Reader(include, environ or {}, max_bytes)
    reader.read(file, text, constraint=False, stack=())
    return RequirementsSet(tuple(reader.requirements), tuple(reader.constraints), tuple(reader.unpromotable),
                           tuple(reader.ignored), tuple(reader.files))


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line number, content) of each logical line, comments and blanks dropped.

    Continuations join as pip joins them: a trailing backslash glues the next line on, and a comment
    line ends the continuation.
    """
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    first = 0
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if not line.endswith("\\") or _COMMENT.match(line):
            if _COMMENT.match(line):
                line = " " + line
            if pending:
                out.append((first, "".join(pending) + line))
                pending = []
            else:
                out.append((number, line))
        else:
            if not pending:
                first = number
            pending.append(line.strip("\\"))
    if pending:
        out.append((first, "".join(pending)))
    return [(number, stripped) for number, line in out if (stripped := _COMMENT.sub("", line).strip())]


class _Reader:
    """Accumulates entries across a file and its includes (one instance per parse)."""

    def __init__(self, include: Include | None, environ: Mapping[str, str], max_bytes: int) -> None:
        self.include, self.environ, self.max_bytes = include, environ, max_bytes
        self.requirements: list[RequirementEntry] = []
        self.constraints: list[RequirementEntry] = []
        self.unpromotable: list[Unpromotable] = []
        self.ignored: list[IgnoredOption] = []
        self.files: list[str] = []

    def read(self, file: str, text: str, *, constraint: bool, stack: tuple[str, ...]) -> None:
        if len(text) > self.max_bytes:
            raise DependencyFileError(file, f"{len(text)} characters is more than the {self.max_bytes} accepted")
        self.files.append(file)
        for number, line in logical_lines(text):
            line = _ENV_VAR.sub(lambda m: self.environ.get(m[1], m[0]), line)
            self._line(Origin(file, number), line, constraint=constraint, stack=(*stack, file))

    def _line(self, origin: Origin, line: str, *, constraint: bool, stack: tuple[str, ...]) -> None:
        args, options = _split_args(line)
        try:
            tokens = shlex.split(options)
        except ValueError as exc:
            raise DependencyFileError(origin.file, f"cannot split the options: {exc}", line=origin.line) from exc
        parsed = _options(tokens, origin)
        if args:
            self._requirement(origin, args, parsed, constraint=constraint)
            return
        for option, value in parsed:
            if option in _INCLUDES:
                self._include(origin, value or "", constraint=_INCLUDES[option], stack=stack)
            elif option in _EDITABLE:
                self.unpromotable.append(Unpromotable(value or "", origin, "an editable checkout",
                                                      name=_egg_name(value or ""), editable=True))
            elif option == "--hash":
                raise DependencyFileError(origin.file, "--hash belongs on a requirement line", line=origin.line)
            else:
                self.ignored.append(IgnoredOption(option, value, origin))

    def _requirement(self, origin: Origin, text: str, options: list[tuple[str, str | None]], *,
                     constraint: bool) -> None:
        hashes: dict[str, set[str]] = {}
        for option, value in options:
            if option == "--hash":
                algorithm, digest = _hash(value or "", origin)
                hashes.setdefault(algorithm, set()).add(digest)
            elif option in _PER_REQUIREMENT:
                self.ignored.append(IgnoredOption(option, value, origin))
            else:
                raise DependencyFileError(origin.file, f"{option} is not allowed after a requirement",
                                          line=origin.line)
        kind = _not_an_index_name(text)
        if kind:
            self.unpromotable.append(Unpromotable(text, origin, kind, name=_egg_name(text)))
            return
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            problem = str(exc).splitlines()[0]
            raise DependencyFileError(origin.file, f"{text!r} is not a requirement: {problem}",
                                      line=origin.line) from exc
        if requirement.url:
            self.unpromotable.append(Unpromotable(text, origin, "a direct URL reference",
                                                  name=canonicalize_name(requirement.name)))
            return
        frozen = MappingProxyType({alg: frozenset(values) for alg, values in hashes.items()})
        entry = RequirementEntry(requirement, origin, frozen, constraint)
        (self.constraints if constraint else self.requirements).append(entry)

    def _include(self, origin: Origin, reference: str, *, constraint: bool, stack: tuple[str, ...]) -> None:
        if not reference:
            raise DependencyFileError(origin.file, "an include names no file", line=origin.line)
        if self.include is None:
            raise DependencyFileError(origin.file, f"includes {reference!r}, and no includes can be read here",
                                      line=origin.line)
        if len(stack) >= MAX_INCLUDE_DEPTH:
            raise DependencyFileError(origin.file, f"includes nest deeper than {MAX_INCLUDE_DEPTH} files",
                                      line=origin.line)
        try:
            name, text = self.include(origin.file, reference)
        except (OSError, LookupError) as exc:
            raise DependencyFileError(origin.file, f"cannot read {reference!r}: {exc}", line=origin.line) from exc
        if name in stack:
            chain = " → ".join((*stack[stack.index(name):], name))
            raise DependencyFileError(origin.file, f"{reference!r} includes itself ({chain})", line=origin.line)
        self.read(name, text, constraint=constraint, stack=stack)


def _split_args(line: str) -> tuple[str, str]:
    """pip's split: the requirement is every space-separated token before the first option."""
    tokens = line.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:index]).strip(), " ".join(tokens[index:])
    return line.strip(), ""


def _options(tokens: list[str], origin: Origin) -> list[tuple[str, str | None]]:
    """(option, value) pairs, long forms and short forms (``-rfile``, ``--opt=value``, ``--opt value``)."""
    with_value = (*_INCLUDES, *_EDITABLE, *_IGNORED_WITH_VALUE, "--hash")
    out: list[tuple[str, str | None]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        option, equals, value = token.partition("=") if token.startswith("--") else (token, "", "")
        if not token.startswith("--") and len(token) > 2 and token[:2] in with_value:
            option, equals, value = token[:2], "=", token[2:]
        if option in _IGNORED_FLAGS:
            if equals:
                raise DependencyFileError(origin.file, f"{option} takes no value", line=origin.line)
            out.append((option, None))
        elif option in with_value:
            if not equals:
                if index >= len(tokens):
                    raise DependencyFileError(origin.file, f"{option} needs a value", line=origin.line)
                value, index = tokens[index], index + 1
            out.append((option, value))
        elif option.startswith("-"):
            raise DependencyFileError(origin.file, f"unknown option {option}", line=origin.line)
        else:
            raise DependencyFileError(origin.file, f"unexpected {token!r} among the options", line=origin.line)
    return out


def _hash(value: str, origin: Origin) -> tuple[str, str]:
    """One ``--hash`` value as (algorithm, lowercase hex); DependencyFileError when malformed or weak."""
    algorithm, colon, digest = value.partition(":")
    algorithm = algorithm.lower()
    if not colon:
        raise DependencyFileError(origin.file, f"--hash {value!r} is not algorithm:hexdigest", line=origin.line)
    if algorithm not in HASH_ALGORITHMS:
        raise DependencyFileError(origin.file, f"--hash algorithm {algorithm!r} is not one of "
                                  f"{', '.join(HASH_ALGORITHMS)}", line=origin.line)
    problem = digest_problem(algorithm, digest)
    if problem:
        raise DependencyFileError(origin.file, f"--hash: {problem}", line=origin.line)
    return algorithm, digest.lower()


def _not_an_index_name(text: str) -> str | None:
    """Why the requirement text is a URL or a local path (which pip installs without an index), or None."""
    if _URL_REQUIREMENT.match(text):
        return None  # ``name @ url``: a PEP 508 requirement with a URL, told apart after parsing
    head = text.split(";", 1)[0].strip().split(" ", 1)[0]
    if "://" in head or head.startswith("file:") or head.startswith(_VCS):
        return "a URL"
    base = head.split("[", 1)[0]
    if "/" in base or "\\" in base or base.startswith(".") or base.lower().endswith(_ARCHIVE):
        return "a local path"
    return None


def _egg_name(text: str) -> NormalizedName | None:
    match = _EGG.search(text)
    return canonicalize_name(match[1]) if match else None
