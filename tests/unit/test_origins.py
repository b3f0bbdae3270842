"""Studio origins, pure: which host is which studio, the URL a studio has, and the path its tool gets."""

from __future__ import annotations

from libs.contracts.studio import StudioTemplate
from services.gateway.proxy.hosts import (
    StudioOrigins,
    rewrite_location,
    session_path,
    takes_base_path,
    tool_path,
)

SUB = StudioOrigins("subdomain", "localhost:8080")
CUSTOM = StudioTemplate(repository="studios/custom:1", tool="custom", base_path=False)


def test_subdomain_studio_url_is_its_own_origin_with_the_gateways_scheme() -> None:
    assert SUB.studio_url("http://127.0.0.1:8080", "ab12cd34") == "http://ab12cd34.localhost:8080/"
    assert StudioOrigins("subdomain", "studios.example.org").studio_url("https://gw.example.org", "AB12") == \
        "https://ab12.studios.example.org/"


def test_path_mode_studio_url_is_under_connect_on_the_gateway() -> None:
    assert StudioOrigins("path").studio_url("http://gw/", "ab12cd34") == "http://gw/connect/ab12cd34/"


def test_host_routing_names_the_session_of_a_studio_host_only() -> None:
    assert SUB.session_of("ab12cd34.localhost:8080") == "ab12cd34"
    assert SUB.session_of("AB12CD34.LOCALHOST") == "ab12cd34"  # ports and case are not compared
    assert SUB.session_of("localhost:8080") is None  # the main origin
    assert SUB.session_of("a.b.localhost:8080") is None  # one label only
    assert SUB.session_of("ab12cd34.evil.test") is None
    assert SUB.session_of("-x.localhost") is None
    assert StudioOrigins("path", "localhost").session_of("ab12cd34.localhost") is None  # path mode: no hosts


def test_templates_say_whether_the_tool_takes_a_base_path() -> None:
    assert takes_base_path(StudioTemplate(repository="r", tool="jupyter")) is True  # recorded before the flag
    assert takes_base_path(CUSTOM) is False
    assert takes_base_path(StudioTemplate(repository="r", tool="custom", base_path=True)) is True


def test_a_tool_with_a_base_path_always_gets_the_prefix() -> None:
    assert tool_path(b"/lab", "s1", base_path=True, on_studio_origin=True) == b"/connect/s1/lab"
    assert tool_path(b"/connect/s1/lab", "s1", base_path=True, on_studio_origin=True) == b"/connect/s1/lab"
    assert tool_path(b"/connect/s1/lab", "s1", base_path=True, on_studio_origin=False) == b"/connect/s1/lab"


def test_a_tool_served_at_root_never_sees_the_prefix() -> None:
    assert tool_path(b"/connect/s1/data/a.txt", "s1", base_path=False, on_studio_origin=False) == b"/data/a.txt"
    assert tool_path(b"/connect/s1", "s1", base_path=False, on_studio_origin=False) == b"/"
    assert tool_path(b"/data/a.txt", "s1", base_path=False, on_studio_origin=True) == b"/data/a.txt"
    assert tool_path(b"/connect/s10/x", "s1", base_path=False, on_studio_origin=False) == b"/connect/s10/x"


def test_redirects_of_a_root_tool_are_put_back_under_the_prefix() -> None:
    assert rewrite_location(b"/dir/", "s1") == b"/connect/s1/dir/"
    assert rewrite_location(b"//elsewhere/x", "s1") == b"//elsewhere/x"
    assert rewrite_location(b"http://x/y", "s1") == b"http://x/y"


def test_session_path_is_the_path_under_the_prefix() -> None:
    assert session_path(b"/connect/s1/lab/tree", "s1") == "/lab/tree"
    assert session_path(b"/connect/s1", "s1") == "/"
    assert session_path(b"/lab", "s1") == "/lab"
