"""Checklist section D: content negotiation (items 20-22)."""

import pytest

from mirror.core.errors import NotAcceptable
from mirror.core.models import Format
from mirror.core.simple.negotiate import content_type, negotiate

PIP = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
UV = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
POETRY = "application/vnd.pypi.simple.v1+json, */*;q=0.1"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, Format.TEXT_HTML),
        ("", Format.TEXT_HTML),
        ("*/*", Format.TEXT_HTML),
        ("text/*", Format.TEXT_HTML),
        (PIP, Format.JSON),
        (UV, Format.JSON),
        (POETRY, Format.JSON),
        ("application/vnd.pypi.simple.v1+json", Format.JSON),
        ("application/vnd.pypi.simple.v1+html", Format.HTML),
        ("text/html, application/vnd.pypi.simple.v1+html, application/vnd.pypi.simple.v1+json", Format.TEXT_HTML),
        ("application/vnd.pypi.simple.latest+json", Format.JSON),
        ("application/vnd.pypi.simple.latest+html", Format.HTML),
        ("application/vnd.pypi.simple.v1+json;q=0, text/html", Format.TEXT_HTML),
        ("application/json", Format.TEXT_HTML),
        # q-values with 3 decimals, odd whitespace and parameter order
        ("text/html;q=0.001 ,  application/vnd.pypi.simple.v1+json ; q=0.002", Format.JSON),
        ("application/vnd.pypi.simple.v1+json;charset=utf-8;q=0.5, text/html;q=0.4", Format.JSON),
        ("TEXT/HTML", Format.TEXT_HTML),
    ],
)
def test_accept_header_picks_representation(accept, expected):
    assert negotiate(accept) is expected


@pytest.mark.parametrize("accept", ["application/vnd.pypi.simple.v2+json",
                                    "application/vnd.pypi.simple.v2+json, application/vnd.pypi.simple.v3+html",
                                    "application/vnd.pypi.simple.v1+json;q=0"])
def test_only_unsupported_simple_versions_is_406(accept):
    with pytest.raises(NotAcceptable):
        negotiate(accept)


def test_format_parameter_overrides_accept():
    assert negotiate("text/html", "application/vnd.pypi.simple.v1+json") is Format.JSON
    assert negotiate(PIP, "text/html") is Format.TEXT_HTML
    assert negotiate(None, "application/vnd.pypi.simple.latest+html") is Format.HTML


@pytest.mark.parametrize("value", ["*/*", "application/json", "text/html, application/vnd.pypi.simple.v1+json", "",
                                   "jsonx", "xml"])
def test_bad_format_parameter_is_406(value):
    with pytest.raises(NotAcceptable):
        negotiate(None, value)


def test_content_types():
    assert content_type(Format.TEXT_HTML) == "text/html; charset=utf-8"
    assert content_type(Format.HTML) == "application/vnd.pypi.simple.v1+html"
    assert content_type(Format.JSON) == "application/vnd.pypi.simple.v1+json"


# --------------------------------------------------------------------------- specificity and q edges (issue 16)

from mirror.core.simple.negotiate import accept_quality  # noqa: E402

JSON, HTML, TEXT = Format.JSON.value, Format.HTML.value, Format.TEXT_HTML.value


