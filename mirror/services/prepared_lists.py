"""The project lists of the tiers, prepared: response bodies, ETags and gzip forms.

``all`` serves upstream's list (:class:`~mirror.core.simple.list_build.BuiltList`) without the projects the
policies block: its body is the list's own pieces (a piece holding a blocked project is rendered again without
it), so a policy change costs a few pieces, never a pass over 700,000 names. ``reviewed`` and ``vetted`` list the
projects the policies admit, with display names and serials from upstream's list when it is in memory, else from
the cached pages: they never wait for upstream's list.

A prepared list is kept until the upstream list or the policies change (curated lists: also refreshed every
minute, as the pages they take names from change). Its gzip form is made once, in a thread, after the list is
first served: until then clients get the identity encoding, never a wait. Then ``all``'s list, when served as
HTML, holds its JSON packed until a JSON client asks, and the heap's free memory goes back to the system.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

import jinja2

from mirror.adapters.heap import trim_heap_soon
from mirror.core.models import API_VERSION, Format, ProjectEntry, Tier
from mirror.core.simple.list_build import (
    BuiltList,
    Document,
    Piece,
    document,
    keyed,
    piece_html,
    render_entries,
    without_names,
)
from mirror.core.simple.render import index_frame
from mirror.core.tiers import curated_projects, hidden_from_all
from mirror.services.cache import Entry
from mirror.services.cpu import CpuLane
from mirror.services.lists import ListFetch, gzip_parts
from mirror.services.pages import PageService, mark_retrieved
from mirror.services.policies import PolicyStore

log = logging.getLogger("mirror.lists")

#: Curated tiers' lists take display names and serials from the pages in memory: refreshed this often.
LIST_REFRESH = 60.0
#: Curated lists longer than this are rendered in the CPU lane.
_OFFLOAD_NAMES = 5000
#: Lists smaller than this are compressed at once, inline.
_GZIP_INLINE = 64 * 1024
#: Changes with the bytes a list is rendered to (part of every list's ETag).
_LIST_FORMAT = "list-1"
_FOREVER = float("inf")

ListStamp = tuple[str, int, int]  # (upstream list revision or "", policy generation, quarantine revision)


class Quarantine(Protocol):
    """The projects a malware report covers entirely (:class:`mirror.services.evidence.EvidenceService`):
    listed in no tier."""

    @property
    def quarantined(self) -> frozenset[str]: ...

    @property
    def list_revision(self) -> int: ...


class _NoQuarantine:
    quarantined: frozenset[str] = frozenset()
    list_revision = 0


@dataclass(frozen=True, slots=True)
class PreparedList:
    """A prepared project list: the body in one representation, its ETags, and its gzip form once made.

    ``identity`` is what the bytes depend on (the ETag is its digest): a new stamp with the same identity keeps
    the prepared bytes and their gzip form.
    """

    stamp: ListStamp
    identity: str
    valid_until: float
    body: Document
    etag: str
    gzip_body: bytes | None
    gzip_etag: str | None
    serial: int | None
    prepared_ms: float


class ColdList:
    """``all``'s project list streamed while it is built: what the clients get that wait for a list the mirror
    does not have yet (the next ones get the prepared list). ``parts()`` raises the error that ends the fetch;
    ``serial`` is known once the first part came."""

    def __init__(self, lists: ProjectLists, fetch: ListFetch, fmt: Format, hidden: frozenset[str]) -> None:
        self._lists = lists
        self._fetch = fetch
        self._fmt = fmt
        self._hidden = hidden

    @property
    def serial(self) -> int | None:
        return self._fetch.last_serial

    async def parts(self) -> AsyncIterator[bytes | memoryview]:
        json = self._fmt is Format.JSON
        first = True
        async for piece in self._fetch.pieces():
            body = await self._lists.piece_body(piece, json, self._hidden) if piece.entries else b""
            if not body:
                continue
            if first:
                yield index_frame(self._fmt, self._fetch.last_serial, self._lists.env)[0]
            elif json:
                yield b","
            first = False
            yield memoryview(body)[:-1] if json else body  # a JSON object is followed by "," in its piece
        head, tail = index_frame(self._fmt, self._fetch.last_serial, self._lists.env)
        if first:
            yield head
        yield tail


@dataclass(frozen=True, slots=True)
class _Bodies:
    identity: str
    pieces: list[bytes]
    serial: int | None
    valid_until: float
    gzip: Callable[[], Awaitable[bytes]] | None = None  # the gzip form, when it is made elsewhere too
    then: Callable[[], None] | None = None  # blocking work once the body is prepared and compressed


def _formats(json: bool) -> tuple[Format, ...]:
    """The formats served from the same pieces: JSON, or both HTML media types."""
    return (Format.JSON,) if json else (Format.HTML, Format.TEXT_HTML)


class ProjectLists:
    """The tiers' project lists (see the module docstring)."""

    def __init__(self, pages: PageService, env: jinja2.Environment, policies: PolicyStore, cpu: CpuLane,
                 clock: Callable[[], float] = time.time, quarantine: Quarantine | None = None) -> None:
        self._pages = pages
        self._quarantine: Quarantine = quarantine if quarantine is not None else _NoQuarantine()
        self.env = env
        self._policies = policies
        self._cpu = cpu
        self._clock = clock
        self._prepared: dict[tuple[Tier, Format], PreparedList] = {}
        self._building: dict[tuple[Tier, bool], asyncio.Future[None]] = {}
        self._zipping: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Stop making gzip forms (at shutdown)."""
        for task in list(self._zipping):
            task.cancel()
        await asyncio.gather(*self._zipping, return_exceptions=True)

    async def cold(self, tier: Tier, fmt: Format) -> ColdList | None:
        """``all``'s list as it is being built, when the mirror has none yet (else None; see :class:`ColdList`);
        raises UpstreamError (or UpstreamTimeout) when the fetch fails before its body arrives."""
        if tier is not Tier.ALL:
            return None
        fetch = await self._pages.list_in_flight()
        if fetch is None:
            return None
        if fmt is not Format.JSON:
            fetch.want_html()
        return ColdList(self, fetch, fmt, self._hidden())

    def _hidden(self) -> frozenset[str]:
        return hidden_from_all(self._policies.current, self._quarantine.quarantined)

    async def piece_body(self, piece: Piece, json: bool, hidden: frozenset[str]) -> bytes:
        """The JSON objects (or HTML lines) of ``piece`` without the entries of ``hidden`` names."""
        if hidden:
            if piece.keys is None:  # upstream's JSON passed on: its names are read now
                piece = await self._cpu.run(keyed, piece)
            padded = b"\n" + (piece.keys or b"") + b"\n"
            if any(b"\n" + name.encode() + b"\n" in padded for name in hidden):
                piece = await self._cpu.run(without_names, piece, hidden)
        if json:
            return piece.json
        return piece.html if piece.html is not None else await self._cpu.run(piece_html, piece)

    async def index(self, tier: Tier, fmt: Format) -> tuple[PreparedList, bool]:
        """The tier's project list in ``fmt`` and whether it is stale; raises UpstreamError when ``all`` has
        no list cached and upstream fails."""
        entry = await self._pages.project_list() if tier is Tier.ALL else self._pages.known_list()
        stamp: ListStamp = (entry.revision if entry else "", self._policies.generation,
                            self._quarantine.list_revision)
        stale = entry.stale if tier is Tier.ALL and entry else False
        key = (tier, fmt is Format.JSON)
        if tier is Tier.ALL and fmt is not Format.JSON:
            self._pages.list_html_wanted = True  # the next lists are built with their HTML
        while True:
            prepared = self._prepared.get((tier, fmt))
            if prepared is not None and prepared.stamp == stamp and self._clock() < prepared.valid_until:
                return prepared, stale  # the warm path: no I/O, no work
            building = self._building.get(key)
            if building is None:  # one preparation at a time per tier and body (JSON, or both HTML types)
                building = self._building[key] = asyncio.ensure_future(self._prepare(tier, key[1], stamp, entry))
                building.add_done_callback(mark_retrieved)
                building.add_done_callback(lambda _f: self._building.pop(key, None))
            if (tier is Tier.ALL and prepared is not None and prepared.stamp[1:] == stamp[1:]
                    and not building.done()):
                return prepared, stale  # a refreshed list: the last one is served until the new one is prepared
            await asyncio.shield(building)
            prepared = self._prepared.get((tier, fmt))
            if prepared is not None and prepared.stamp == stamp:
                return prepared, stale

    async def _prepare(self, tier: Tier, json: bool, stamp: ListStamp, entry: Entry[BuiltList] | None) -> None:
        started = time.perf_counter()
        formats = _formats(json)
        if tier is Tier.ALL:
            assert entry is not None
            bodies = await self._all(entry, json)
        else:
            bodies = await self._curated(tier, json)
        previous = self._prepared.get((tier, formats[0]))
        if previous is not None and previous.identity == bodies.identity:
            for fmt in formats:  # the same bytes: keep them, their ETag and their gzip form
                self._prepared[(tier, fmt)] = replace(self._prepared[(tier, fmt)], stamp=stamp,
                                                      valid_until=bodies.valid_until)
            return
        for fmt in formats:
            head, tail = index_frame(fmt, bodies.serial, self.env)
            doc = document(head, bodies.pieces, tail, json=json)
            digest = hashlib.sha256("\0".join((_LIST_FORMAT, API_VERSION, fmt.value, bodies.identity)).encode())
            self._prepared[(tier, fmt)] = PreparedList(stamp, bodies.identity, bodies.valid_until, doc,
                                                       f'"{digest.hexdigest()[:32]}"', None, None, bodies.serial,
                                                       (time.perf_counter() - started) * 1000)
        self._compress(tier, formats, bodies.gzip, bodies.then)

    async def _all(self, entry: Entry[BuiltList], json: bool) -> _Bodies:
        built = entry.value
        hidden = self._hidden()
        identity = "\0".join(("all", entry.revision, *sorted(hidden)))
        previous = self._prepared.get((Tier.ALL, _formats(json)[0]))
        if previous is not None and previous.identity == identity:
            return _Bodies(identity, [], built.last_serial, _FOREVER)
        if hidden:
            pieces = await self._cpu.run(built.pieces, hidden, json=json)
        elif json:  # the very bytes the database keeps: their gzip form is made once for both
            return _Bodies(identity, await self._cpu.run(built.json_pieces), built.last_serial, _FOREVER,
                           lambda: self._pages.list_json_gzip(built))
        else:
            pieces = await self._cpu.run(built.html_pieces)
        then = None if json else self._packer(built, entry.revision)
        return _Bodies(identity, pieces, built.last_serial, _FOREVER, then=then)

    def _packer(self, built: BuiltList, revision: str) -> Callable[[], None]:
        """Served as HTML, a list holds its JSON packed (a list's size less) until a JSON client asks; unless one
        has asked already (the JSON list holds those bytes: packing them would hold a copy more)."""
        def pack() -> None:
            json_list = self._prepared.get((Tier.ALL, Format.JSON))
            if json_list is None or json_list.identity.split("\0")[:2] != ["all", revision]:
                built.pack_json()
        return pack

    async def _curated(self, tier: Tier, json: bool) -> _Bodies:
        names = curated_projects(tier, self._policies.current, self._quarantine.quarantined)
        found = await self._upstream_entries(names)
        entries = [found.get(n) or self._from_pages(n) for n in names]
        serials = [e.last_serial for e in entries if e.last_serial is not None]
        display = [e.name for e in entries]
        numbers = [e.last_serial for e in entries]
        if len(names) > _OFFLOAD_NAMES:
            html, json_body = await self._cpu.run(render_entries, display, numbers)
        else:
            html, json_body = render_entries(display, numbers)
        identity = "\0".join((tier.value, hashlib.sha256(json_body).hexdigest()))
        return _Bodies(identity, [json_body if json else html], max(serials) if serials else None,
                       self._clock() + LIST_REFRESH)

    async def _upstream_entries(self, names: tuple[str, ...]) -> dict[str, ProjectEntry]:
        known = self._pages.known_list()
        if known is None or not names:
            return {}
        built: BuiltList = known.value
        # In the lane whatever their number: each name may decode (and inflate, when packed) a piece of its own.
        return await self._cpu.run(built.entries, names)

    def _from_pages(self, name: str) -> ProjectEntry:
        entry = self._pages.projects.known(name)
        if entry is None:
            return ProjectEntry(name)
        detail = entry.value
        return ProjectEntry(detail.upstream_name or name, detail.last_serial)

    def _compress(self, tier: Tier, formats: tuple[Format, ...], made: Callable[[], Awaitable[bytes]] | None = None,
                  then: Callable[[], None] | None = None) -> None:
        """Make the gzip form of the body of ``formats`` once (their bodies hold the same bytes), in a thread (zlib
        releases the GIL) when it is big; ``made``: where it is made already; ``then``: run in the CPU lane after."""
        prepared = self._prepared[(tier, formats[0])]
        if made is None and then is None and prepared.body.size < _GZIP_INLINE:
            self._attach(tier, formats, prepared, gzip_parts(prepared.body.parts, 6))
            return
        task = asyncio.ensure_future(self._compress_later(tier, formats, prepared, made, then))
        self._zipping.add(task)
        task.add_done_callback(self._zipping.discard)

    async def _compress_later(self, tier: Tier, fmts: tuple[Format, ...], prepared: PreparedList,
                              made: Callable[[], Awaitable[bytes]] | None, then: Callable[[], None] | None) -> None:
        try:
            body = await made() if made is not None else await asyncio.to_thread(gzip_parts, prepared.body.parts)
        except Exception:  # the identity encoding is still served
            log.exception("could not compress the project list of %s", tier.value)
            return
        self._attach(tier, fmts, prepared, body)
        if then is not None:
            await self._cpu.run(then)
        await trim_heap_soon()  # the last step of a big list: what its build freed goes back to the system

    def _attach(self, tier: Tier, fmts: tuple[Format, ...], prepared: PreparedList, body: bytes) -> None:
        for fmt in fmts:
            current = self._prepared.get((tier, fmt))
            if current is not None and current.stamp == prepared.stamp and current.gzip_body is None:
                self._prepared[(tier, fmt)] = replace(current, gzip_body=body,
                                                      gzip_etag=current.etag[:-1] + '-gz"')
