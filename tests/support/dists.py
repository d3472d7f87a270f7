"""Build real, installable distributions in memory, fast, without setuptools.

Everything here is pure (no network, no subprocess) and deterministic: the same inputs always
produce the same bytes, so the sha256 of a built file is stable across runs and machines. That
matters because tests compare hashes the proxy stores with hashes the fake upstream advertises.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "build_sdist",
    "build_wheel",
    "dist_basename",
    "metadata_text",
    "read_wheel_metadata",
    "sha256_of",
]

# 1980-01-01 is the earliest timestamp a zip entry can hold; any fixed value gives stable bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Fixed tar mtime (2020-01-01T00:00:00Z) for the same reason.
_TAR_MTIME = 1577836800


def dist_basename(name: str) -> str:
    """Return ``name`` as it appears in wheel/sdist file names and ``.dist-info`` directories.

    Per the binary distribution format spec: runs of ``-_.`` become one ``_``, lower-cased.
    The same string is used as the importable top-level module name.
    """
    return re.sub(r"[-_.]+", "_", name).lower()


def sha256_of(data: Path | str | bytes) -> str:
    """Return the lowercase hex sha256 of ``data`` (raw bytes, or the contents of a file path)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha256(Path(data).read_bytes()).hexdigest()


def metadata_text(
    name: str,
    version: str,
    *,
    summary: str = "",
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    license_expression: str | None = None,
    license: str | None = None,
    classifiers: Sequence[str] = (),
    provides_extra: Sequence[str] = (),
) -> str:
    """Return a core metadata document (METADATA / PKG-INFO body): Metadata-Version 2.1, or 2.4 with a PEP 639
    ``License-Expression``."""
    lines = [f"Metadata-Version: {'2.4' if license_expression else '2.1'}", f"Name: {name}", f"Version: {version}"]
    # A newline inside a header would corrupt the RFC 822 document; tests never need one.
    lines.append(f"Summary: {summary.replace(chr(10), ' ')}")
    if license_expression is not None:
        lines.append(f"License-Expression: {license_expression}")
    if license is not None:
        lines.append(f"License: {license}")
    lines.extend(f"Classifier: {c}" for c in classifiers)
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Provides-Extra: {extra}" for extra in provides_extra)
    lines.extend(f"Requires-Dist: {req}" for req in requires_dist)
    return "\n".join(lines) + "\n\n"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _zip_entry(arcname: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    # Regular file, rw-r--r--; without this the mode is 0 and some installers chmod badly.
    info.external_attr = (0o100644 & 0xFFFF) << 16
    info.create_system = 3  # Unix, so external_attr is interpreted as a mode everywhere.
    return info


def build_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    summary: str = "",
    module_source: str | None = None,
    tag: str = "py3-none-any",
    license_expression: str | None = None,
    license: str | None = None,
    classifiers: Sequence[str] = (),
    provides_extra: Sequence[str] = (),
) -> Path:
    """Write a valid, installable pure-Python wheel into directory ``dest`` and return its path.

    The file is ``{dist_basename(name)}-{version}-{tag}.whl`` and contains:

    * ``<dist_basename(name)>/__init__.py`` — ``module_source`` if given, else
      ``__version__ = "<version>"``;
    * ``<base>-<version>.dist-info/METADATA`` — see :func:`metadata_text` (``Name`` keeps the
      spelling given here);
    * ``.../WHEEL`` (Wheel-Version 1.0, Root-Is-Purelib true, one ``Tag`` line per tag in a
      compressed tag set such as ``py2.py3-none-any``);
    * ``.../RECORD`` with a ``sha256=<urlsafe-b64-nopad>,<size>`` line per file and an
      empty-hash line for itself.

    The same arguments always give identical bytes.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    base = dist_basename(name)
    dist_info = f"{base}-{version}.dist-info"
    if module_source is None:
        module_source = f'__version__ = "{version}"\n'

    interpreters, abis, platforms = tag.split("-")
    tag_lines = [
        f"Tag: {i}-{a}-{p}"
        for i in interpreters.split(".")
        for a in abis.split(".")
        for p in platforms.split(".")
    ]
    wheel_text = "\n".join(
        ["Wheel-Version: 1.0", "Generator: tests.support.dists", "Root-Is-Purelib: true"]
        + tag_lines
    )
    files: list[tuple[str, bytes]] = [
        (f"{base}/__init__.py", module_source.encode("utf-8")),
        (
            f"{dist_info}/METADATA",
            metadata_text(
                name,
                version,
                summary=summary,
                requires_dist=requires_dist,
                requires_python=requires_python,
                license_expression=license_expression,
                license=license,
                classifiers=classifiers,
                provides_extra=provides_extra,
            ).encode("utf-8"),
        ),
        (f"{dist_info}/WHEEL", (wheel_text + "\n\n").encode("utf-8")),
    ]
    record_lines = [f"{arc},{_record_hash(data)},{len(data)}" for arc, data in files]
    record_lines.append(f"{dist_info}/RECORD,,")
    # RECORD goes last, as the spec recommends, so streaming installers see it after the files.
    files.append((f"{dist_info}/RECORD", ("\n".join(record_lines) + "\n").encode("utf-8")))

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for arcname, data in files:
            zf.writestr(_zip_entry(arcname), data)
    path = dest / f"{base}-{version}-{tag}.whl"
    path.write_bytes(buf.getvalue())
    return path


def read_wheel_metadata(path: Path | str) -> bytes:
    """Return the ``*.dist-info/METADATA`` member of a wheel, byte-for-byte as stored.

    This is exactly what a PEP 658 ``.metadata`` file must contain. Raises ``ValueError`` if the
    wheel has no (or several) top-level METADATA members.
    """
    with zipfile.ZipFile(path) as zf:
        candidates = [
            n
            for n in zf.namelist()
            if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        if len(candidates) != 1:
            raise ValueError(f"{path}: expected one .dist-info/METADATA, found {candidates}")
        return zf.read(candidates[0])


def build_sdist(
    dest: Path,
    name: str,
    version: str,
    *,
    requires_python: str | None = None,
    requires_dist: Sequence[str] = (),
    provides_extra: Sequence[str] = (),
    build_requires: Sequence[str] = ("setuptools>=61",),
    build_backend: str = "setuptools.build_meta",
) -> Path:
    """Write a deterministic source distribution ``{dist_basename(name)}-{version}.tar.gz``.

    Its single top directory ``{dist_basename(name)}-{version}/`` holds ``PKG-INFO``
    (Metadata-Version 2.1, with ``requires_dist``), a minimal ``pyproject.toml`` (``[build-system]``
    with ``build_requires`` and ``build_backend``, setuptools by default; a PEP 621 ``[project]``
    table) and the same ``__init__.py`` a wheel would have, so it is buildable by a frontend that can
    fetch the backend (:data:`TINYBUILD` is one the fake index can serve). Returns the path written
    in directory ``dest``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    base = dist_basename(name)
    root = f"{base}-{version}"
    pyproject = [
        "[build-system]",
        "requires = [" + ", ".join(f'"{r}"' for r in build_requires) + "]",
        f'build-backend = "{build_backend}"',
        "",
        "[project]",
        f'name = "{name}"',
        f'version = "{version}"',
    ]
    if requires_python is not None:
        pyproject.append(f'requires-python = "{requires_python}"')
    if requires_dist:  # as PKG-INFO says: frontends read static [project] metadata without building
        pyproject.append("dependencies = [" + ", ".join(f"'{r}'" for r in requires_dist) + "]")
    members = [
        (f"{root}/PKG-INFO", metadata_text(name, version, requires_python=requires_python,
                                           requires_dist=requires_dist, provides_extra=provides_extra)),
        (f"{root}/pyproject.toml", "\n".join(pyproject) + "\n"),
        (f"{root}/{base}/__init__.py", f'__version__ = "{version}"\n'),
    ]

    raw = io.BytesIO()
    # gzip writes mtime and the file name into its header; pin both for stable bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for arcname, text in members:
                data = text.encode("utf-8")
                info = tarfile.TarInfo(arcname)
                info.size = len(data)
                info.mtime = _TAR_MTIME
                info.mode = 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    path = dest / f"{root}.tar.gz"
    path.write_bytes(raw.getvalue())
    return path


