"""Hypothesis strategies for Simple API pages: PEP 691 JSON and PEP 503 HTML project pages and lists.

The pages are valid by the specs and written in the shapes real indexes use (and, for HTML, in odd
but valid spellings: uppercase tags, single-quoted or unquoted attributes, markup inside link text,
comments and scripts holding fake anchors), so the new parsers and pypi-simple must agree on them.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

HEX = "0123456789abcdef"
_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}(?:[-_.][A-Za-z0-9]{1,5}){0,2}", fullmatch=True)
_VERSION = st.from_regex(r"[0-9]{1,2}\.[0-9]{1,2}(?:\.[0-9]{1,2})?(?:rc[0-9]|\.post[0-9])?", fullmatch=True)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)
_REQUIRES = st.sampled_from([">=3.8", ">=2.7, !=3.0.*, <4", "<4,>=3.9", "~=3.10", "==3.*", ">3.7 & <3.12"])
_TIMES = st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2030, 1, 1))


def _hex(n: int) -> st.SearchStrategy[str]:
    return st.text(HEX, min_size=n, max_size=n)


@st.composite
def files(draw: st.DrawFn, project: str, *, relative_urls: bool = True) -> dict[str, Any]:
    """One file as a dict of PEP 691 fields (``core-metadata`` False/True/{...}, ``yanked`` ...)."""
    version = draw(_VERSION)
    stem = project.replace("-", "_").replace(".", "_")
    filename = draw(st.sampled_from([f"{stem}-{version}.tar.gz", f"{stem}-{version}-py3-none-any.whl",
                                     f"{stem}-{version}-cp312-cp312-manylinux_2_17_x86_64.whl",
                                     f"{stem}-{version}.zip"]))
    sha = draw(_hex(64))
    url = draw(st.sampled_from(
        ["https://files.example/packages/{a}/{b}/{f}", "http://files.example:8080/p/{f}"]
        + (["../../packages/{a}/{b}/{f}", "/packages/{a}/{f}", "{f}", "./x/{f}"] if relative_urls else [])))
    url = url.format(a=sha[:2], b=sha[2:4], f=filename)
    hashes = {"sha256": sha}
    if draw(st.booleans()):
        hashes["md5"] = draw(_hex(32))
    when = draw(_TIMES).replace(tzinfo=UTC)
    if draw(st.booleans()):
        when = when.replace(microsecond=0)
    return {
        "filename": filename, "url": url, "hashes": hashes,
        "requires-python": draw(st.none() | _REQUIRES),
        "size": draw(st.integers(0, 10**10)),
        "upload-time": when,
        "yanked": draw(st.just(False) | st.just(True) | _TEXT.filter(bool)),
        "core-metadata": draw(st.just(False) | st.just(True) | _hex(64).map(lambda h: {"sha256": h})),
        "provenance": draw(st.none() | st.just(
            f"https://files.example/integrity/{project}/{version}/{filename}/provenance")),
    }  # fmt: skip


@st.composite
def project_pages(draw: st.DrawFn, *, max_files: int = 12) -> dict[str, Any]:
    """A project page as a dict: display ``name``, ``files``, ``status`` (None or (status, reason)),
    ``api`` (repository version), ``serial``, ``versions``."""
    name = draw(_NAME)
    found = draw(st.lists(files(name), max_size=max_files))
    status = draw(st.none() | st.tuples(st.sampled_from(["active", "archived", "quarantined", "deprecated"]),
                                        st.none() | _TEXT))
    return {"name": name, "files": found, "status": status, "api": draw(st.sampled_from(["1.0", "1.1", "1.3", "1.4"])),
            "serial": draw(st.none() | st.integers(0, 10**9)),
            "versions": sorted({draw(_VERSION) for _ in range(draw(st.integers(0, 3)))})}


def _time_text(when: datetime, style: int) -> str:
    if style == 0:
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if when.microsecond else when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == 1:
        return when.isoformat()  # +00:00
    return when.astimezone(timezone(timedelta(hours=2))).isoformat()


def json_page(page: dict[str, Any], *, time_style: int = 0, status_in_meta: bool = False) -> bytes:
    """The page as PEP 691 JSON (keys in the public index's order)."""
    out = []
    for f in page["files"]:
        item = dict(f)
        item["upload-time"] = _time_text(f["upload-time"], time_style)
        item["data-dist-info-metadata"] = f["core-metadata"]
        out.append(item)
    meta: dict[str, Any] = {"api-version": page["api"]}
    if page["serial"] is not None:
        meta["_last-serial"] = page["serial"]
    data: dict[str, Any] = {"meta": meta, "name": page["name"], "files": out, "versions": page["versions"]}
    if page["status"] is not None:
        status = {"status": page["status"][0], "reason": page["status"][1]}
        if status_in_meta:
            meta["project-status"] = status
        else:
            data["project-status"] = status
    return json.dumps(data).encode()


#: Spellings of an anchor: (tag, attribute quoting, link text wrapper, end tag).
STYLES = ["plain", "upper", "single", "bare", "span", "spaced"]


def _attr(name: str, value: str, style: str) -> str:
    if style == "upper":
        name = name.upper()
    if style == "single":
        return f"{name}='{html.escape(value)}'"
    if style == "bare" and value and not any(c in value for c in " \t\n\"'=<>`&"):
        return f"{name}={value}"
    return f'{name}="{html.escape(value)}"'


def html_page(page: dict[str, Any], styles: list[str], *, noise: bool = False, base: str | None = None) -> bytes:
    """The page as PEP 503 HTML, anchor ``i`` written in ``styles[i % len(styles)]``."""
    head = [f'<meta name="pypi:repository-version" content="{page["api"]}">']
    if page["status"] is not None:
        head.append(f'<meta name="pypi:project-status" content="{page["status"][0]}">')
        if page["status"][1] is not None:
            head.append(f'<meta name="pypi:project-status-reason" content="{html.escape(page["status"][1])}">')
    if base is not None:
        head.append(f'<base href="{html.escape(base)}">')
    body = [f"<h1>Links for {html.escape(page['name'])}</h1>"]
    for i, f in enumerate(page["files"]):
        style = styles[i % len(styles)] if styles else "plain"
        attrs = [_attr("href", f"{f['url']}#sha256={f['hashes']['sha256']}", style)]
        if f["requires-python"] is not None:
            attrs.append(_attr("data-requires-python", f["requires-python"], style))
        if f["yanked"] is not False:
            attrs.append(_attr("data-yanked", "" if f["yanked"] is True else f["yanked"], style))
        core = f["core-metadata"]
        if core is not False:
            value = "true" if core is True else f"sha256={core['sha256']}"
            attrs += [_attr("data-core-metadata", value, style), _attr("data-dist-info-metadata", value, style)]
        if f["provenance"] is not None:
            attrs.append(_attr("data-provenance", f["provenance"], style))
        tag, end = ("A", "</A>") if style == "upper" else ("a", "</a >" if style == "spaced" else "</a>")
        sep = "\n   " if style == "spaced" else " "
        text = html.escape(f["filename"])
        if style == "span":
            text = f"<span>{text[:3]}</span>{text[3:]}"
        if style == "spaced":
            text = f"\n  {text}  "
        body.append(f"<{tag}{sep}{sep.join(attrs)}>{text}{end}<br />")
        if noise and i % 2 == 0:
            body.append('<!-- <a href="https://evil.example/x.whl">x-1.0.tar.gz</a> -->')
            body.append('<script>var a = "<a href=\'y\'>y-1.0.tar.gz</a>";</script>')
    return ("<!DOCTYPE html>\n<html>\n  <head>\n    " + "\n    ".join(head) + "\n    <title>Links</title>\n"
            "  </head>\n  <body>\n    " + "\n    ".join(body) + "\n  </body>\n</html>\n<!--SERIAL 7-->\n").encode()


@st.composite
def project_lists(draw: st.DrawFn) -> list[str]:
    """Display names of a project list: duplicates, names needing normalization, entity characters."""
    names = draw(st.lists(_NAME | st.sampled_from(["Django", "zope.interface", "Flask_SQLAlchemy", "a&b", "x<y",
                                                   "caf\u00e9", "ruamel.yaml", "DJANGO", "django"]), max_size=40))
    return names


def html_list(names: list[str], *, noise: bool = False) -> bytes:
    links = [f'<a href="/simple/{html.escape(n)}/">{html.escape(n)}</a>' for n in names]
    if noise:
        links.insert(len(links) // 2, '<!-- <a href="/simple/hidden/">hidden</a> -->')
    return ('<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.1">\n'
            "    <title>Simple index</title>\n  </head>\n  <body>\n    " + "\n    ".join(links)
            + "\n  </body>\n</html>\n").encode()


def json_list(names: list[str], serials: list[int | None] | None = None, *, meta_last: bool = False,
              compact: bool = False) -> bytes:
    """A PEP 691 project list; ``compact``: without blanks, as indexes write it (the mirror's fast path)."""
    items = []
    for i, n in enumerate(names):
        item: dict[str, Any] = {"name": n}
        if serials is not None and serials[i % len(serials)] is not None:
            item["_last-serial"] = serials[i % len(serials)]
        items.append(item)
    meta = {"api-version": "1.1", "_last-serial": 99}
    data = {"projects": items, "meta": meta} if meta_last else {"meta": meta, "projects": items}
    return json.dumps(data, separators=(",", ":") if compact else None).encode()
