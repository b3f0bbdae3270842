"""The web console in process over the real Studios API (real PostgreSQL; studio commands through the lifecycle's
real domain): sign-in, the studios list, the create form, a studio's status, actions and history, and the
same-origin rule for writes. The browser flow against ``studios up`` is ``tests/e2e/test_console.py``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from libs.eventstore import EventStore
from services.gateway.api.seqera import StudiosContext, install, orgs, resources, router, users
from services.gateway.api.seqera.common import install_error_handlers
from services.gateway.console import install as install_console
from services.gateway.read.projections import STUDIOS, run
from services.gateway.read.schema import GATEWAY
from tests.integration.studios_api_helpers import CE, WS, InProcessSender, seed

BASE = "http://gw.test"
SAME_ORIGIN = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
async def console(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    await seed(store)
    app = FastAPI()
    install_error_handlers(app)
    install(app, StudiosContext(store, InProcessSender(store), public_url=BASE, sse_poll=0.05))
    for r in (users.router, orgs.router, resources.router, router):
        app.include_router(r)
    install_console(app)
    stop = asyncio.Event()
    task = asyncio.create_task(run(store, STUDIOS, stop))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            yield client
    finally:
        stop.set()
        await task
        await store.close()


async def sign_in(c: httpx.AsyncClient, token: str = "alice") -> None:
    r = await c.post("/console/sign-in", data={"token": token, "next": "/console/"}, headers=SAME_ORIGIN)
    assert r.status_code == 303, r.text


async def create(c: httpx.AsyncClient, name: str, **extra: str) -> str:
    form = {"workspaceId": str(WS), "name": name, "computeEnvId": CE, "template": "studios/http-echo:1", **extra}
    r = await c.post("/console/studios", data=form, headers=SAME_ORIGIN)
    assert r.status_code == 303, r.text
    return r.headers["location"].split("/studios/")[1].split("?")[0]


async def until(c: httpx.AsyncClient, path: str, text: str, within: float = 10.0) -> str:
    deadline = time.monotonic() + within
    while True:
        body = (await c.get(path)).text
        if text in body:
            return body
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}:\n{body[-2000:]}"
        await asyncio.sleep(0.05)


async def test_sign_in_sets_an_httponly_cookie_and_refuses_a_bad_token(console: httpx.AsyncClient) -> None:
    r = await console.get("/console/")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")
    bad = await console.post("/console/sign-in", data={"token": "nobody"}, headers=SAME_ORIGIN)
    assert bad.status_code == 401 and "not valid" in bad.text
    r = await console.post("/console/sign-in", data={"token": "alice", "next": "https://evil.test/"},
                           headers=SAME_ORIGIN)
    assert r.status_code == 303 and r.headers["location"] == "/console/"  # never off the console
    cookie = r.headers["set-cookie"].lower()
    assert "studios_token=alice" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    page = await console.get("/console/")
    assert page.status_code == 200 and "alice" in page.text


async def test_an_htmx_request_without_a_sign_in_is_redirected_by_header(console: httpx.AsyncClient) -> None:
    r = await console.get("/console/studios/table", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["hx-redirect"].startswith("/console/sign-in")


async def test_a_write_from_another_origin_is_refused_and_creates_nothing(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    form = {"workspaceId": str(WS), "name": "csrf", "computeEnvId": CE, "template": "studios/http-echo:1"}
    r = await console.post("/console/studios", data=form,
                           headers={"Origin": "http://abc.gw.test", "Sec-Fetch-Site": "same-site"})
    assert r.status_code == 403
    listed = await console.get("/console/studios/table", params={"workspaceId": WS})
    assert "csrf" not in listed.text


async def test_the_list_shows_badges_and_answers_the_api_search_keywords(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    await create(console, "kept-stopped")
    await create(console, "started", autoStart="on")
    table = await until(console, f"/console/studios/table?workspaceId={WS}", "started")
    assert 'class="badge idle" role="status">stopped' in table
    only = await console.get("/console/studios/table", params={"workspaceId": WS, "search": "status:stopped"})
    assert "kept-stopped" in only.text and ">started<" not in only.text
    wrong = await console.get("/console/studios/table", params={"workspaceId": WS, "search": "status:nonsense"})
    assert wrong.status_code == 200 and 'role="alert"' in wrong.text


async def test_the_list_pages_through_studios(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    for i in range(21):
        await create(console, f"s{i:02d}")
    first = await until(console, f"/console/studios/table?workspaceId={WS}", "of 21")
    assert "1 to 20 of 21" in first and 'rel="next"' in first and 'rel="prev"' not in first
    second = await console.get("/console/studios/table", params={"workspaceId": WS, "offset": 20})
    assert "21 to 21 of 21" in second.text and second.text.count("<tr>") == 1 + 1  # header row + one studio


async def test_the_name_is_checked_as_typed(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    await create(console, "taken")
    await until(console, f"/console/studios/table?workspaceId={WS}", "taken")
    check = "/console/studios/name-check"
    free = await console.get(check, params={"workspaceId": WS, "name": "free-name"})
    used = await console.get(check, params={"workspaceId": WS, "name": "taken"})
    bad = await console.get(check, params={"workspaceId": WS, "name": "no spaces allowed!"})
    assert "available" in free.text and "hint ok" in free.text
    assert "already exists" in used.text and "hint bad" in used.text
    assert "hint bad" in bad.text


async def test_the_create_form_lists_choices_and_shows_an_api_error(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    form = await console.get("/console/studios/new", params={"workspaceId": WS})
    assert "studios/jupyter:4" in form.text and f'value="{CE}"' in form.text and '<label for="name">' in form.text
    r = await console.post("/console/studios", headers=SAME_ORIGIN,
                           data={"workspaceId": str(WS), "name": "needs-cmd", "computeEnvId": CE,
                                 "template": "studios/custom:1"})
    assert r.status_code == 400 and "configuration.command" in r.text and 'value="needs-cmd"' in r.text


async def test_the_studio_page_starts_it_and_shows_who_did_in_the_history(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    sid = await create(console, "lifecycle")
    page = await until(console, f"/console/studios/{sid}?workspaceId={WS}", "lifecycle")
    assert 'id="studio-status"' in page and "every 2s" in page and ">stopped<" in page
    status = await console.post(f"/console/studios/{sid}/actions/start?workspaceId={WS}", headers=SAME_ORIGIN)
    assert status.status_code == 200 and "Start requested" in status.text, status.text
    history = await until(console, f"/console/studios/{sid}/history?workspaceId={WS}", "StartRequested")
    assert "by <strong>alice</strong>" in history


async def test_a_refused_action_is_said_in_the_status_panel(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    sid = await create(console, "still-starting", autoStart="on")  # no backend here: it stays starting
    await until(console, f"/console/studios/{sid}/status?workspaceId={WS}", "starting")
    status = await console.post(f"/console/studios/{sid}/actions/stop?workspaceId={WS}", headers=SAME_ORIGIN)
    assert status.status_code == 200 and 'class="notice"' in status.text and "is starting" in status.text
    assert 'id="status"' in status.text  # the panel, so it keeps polling


async def test_an_unknown_studio_is_a_not_found_page(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    r = await console.get("/console/studios/nope1234", params={"workspaceId": WS})
    assert r.status_code == 404 and 'role="alert"' in r.text


async def test_a_poll_while_the_api_is_unavailable_keeps_the_last_view(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    sid = await create(console, "polled")
    await until(console, f"/console/studios/{sid}/status?workspaceId={WS}", "stopped")
    app: Any = console._transport.app  # type: ignore[attr-defined]
    store, app.state.store = app.state.store, None  # the API answers 503 "The gateway is starting"
    try:
        r = await console.get(f"/console/studios/{sid}/status", params={"workspaceId": WS},
                              headers={"HX-Request": "true"})
        assert r.status_code == 204 and r.content == b""  # htmx swaps nothing and polls again
    finally:
        app.state.store = store


async def test_a_viewer_sees_the_studio_but_the_api_refuses_their_start(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    sid = await create(console, "alices")
    await until(console, f"/console/studios/{sid}/status?workspaceId={WS}", "stopped")
    await sign_in(console, "carol")  # a "view" participant
    page = await console.get(f"/console/studios/{sid}", params={"workspaceId": WS})
    assert page.status_code == 200 and "alices" in page.text
    status = await console.post(f"/console/studios/{sid}/actions/start?workspaceId={WS}", headers=SAME_ORIGIN)
    assert status.status_code == 200 and "does not allow" in status.text and ">stopped<" in status.text