@pytest.mark.parametrize(("accept", "expected"), [
    # the most specific range wins, wherever it stands in the header
    ("*/*, application/vnd.pypi.simple.v1+json;q=0", Format.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json;q=0, */*", Format.TEXT_HTML),
    ("*/*;q=0.1, application/vnd.pypi.simple.v1+json;q=0", Format.TEXT_HTML),
    ("application/*;q=0, application/vnd.pypi.simple.v1+json", Format.JSON),
    ("application/vnd.pypi.simple.v1+json;q=0.5, application/*;q=0.4", Format.JSON),
    ("application/*;q=0.4, application/vnd.pypi.simple.v1+json;q=0.5", Format.JSON),
    ("application/vnd.pypi.simple.v1+json;q=0.5, application/*", Format.HTML),
    ("text/*;q=0, */*", Format.HTML),
    ("*/*;q=0, text/*;q=0.5, application/vnd.pypi.simple.v1+json;q=0.4", Format.TEXT_HTML),
    ("*/*;q=0, application/*;q=0.5, text/html;q=0.4", Format.HTML),
    ("application/*", Format.HTML),                        # equal q: server order, v1+html before JSON
    ("application/*, text/*;q=0.9", Format.HTML),
    # equal q: server order (text/html first); the first of two equal ranges counts
    ("application/vnd.pypi.simple.v1+json, text/html", Format.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+json;q=0", Format.JSON),
    ("text/html;q=1, application/vnd.pypi.simple.v1+json", Format.TEXT_HTML),
    # q is clamped to [0, 1]; a bad q is 0; the q key in any case and spacing; other parameters ignored
    ("text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=7", Format.JSON),
    ("text/html;q=1, application/vnd.pypi.simple.v1+json;q=7", Format.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json;q=-1, text/html;q=0.01", Format.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json;q=abc, text/html;q=0.01", Format.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json;q=, text/html;q=0.01", Format.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json;Q=0, text/html;q=0.01", Format.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json; q = 0 , text/html;q=0.01", Format.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json;level=1;q=0.9, text/html;q=0.8", Format.JSON),
    ("application/vnd.pypi.simple.v1+json;qq=0, text/html;q=0.8", Format.JSON),
    ("application/vnd.pypi.simple.v1+json;q==1, text/html;q=0.5", Format.TEXT_HTML),  # "=1" is no number
    ("text/html;q=0.001, application/vnd.pypi.simple.v1+json;q=0.0011", Format.JSON),
    # malformed ranges are skipped, not the end of the header
    ("garbage, application/vnd.pypi.simple.v1+json", Format.JSON),
    ("garbage", Format.TEXT_HTML),
    (",,, ;q=1", Format.TEXT_HTML),
    ("   ", Format.TEXT_HTML),
    ("Application/Vnd.PyPI.Simple.V1+JSON", Format.JSON),
    # a range that excludes everything offered falls back to text/html unless it names only Simple API types
    ("*/*;q=0", Format.TEXT_HTML),
    ("image/png", Format.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json;q=0, image/png", Format.TEXT_HTML),
])
def test_specificity_and_q(accept, expected):
    assert negotiate(accept) is expected


@pytest.mark.parametrize(("offer", "accept", "q"), [
    (JSON, "application/vnd.pypi.simple.v1+json;q=0.3", 0.3),
    (JSON, "application/vnd.pypi.simple.latest+json;q=0.3", 0.3),
    (HTML, "application/vnd.pypi.simple.latest+html;q=0.2", 0.2),
    (JSON, "application/*;q=0.2, */*;q=0.1", 0.2),
    (JSON, "*/*;q=0.1, application/*;q=0.2", 0.2),
    (JSON, "*/*;q=0.1", 0.1),
    (JSON, "application/vnd.pypi.simple.v1+json;q=0.4, application/*;q=0.9, */*", 0.4),
    (TEXT, "text/*;q=0.6, application/*", 0.6),
    (TEXT, "application/*", None),
    (JSON, "text/html", None),
    (JSON, "", None),
    (JSON, "application/vnd.pypi.simple.v1+json;q=2", 1.0),
    (JSON, "application/vnd.pypi.simple.v1+json;q=-2", 0.0),
    (JSON, "application/vnd.pypi.simple.v1+json;q=x", 0.0),
    (JSON, "application/vnd.pypi.simple.v1+json", 1.0),
])
def test_accept_quality(offer, accept, q):
    assert accept_quality(offer, accept) == q


@pytest.mark.parametrize(("value", "expected"), [
    ("application/vnd.pypi.simple.v1 json", Format.JSON),   # an unencoded "+" arrives as a space
    ("  application/vnd.pypi.simple.v1+json  ", Format.JSON),
    ("APPLICATION/VND.PYPI.SIMPLE.V1+HTML", Format.HTML),
    ("application/vnd.pypi.simple.latest json", Format.JSON),
    ("text/html", Format.TEXT_HTML),
    ("json", Format.JSON),   # the short forms
    (" HTML ", Format.HTML),
])
def test_format_parameter_spellings(value, expected):
    assert negotiate("application/vnd.pypi.simple.v1+json;q=0", value) is expected


def test_the_406_says_what_was_asked_for():
    with pytest.raises(NotAcceptable, match=r"^unsupported format 'v2'$"):
        negotiate(None, "v2")
    with pytest.raises(NotAcceptable, match=r"^only unsupported Simple API versions are acceptable$"):
        negotiate("application/vnd.pypi.simple.v2+json")
