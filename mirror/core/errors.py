"""The project's exceptions: one narrow class per failure, each carrying the fields a message needs."""

from __future__ import annotations


class MirrorError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(MirrorError):
    """A configuration file is unreadable or holds a bad key or value.

    ``file``, ``key`` and ``line`` (when known) locate the problem; ``allowed`` says what would be accepted.
    """

    def __init__(self, file: str, key: str | None, problem: str, *, line: int | None = None,
                 allowed: str | None = None) -> None:
        self.file, self.key, self.problem, self.line, self.allowed = file, key, problem, line, allowed
        where = file + (f", line {line}" if line else "") + (f", key '{key}'" if key else "")
        text = f"{where}: {problem}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)


class ParseError(MirrorError):
    """Upstream bytes are not a valid Simple API page; ``what`` says which part is wrong, in a short
    generic phrase (it may reach a client); ``detail``, for logs only, may quote the decoder."""

    def __init__(self, what: str, *, detail: str | None = None) -> None:
        self.what, self.detail = what, detail
        super().__init__(what)


class UpstreamError(MirrorError):
    """Upstream could not give a usable answer (network error, timeout, 5xx, garbage).

    ``url``, ``reason`` and ``status`` are for the log. ``public``, when set, says what failed in words
    safe to show any client (one of the mirror's own limits or rules): never a host, URL, status, length
    or hash another server sent.
    """

    def __init__(self, url: str, reason: str, *, status: int | None = None, public: str | None = None) -> None:
        self.url, self.reason, self.status, self.public = url, reason, status, public
        super().__init__(f"{url}: {reason}")


class UpstreamTimeout(UpstreamError):
    """Upstream did not answer within the configured timeout."""


class FetchRefused(UpstreamError):
    """The mirror refused to fetch a URL (or follow a redirect) upstream gave it: see
    :mod:`mirror.core.fetch_rules`."""


class ProjectNotFound(MirrorError):
    """The project is not here: upstream says it does not exist, or a tier's policy keeps it out.

    ``reason`` and ``remedy`` (when a policy decided) say why and which command would change it.
    """

    def __init__(self, project: str, reason: str = "not found upstream", remedy: str | None = None) -> None:
        self.project, self.reason, self.remedy = project, reason, remedy
        super().__init__(f"project {project!r}: {reason}")


class FileNotListed(MirrorError):
    """A requested filename is not listed on the project's page (or not admitted to the tier)."""

    def __init__(self, project: str, filename: str) -> None:
        self.project, self.filename = project, filename
        super().__init__(f"{filename!r} is not a file of project {project!r} here")


class IntegrityError(MirrorError):
    """Downloaded bytes do not match what upstream advertised (hash or size)."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        self.url, self.expected, self.actual = url, expected, actual
        super().__init__(f"{url}: expected {expected}, got {actual}")


class NotAcceptable(MirrorError):
    """The client's Accept header (or ?format=) names only Simple API versions this index does not serve."""


class PolicyError(MirrorError):
    """A policy file is unreadable or invalid; ``file``, ``line`` and ``key`` locate the problem."""

    def __init__(self, file: str, key: str | None, problem: str, *, line: int | None = None) -> None:
        self.file, self.key, self.problem, self.line = file, key, problem, line
        where = file + (f", line {line}" if line else "") + (f", key '{key}'" if key else "")
        super().__init__(f"{where}: {problem}")


class ReviewError(MirrorError):
    """A reviewer command cannot be carried out (e.g. vetting a project that is not reviewed)."""


class StorageError(MirrorError):
    """The file cache or the database cannot be written (full disk, read-only directory...)."""


class StorageUnavailable(StorageError):
    """The store did not answer, or answered that it cannot serve now (a network failure, a timeout, a 5xx): a
    failure that passes by itself, unlike a missing bucket or refused credentials."""


class DatabaseError(MirrorError):
    """The configured database cannot be used: driver missing, unreachable, or refused. The message is one line
    that names the database without its password."""


class DatabaseUnavailable(DatabaseError):
    """The database did not answer or failed a statement (stopped, restarting, unreachable, too slow): a failure
    that passes by itself. A request that needs the database answers 503 with Retry-After meanwhile."""


class DatabaseMissing(DatabaseError):
    """A command that only reads found no database (or one without the mirror's tables); nothing was created."""


class SchemaOutdated(DatabaseError):
    """The database's schema is older than this version of the code; ``mirror db upgrade`` brings it up to date."""


class SchemaUnknown(DatabaseError):
    """The database's schema is at a revision this version of the code does not know (a newer mirror wrote it)."""
