"""An in-memory PEP 503/691 package index on 127.0.0.1, with switches for fault injection.

Tests of the proxy point it at ``FakeUpstream.url`` and then mutate the index (add files, yank,
remove projects, set PEP 792 statuses) or flip fault switches while it runs. Handlers never do
blocking I/O: every page is rendered from in-memory state on each request, so a change is visible
to the very next request.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from packaging.utils import (
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from .dists import build_sdist, build_wheel, read_wheel_metadata, sha256_of

__all__ = ["FakeFile", "FakeUpstream", "JSON_TYPE", "HTML_TYPE", "PROVENANCE_TYPE"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"
PROVENANCE_TYPE = "application/vnd.pypi.integrity.v1+json"
#: Bodies served when ``garbage`` is on: not JSON, and not a simple page (nor even UTF-8).
GARBAGE_JSON = b'{"meta": {"api-version": "1.1"}, "files": [\x00 this is not json'
GARBAGE_HTML = b"\x89PNG\r\n\x1a\n\xff\xfe<<<a href=\x00 this is not a simple page"
# Byte map used by ``wrong_bytes``: every byte changes, so the length stays but the hash never
# matches (XOR with a constant has no fixed points).
_FLIP = bytes(b ^ 0xA5 for b in range(256))
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # PEP 700 upload-time, as the public index writes it


def _version_of(filename: str) -> str | None:
    """The version in a wheel/sdist file name, or None if the name does not parse."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except ValueError:  # Invalid*Filename and InvalidVersion are ValueErrors
        return None


@dataclass
class FakeFile:
    """One distribution file as the fake index stores and advertises it."""

    filename: str
    content: bytes
    #: UTC; defaults to "now" so age-based policies see a fresh upload unless told otherwise.
    upload_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    requires_python: str | None = None
    #: False, True (yanked without reason) or the reason string (PEP 592).
    yanked: bool | str = False
    #: PEP 658 core metadata, served at ``<file url>.metadata`` and advertised with its sha256.
    metadata: bytes | None = None
    #: PEP 740 provenance JSON text, served at ``<base>/integrity/.../provenance``.
    provenance: str | None = None
    #: If set, pages advertise this hash instead of the real one (a lying index).
    advertised_sha256: str | None = None
    #: More hashes the JSON page advertises besides the sha256 (e.g. {"sha512": ...}); replace the sha256
    #: key when they spell it too (e.g. {"sha256": None} drops it: a page with md5 only)
    extra_hashes: dict[str, str | None] | None = None
    #: If set, pages advertise this URL for the file instead of the fake's own (a hostile page)
    url: str | None = None
    #: If set, pages advertise this provenance URL instead of the fake's own
    provenance_url: str | None = None
    #: Pages advertise no size (JSON: the key is left out)
    hide_size: bool = False

    @property
    def sha256(self) -> str:
        """Real hex sha256 of ``content`` (also the storage key in the file URL)."""
        return sha256_of(self.content)

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def version(self) -> str:
        """Version parsed from ``filename`` ("0" if the name is not a valid dist file name)."""
        return _version_of(self.filename) or "0"


@dataclass
class _Project:
    name: str  # display name, as first given
    files: dict[str, FakeFile] = field(default_factory=dict)  # filename -> file, upload order
    serial: int = 0
    status: str | None = None
    status_reason: str | None = None