#: The module of ``tinybuild``, the smallest PEP 517 build backend: it builds a pure wheel of an sdist made by
#: :func:`build_sdist` (its package directory, and PKG-INFO as METADATA). Serve a wheel of it (``module_source``)
#: and an sdist with ``build_requires=["tinybuild"], build_backend="tinybuild"`` needs it to install.
TINYBUILD = '''"""tinybuild: the smallest PEP 517 build backend (tests only)."""
import base64, hashlib, os, re, zipfile


def _record(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("PKG-INFO", encoding="utf-8") as handle:
        metadata = handle.read().split("\\n\\n", 1)[0] + "\\n\\n"
    fields = dict(line.split(": ", 1) for line in metadata.splitlines() if ": " in line)
    base = re.sub(r"[-_.]+", "_", fields["Name"]).lower()
    dist_info = base + "-" + fields["Version"] + ".dist-info"
    files = []
    for root, _dirs, names in os.walk(base):
        for name in sorted(names):
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                files.append((path.replace(os.sep, "/"), handle.read()))
    files.append((dist_info + "/METADATA", metadata.encode()))
    files.append((dist_info + "/WHEEL", b"Wheel-Version: 1.0\\nGenerator: tinybuild\\nRoot-Is-Purelib: true\\n"
                                        b"Tag: py3-none-any\\n\\n"))
    record = "".join(f"{arc},{_record(data)},{len(data)}\\n" for arc, data in files) + dist_info + "/RECORD,,\\n"
    files.append((dist_info + "/RECORD", record.encode()))
    filename = base + "-" + fields["Version"] + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for arc, data in files:
            archive.writestr(arc, data)
    return filename
'''
