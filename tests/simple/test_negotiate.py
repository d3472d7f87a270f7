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


@pytest.mark.parametrize("value", ["*/*", "application/json", "text/html, application/vnd.pypi.simple.v1+json", ""])
def test_bad_format_parameter_is_406(value):
    with pytest.raises(NotAcceptable):
        negotiate(None, value)


def test_content_types():
    assert content_type(Format.TEXT_HTML) == "text/html; charset=utf-8"
    assert content_type(Format.HTML) == "application/vnd.pypi.simple.v1+html"
    assert content_type(Format.JSON) == "application/vnd.pypi.simple.v1+json"
