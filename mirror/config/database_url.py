"""Database URLs: the supported backends and drivers, the async-driver form of a URL, why a URL cannot be
used, and a URL as it may be shown (no password)."""

from __future__ import annotations

#: database backend → (the async driver the mirror uses, the package that provides it, the extra that installs it)
_DRIVERS = {"sqlite": ("aiosqlite", "aiosqlite", None), "postgresql": ("asyncpg", "asyncpg", "postgres")}
_DATABASE_URLS = ("empty (SQLite under the storage path), sqlite+aiosqlite:///PATH, or "
                  "postgresql+asyncpg://USER:PASSWORD@HOST[:PORT]/DATABASE")


def mask_database_url(url: str) -> str:
    """``url`` as it may be shown anywhere (banner, log, error): the password replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        if "@" not in (parsed.host or ""):
            return parsed.render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        pass
    # Not a URL SQLAlchemy reads as meant (e.g. an unescaped "@" in the password): drop everything that
    # could be credentials, up to the last "@".
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    _credentials, at, place = rest.rpartition("@")
    return f"{scheme}://***@{place}" if at else url


def normalize_database_url(url: str) -> str:
    """The async-driver form of a supported URL: ``sqlite://...`` and ``postgresql://...`` name their driver
    (aiosqlite, asyncpg); any other URL is returned unchanged (:func:`database_url_problem` judges it)."""
    for backend, (driver, _package, _extra) in _DRIVERS.items():
        if url.startswith(f"{backend}://"):
            return f"{backend}+{driver}://" + url[len(backend) + 3:]
    return url


def database_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used (unsupported database or driver, or the driver's package is not installed,
    naming the extra that installs it), or None. The text never contains the URL."""
    import importlib.util

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(normalize_database_url(url))
    except (ArgumentError, ValueError):
        return "not a database URL"
    if "@" in (parsed.host or ""):
        return 'a user name or password with "@" (or ":" or "/") must be percent-encoded: "@" as %40'
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        return f"unsupported database {backend!r}: the mirror runs on SQLite or PostgreSQL"
    driver, package, extra = _DRIVERS[backend]
    if parsed.get_driver_name() != driver:
        return f"unsupported driver {parsed.get_driver_name()!r}: use {backend}+{driver}://"
    if backend == "postgresql" and not parsed.database:
        return "names no database: postgresql+asyncpg://USER:PASSWORD@HOST[:PORT]/DATABASE"
    if importlib.util.find_spec(package) is None:
        how = f"pip install 'mirror[{extra}]'" if extra else f"pip install {package}"
        return f"{backend} needs the {package} driver, which is not installed: {how}"
    return None