def _wants_json(accept: str) -> bool:
    """True iff the Accept header lists the PEP 691 JSON type with q > 0."""
    for part in accept.split(","):
        media, _, params = part.partition(";")
        if media.strip().lower() == JSON_TYPE:
            q = re.search(r"(?:^|;)\s*q\s*=\s*([01](?:\.[0-9]{0,3})?)\s*(?:;|$)", params, re.I)
            if q is None or float(q.group(1)) > 0:
                return True
    return False


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match requires."""
    if if_none_match.strip() == "*":
        return True
    candidates = [c.strip() for c in if_none_match.split(",")]
    return any(c.removeprefix("W/") == etag for c in candidates)


class FakeUpstream:
    """A fake package index. See the module docstring; all switches may change while running.

    Fault switches apply to requests selected by ``fault_filter(path)`` if set, else by
    ``faults_apply_to``: ``"pages"`` means ``/simple...``, ``"files"`` means everything else
    (distribution files, ``.metadata`` files, provenance, the JSON API).
    """

    def __init__(self, *, etags: bool = True, api_version: str = "1.1") -> None:
        self.etags = etags
        self.api_version = api_version
        self.html_only = False  # answer HTML whatever the Accept header says
        self.json_api = True  # serve the JSON API (``/pypi/<project>/json``); False answers 404
        # Answer an empty page (no files) for any project never added: an upstream that has every name, for
        # tests that are not about which projects exist
        self.every_name = False
        # Like the real index's JSON API: a long project description (bytes of padding in info.description)
        # and a chunked answer (no Content-Length) sent in pieces of this many bytes, each flushed and
        # followed by a short pause so that clients receive it as several reads.
        self.json_api_padding = 0
        self.json_api_chunk: int | None = None
        #: serve per-release documents (``/pypi/<project>/<version>/json``); the reachable real index has none
        self.json_api_releases = False
        #: normalized project → JSON API ``vulnerabilities`` entries, and (optionally) per version
        self.vulnerabilities: dict[str, list[dict[str, Any]]] = {}
        self.release_vulnerabilities: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: normalized project → extra ``info`` fields of its JSON API document (author, home_page...)
        self.json_info: dict[str, dict[str, Any]] = {}
        # -- fault switches (scoped by faults_apply_to / fault_filter) --
        self.delay: float = 0.0  # seconds to sleep before answering
        self.hold: asyncio.Event | None = None  # answer only once this is set (a slow upstream, without sleeps)
        self.fail_status: int | None = None  # answer with this status instead
        self.garbage = False  # pages: 200, right content type, unparseable body
        self.wrong_bytes = False  # files: same length, different bytes
        self.truncate = False  # files: full Content-Length, half the body, then FIN
        self.reset_mid_file = False  # files: half the body, then RST
        #: normalized project → the ``name`` its JSON page states (a page that renames its project)
        self.stated_names: dict[str, str] = {}
        #: filename → Location: GETs of that file's URL answer 302 there (a redirecting file host)
        self.redirects: dict[str, str] = {}
        # -- the project list (``/simple/``) --
        #: (HTML, JSON) bodies served as the project list instead of the index's own (a big or odd list)
        self.list_bodies: tuple[bytes, bytes] | None = None
        #: send the project list chunked, this many bytes at a time with this many seconds between
        self.list_pace: tuple[int, float] | None = None
        #: send half of the project list (chunked), then reset the connection
        self.list_cut = False
        self.faults_apply_to: Literal["all", "pages", "files"] = "all"
        self.fault_filter: Callable[[str], bool] | None = None  # path -> faulty?; overrides
        # -- state --
        self.requests: list[tuple[str, str]] = []
        self.serial = 0
        self._projects: dict[str, _Project] = {}
        self._owners: dict[str, list[str]] = {}  # normalized name -> users with the Owner role
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # ------------------------------------------------------------------ index contents

    def _touch(self, project: _Project) -> None:
        self.serial += 1
        project.serial = self.serial

    def add_file(self, project: str, f: FakeFile) -> FakeFile:
        """Add (or replace, by filename) a file of ``project``, creating the project if needed."""
        key = canonicalize_name(project)
        proj = self._projects.setdefault(key, _Project(name=project))
        proj.files[f.filename] = f
        self._touch(proj)
        return f

    def add_wheel(
        self, project: str, version: str, tmpdir: Path, *, with_metadata: bool = True,
        requires_python: str | None = None, requires_dist: Sequence[str] = (), summary: str = "",
        module_source: str | None = None, tag: str = "py3-none-any", license_expression: str | None = None,
        license: str | None = None, classifiers: Sequence[str] = (), provides_extra: Sequence[str] = (),
        **file_fields: Any,
    ) -> FakeFile:  # fmt: skip
        """Build a wheel with :func:`build_wheel` in ``tmpdir`` and add it.

        ``requires_python`` goes both into the wheel's METADATA and onto the page. With
        ``with_metadata`` (default) the wheel's METADATA is served as PEP 658 metadata.
        ``license_expression`` (PEP 639), ``license`` and ``classifiers`` go into its METADATA.
        ``file_fields`` are other :class:`FakeFile` fields (upload_time, yanked, provenance,
        advertised_sha256).
        """
        path = build_wheel(
            tmpdir, project, version, requires_dist=requires_dist,
            requires_python=requires_python, summary=summary,
            module_source=module_source, tag=tag, license_expression=license_expression,
            license=license, classifiers=classifiers, provides_extra=provides_extra,
        )  # fmt: skip
        metadata = read_wheel_metadata(path) if with_metadata else None
        f = FakeFile(path.name, path.read_bytes(), requires_python=requires_python,
                     metadata=metadata, **file_fields)  # fmt: skip
        return self.add_file(project, f)

    def add_sdist(
        self, project: str, version: str, tmpdir: Path, *,
        requires_python: str | None = None, requires_dist: Sequence[str] = (), provides_extra: Sequence[str] = (),
        build_requires: Sequence[str] = ("setuptools>=61",), build_backend: str = "setuptools.build_meta",
        **file_fields: Any,
    ) -> FakeFile:  # fmt: skip
        """Build an sdist with :func:`build_sdist` in ``tmpdir`` and add it (no PEP 658 file).

        ``requires_dist`` go into its PKG-INFO, ``build_requires`` and ``build_backend`` into its
        ``pyproject.toml``; ``file_fields`` as for :meth:`add_wheel`.
        """
        path = build_sdist(tmpdir, project, version, requires_python=requires_python, requires_dist=requires_dist,
                           provides_extra=provides_extra, build_requires=build_requires,
                           build_backend=build_backend)
        f = FakeFile(path.name, path.read_bytes(), requires_python=requires_python, **file_fields)
        return self.add_file(project, f)

    def yank(self, project: str, filename: str, reason: bool | str = True) -> None:
        """Set ``yanked`` on one file (``False`` un-yanks) and bump the serials."""
        proj = self._projects[canonicalize_name(project)]
        proj.files[filename].yanked = reason
        self._touch(proj)

    def remove_project(self, project: str) -> None:
        """Delete a project; its page and files then answer 404. Bumps the global serial."""
        del self._projects[canonicalize_name(project)]
        self.serial += 1

    def set_status(self, project: str, status: str | None, reason: str | None = None) -> None:
        """Set the PEP 792 status ("active", "archived", "quarantined", "deprecated" or None).

        As PEP 792 requires of indexes, a quarantined project's page lists no files and its
        files answer 404.
        """
        proj = self._projects[canonicalize_name(project)]
        proj.status, proj.status_reason = status, reason
        self._touch(proj)

    def set_vulnerabilities(self, project: str, entries: Sequence[dict[str, Any]]) -> None:
        """Set the ``vulnerabilities`` of the project's JSON API document: as on the real index, they are
        those of the release the document describes (its latest). Entries are JSON API entries (``id``,
        ``aliases``, ``summary``, ``details``, ``fixed_in``, ``link``, ``withdrawn``)."""
        self.vulnerabilities[canonicalize_name(project)] = [dict(e) for e in entries]

    def set_owners(self, project: str, users: Sequence[str]) -> None:
        """Set the users the JSON API lists under ``ownership.roles`` (all with role "Owner")."""
        self._owners[canonicalize_name(project)] = list(users)

    def files_of(self, project: str, version: str | None = None) -> list[FakeFile]:
        """The files of ``project`` (of one ``version``), in upload order."""
        files = self._projects[canonicalize_name(project)].files.values()
        return [f for f in files if version is None or f.version == version]

    def project_serial(self, project: str) -> int:
        return self._projects[canonicalize_name(project)].serial

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeUpstream was never started")
        return self._port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/simple/"

    @property
    def is_up(self) -> bool:
        return self._site is not None

    async def start(self) -> None:
        """Start serving; the first start picks a free port, later starts reuse it."""
        if self._runner is not None:
            raise RuntimeError("already started")
        app = web.Application(middlewares=[self._middleware])
        for route, handler in [
            ("/simple", self._redirect_slash), ("/simple/", self._root_page),
            ("/simple/{project}", self._redirect_slash), ("/simple/{project}/", self._project_page),
            ("/files/{sha256}/{filename}", self._file),
            ("/integrity/{project}/{version}/{filename}/provenance", self._provenance),
            ("/pypi/{project}/json", self._json_api),
            ("/pypi/{project}/{version}/json", self._json_api_release),
        ]:  # fmt: skip
            app.router.add_get(route, handler)  # also answers HEAD
        # A fresh Application per start: a cleaned-up aiohttp app is not meant to be restarted.
        # A short shutdown_timeout so stop() does not wait a minute for a delayed handler.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await self.up()

    async def stop(self) -> None:
        """Stop serving and close every connection. State and the port are kept for start()."""
        if self._runner is not None:
            runner, self._runner, self._site = self._runner, None, None
            await runner.cleanup()

    async def down(self) -> None:
        """Close the listening socket and drop open connections: clients get ECONNREFUSED."""
        if self._site is None or self._runner is None:
            return
        site, self._site = self._site, None
        await site.stop()
        # Kept-alive connections would otherwise still reach us through a client's pool.
        assert self._runner.server is not None
        for conn in self._runner.server.connections:
            conn.force_close()

    async def up(self) -> None:
        """Reopen the listening socket (on the same port once one was chosen)."""
        if self._runner is None:
            raise RuntimeError("start() first")
        if self._site is not None:
            return
        # reuse_address: the port may still have TIME_WAIT connections from before down/stop.
        site = web.TCPSite(self._runner, "127.0.0.1", self._port or 0, reuse_address=True)
        await site.start()
        self._port, self._site = site.port, site

    async def __aenter__(self) -> FakeUpstream:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ request log

    def count(self, path_prefix: str, method: str | None = None) -> int:
        """Number of logged requests whose path starts with ``path_prefix`` (and method)."""
        method = method and method.upper()
        return sum(p.startswith(path_prefix) and method in (None, m) for m, p in self.requests)

    def reset_log(self) -> None:
        self.requests.clear()

    # ------------------------------------------------------------------ HTTP plumbing

    def _faulty(self, path: str) -> bool:
        if self.fault_filter is not None:
            return self.fault_filter(path)
        kind = "pages" if path.startswith("/simple") else "files"
        return self.faults_apply_to in ("all", kind)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self._faulty(request.path):
            if self.hold is not None:
                await self.hold.wait()
            if self.delay > 0:
                await asyncio.sleep(self.delay)
            if self.fail_status is not None:
                return web.Response(status=self.fail_status, text=f"injected {self.fail_status}")
        return await handler(request)

    async def _redirect_slash(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(request.path + "/")

    def _page(self, request: web.Request, body: bytes, as_json: bool, serial: int) -> web.Response:
        """A page response: garbage fault, serial header, Vary, ETag and 304 handling."""
        if self.garbage and self._faulty(request.path):
            body = GARBAGE_JSON if as_json else GARBAGE_HTML
        ctype = JSON_TYPE if as_json else f"{HTML_TYPE}; charset=utf-8"
        headers = {"X-PyPI-Last-Serial": str(serial), "Vary": "Accept"}
        if self.etags:
            # Strong validator: differs per representation because the body differs.
            headers["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            inm = request.headers.get("If-None-Match")
            if inm is not None and _etag_matches(inm, headers["ETag"]):
                return web.Response(status=304, headers=headers)
        headers["Content-Type"] = ctype
        return web.Response(body=body, headers=headers)

    def _negotiate_json(self, request: web.Request) -> bool:
        return not self.html_only and _wants_json(request.headers.get("Accept", ""))

    def _html(self, title: str, head: list[str], body: list[str], serial: int) -> bytes:
        """The PEP 503 page skeleton; ``head``/``body`` are already-escaped elements."""
        meta = [f'<meta name="pypi:repository-version" content="{self.api_version}">', *head]
        lines = ["<!DOCTYPE html>", "<html>", "  <head>", *(f"    {m}" for m in meta),
                 f"    <title>{title}</title>", "  </head>", "  <body>",
                 *(f"    {x}" for x in body), "  </body>", "</html>", f"<!--SERIAL {serial}-->"]
        return ("\n".join(lines) + "\n").encode()  # fmt: skip

    async def _root_page(self, request: web.Request) -> web.StreamResponse:
        as_json = self._negotiate_json(request)
        projects = sorted(self._projects.items())
        if self.list_bodies is not None:
            body = self.list_bodies[as_json]
        elif as_json:
            body = json.dumps({
                "meta": {"api-version": self.api_version, "_last-serial": self.serial},
                "projects": [{"name": p.name, "_last-serial": p.serial} for _, p in projects],
            }, indent=1).encode()  # fmt: skip
        else:
            links = [f'<a href="/simple/{key}/">{html.escape(p.name)}</a>' for key, p in projects]
            body = self._html("Simple index", [], links, self.serial)
        response = self._page(request, body, as_json, self.serial)
        if (self.list_pace is None and not self.list_cut) or response.status != 200 or request.method == "HEAD":
            return response
        return await self._stream_list(request, response)

    async def _stream_list(self, request: web.Request, page: web.Response) -> web.StreamResponse:
        """The list ``page`` sent chunked: paced (``list_pace``), or cut in the middle (``list_cut``)."""
        body = page.body
        assert isinstance(body, bytes)
        headers = {k: v for k, v in page.headers.items() if k.lower() not in ("content-length", "etag")}
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        size, pause = self.list_pace or (64 * 1024, 0.0)
        end = len(body) // 2 if self.list_cut else len(body)
        for at in range(0, end, size):
            await resp.write(body[at:min(at + size, end)])
            await asyncio.sleep(pause)
        if self.list_cut:
            transport = request.transport
            assert transport is not None
            transport.abort()
            return resp
        await resp.write_eof()
        return resp

    def _file_url(self, f: FakeFile) -> str:
        return f.url or f"{self.base}/files/{f.sha256}/{f.filename}"

    def _provenance_url(self, key: str, f: FakeFile) -> str:
        return f.provenance_url or f"{self.base}/integrity/{key}/{f.version}/{f.filename}/provenance"

    @staticmethod
    def _hashes(f: FakeFile) -> dict[str, str]:
        hashes: dict[str, str | None] = {"sha256": f.advertised_sha256 or f.sha256, **(f.extra_hashes or {})}
        return {k: v for k, v in hashes.items() if v is not None}

    async def _project_page(self, request: web.Request) -> web.StreamResponse:
        raw = request.match_info["project"]
        key = canonicalize_name(raw)
        if raw != key:
            raise web.HTTPMovedPermanently(f"/simple/{key}/")
        proj = self._projects.get(key)
        if proj is None and self.every_name:
            proj = _Project(name=key)
        if proj is None:
            raise web.HTTPNotFound()
        files = [] if proj.status == "quarantined" else list(proj.files.values())
        as_json = self._negotiate_json(request)
        body = (self._project_json if as_json else self._project_html)(key, proj, files)
        return self._page(request, body, as_json, proj.serial)

    def _project_json(self, key: str, proj: _Project, files: list[FakeFile]) -> bytes:
        versions = {f.version for f in files if _version_of(f.filename) is not None}
        out_files: list[dict[str, Any]] = []
        for f in files:
            meta = {"sha256": sha256_of(f.metadata)} if f.metadata is not None else False
            out_files.append({
                "filename": f.filename, "url": self._file_url(f),
                "hashes": self._hashes(f),
                "requires-python": f.requires_python, "size": f.size,
                "upload-time": f.upload_time.astimezone(UTC).strftime(_TIME_FORMAT),
                "yanked": f.yanked, "core-metadata": meta, "data-dist-info-metadata": meta,
                "provenance": self._provenance_url(key, f) if f.provenance is not None else None,
            })  # fmt: skip
            if f.hide_size:
                del out_files[-1]["size"]
        data: dict[str, Any] = {
            "meta": {"api-version": self.api_version, "_last-serial": proj.serial},
            "name": self.stated_names.get(key, key), "versions": sorted(versions, key=Version), "files": out_files,
        }  # fmt: skip
        if proj.status is not None:
            data["project-status"] = {"status": proj.status, "reason": proj.status_reason}
        return json.dumps(data, indent=1).encode()

    def _project_html(self, key: str, proj: _Project, files: list[FakeFile]) -> bytes:
        esc = html.escape  # quote=True by default: safe inside double-quoted attributes
        head = []
        if proj.status is not None:
            head.append(f'<meta name="pypi:project-status" content="{esc(proj.status)}">')
        if proj.status is not None and proj.status_reason is not None:
            reason = esc(proj.status_reason)
            head.append(f'<meta name="pypi:project-status-reason" content="{reason}">')
        anchors = [f"<h1>Links for {esc(proj.name)}</h1>"]
        for f in files:
            name, value = next(iter(self._hashes(f).items()))  # PEP 503: one hash in the fragment
            attrs = [f'href="{esc(self._file_url(f))}#{name}={value}"']
            if f.requires_python is not None:
                attrs.append(f'data-requires-python="{esc(f.requires_python)}"')
            if f.yanked is not False:  # True -> empty reason
                attrs.append(f'data-yanked="{esc(f.yanked if isinstance(f.yanked, str) else "")}"')
            if f.metadata is not None:
                digest = sha256_of(f.metadata)
                for k in ("core-metadata", "dist-info-metadata"):
                    attrs.append(f'data-{k}="sha256={digest}"')
            if f.provenance is not None:
                attrs.append(f'data-provenance="{esc(self._provenance_url(key, f))}"')
            anchors.append(f"<a {' '.join(attrs)}>{esc(f.filename)}</a><br />")
        return self._html(f"Links for {esc(proj.name)}", head, anchors, proj.serial)

    def _json_file(self, f: FakeFile) -> dict[str, Any]:
        """One file as the index's JSON API describes it."""
        digests = {"md5": hashlib.md5(f.content).hexdigest(),  # noqa: S324 - the index's own field
                   "sha256": f.advertised_sha256 or f.sha256,
                   "blake2b_256": hashlib.blake2b(f.content, digest_size=32).hexdigest()}
        wheel = f.filename.endswith(".whl")
        return {
            "comment_text": "", "digests": digests, "downloads": -1, "filename": f.filename, "has_sig": False,
            "md5_digest": digests["md5"], "packagetype": "bdist_wheel" if wheel else "sdist",
            "python_version": "py3" if wheel else "source", "requires_python": f.requires_python,
            "size": f.size, "upload_time": f.upload_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "upload_time_iso_8601": f.upload_time.astimezone(UTC).strftime(_TIME_FORMAT),
            "url": self._file_url(f), "yanked": f.yanked is not False,
            "yanked_reason": f.yanked if isinstance(f.yanked, str) else None,
        }  # fmt: skip

    def _json_document(self, key: str, proj: _Project, version: str | None) -> dict[str, Any]:
        """The JSON API document of a project (``version`` None: with ``releases``) or of one release."""
        files = [] if proj.status == "quarantined" else list(proj.files.values())
        releases: dict[str, list[dict[str, Any]]] = {}
        for f in files:
            releases.setdefault(f.version, []).append(self._json_file(f))
        latest = max(releases, key=Version) if releases else None
        described = version or latest
        mine = [f for f in files if f.version == described]
        description = ("Lorem ipsum dolor sit amet. " * (self.json_api_padding // 28 + 1))[: self.json_api_padding]
        info: dict[str, Any] = {
            "name": proj.name, "version": described, "summary": "", "description": description,
            "author": None, "home_page": None, "project_urls": None, "requires_dist": None,
            "requires_python": next((f.requires_python for f in mine if f.requires_python), None),
            "classifiers": [], "license": None, "yanked": bool(mine) and all(f.yanked is not False for f in mine),
            "package_url": f"{self.base}/project/{key}/", "project_url": f"{self.base}/project/{key}/",
            "release_url": f"{self.base}/project/{key}/{described}/",
            **self.json_info.get(key, {}),
        }  # fmt: skip
        vulns = (self.release_vulnerabilities.get((key, described), self.vulnerabilities.get(key, []))
                 if described is not None else [])
        data: dict[str, Any] = {
            "info": info, "last_serial": proj.serial,
            "urls": [self._json_file(f) for f in mine], "vulnerabilities": vulns,
            "ownership": {"organization": None,
                          "roles": [{"role": "Owner", "user": u} for u in self._owners.get(key, [])]},
        }  # fmt: skip
        if version is None:
            data["releases"] = releases
        return data

    async def _json_answer(self, request: web.Request, data: dict[str, Any], serial: int) -> web.StreamResponse:
        headers = {"X-PyPI-Last-Serial": str(serial)}
        if self.json_api_chunk is None:
            return web.json_response(data, headers=headers)
        body = json.dumps(data).encode()
        resp = web.StreamResponse(headers={**headers, "Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for start in range(0, len(body), self.json_api_chunk):
            await resp.write(body[start:start + self.json_api_chunk])  # write() drains
            await asyncio.sleep(0.002)
        await resp.write_eof()
        return resp

    async def _json_api(self, request: web.Request) -> web.StreamResponse:
        """The index's JSON API (project metadata, releases and ``ownership``); 404 when ``json_api`` is off."""
        key = canonicalize_name(request.match_info["project"])
        proj = self._projects.get(key)
        if not self.json_api or proj is None:
            raise web.HTTPNotFound()
        return await self._json_answer(request, self._json_document(key, proj, None), proj.serial)

    async def _json_api_release(self, request: web.Request) -> web.StreamResponse:
        """A release's JSON API document (``json_api_releases``; the version matched in canonical form)."""
        key = canonicalize_name(request.match_info["project"])
        proj = self._projects.get(key)
        if not self.json_api or not self.json_api_releases or proj is None:
            raise web.HTTPNotFound()
        try:
            wanted = Version(request.match_info["version"])
        except ValueError:
            raise web.HTTPNotFound() from None
        version = next((f.version for f in proj.files.values() if Version(f.version) == wanted), None)
        if version is None:
            raise web.HTTPNotFound()
        return await self._json_answer(request, self._json_document(key, proj, version), proj.serial)

    def _find_file(self, sha256: str, filename: str) -> FakeFile | None:
        for proj in self._projects.values():
            if proj.status == "quarantined":
                continue
            f = proj.files.get(filename)
            if f is not None and f.sha256 == sha256:
                return f
        return None

    async def _file(self, request: web.Request) -> web.StreamResponse:
        sha, filename = request.match_info["sha256"], request.match_info["filename"]
        if filename in self.redirects:
            raise web.HTTPFound(self.redirects[filename])
        f = self._find_file(sha, filename)
        if f is not None:
            return await self._send_bytes(request, f.content, "application/octet-stream")
        if filename.endswith(".metadata"):
            f = self._find_file(sha, filename.removesuffix(".metadata"))
            if f is not None and f.metadata is not None:
                return await self._send_bytes(request, f.metadata, "application/octet-stream")
        raise web.HTTPNotFound()

    async def _provenance(self, request: web.Request) -> web.StreamResponse:
        proj = self._projects.get(request.match_info["project"])
        f = proj.files.get(request.match_info["filename"]) if proj is not None else None
        if f is None or f.provenance is None or f.version != request.match_info["version"]:
            raise web.HTTPNotFound()
        return await self._send_bytes(request, f.provenance.encode(), PROVENANCE_TYPE)

    async def _send_bytes(
        self, request: web.Request, data: bytes, ctype: str
    ) -> web.StreamResponse:
        """Serve file-like bytes with Content-Length, applying the file fault switches."""
        faulty = self._faulty(request.path)
        if faulty and self.wrong_bytes:
            data = data.translate(_FLIP)
        broken = faulty and (self.truncate or self.reset_mid_file)
        if request.method == "HEAD" or not broken:
            return web.Response(body=data, headers={"Content-Type": ctype})
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        resp.content_length = len(data)  # promise the full size...
        await resp.prepare(request)
        await resp.write(data[: len(data) // 2])  # ...deliver half (write() drains)
        transport = request.transport
        assert transport is not None
        if self.reset_mid_file:
            # SO_LINGER 0 makes close() send RST: the client sees "connection reset by peer".
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()  # flushes what was written, then FIN: a clean short read
        # aiohttp's write_eof() on the closed transport raises ConnectionError, which it handles.
        return resp
