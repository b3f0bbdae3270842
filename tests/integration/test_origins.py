"""Studios on their own origins, over real HTTP and WebSockets: the gateway's routes on uvicorn, tickets and studio
sessions in a real PostgreSQL, real tools behind (``python -m http.server`` as a custom tool, and the echo tool).

Python's resolver does not resolve ``*.localhost``, so requests go to the gateway's address with the studio's
``Host`` header, as the docs show scripts doing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from libs.contracts.errors import Unauthenticated
from libs.contracts.studio import StudioTemplate
from libs.contracts.studio_state import State
from libs.eventstore import EventStore
from libs.testing.fakes import ManualClock
from services.gateway.access import auth
from services.gateway.access.tickets import Tickets, digest
from services.gateway.api.seqera import users
from services.gateway.api.seqera.common import install_error_handlers
from services.gateway.bootstrap import ensure_defaults
from services.gateway.proxy.admission import handle_secret
from services.gateway.proxy.connections import ConnectionTracker
from services.gateway.proxy.entry import entry_router
from services.gateway.proxy.hosts import StudioHosts, StudioOrigins
from services.gateway.proxy.http import proxy_router
from services.gateway.proxy.origin import OriginAdmission, origin_router
from services.gateway.read.projections.base import wait_for_position
from services.gateway.read.projections.identity import IDENTITY, identity_subscription
from services.gateway.read.schema import GATEWAY
from tests.integration.proxy_helpers import TOKENS, RecordingSender, User, free_port, serve, studio, tool_process

CUSTOM = StudioTemplate(repository="studios/custom:1", tool="custom", base_path=False)
ECHO = StudioTemplate(repository="studios/http-echo:1", tool="http-echo", base_path=True)
HTML = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}


@dataclass
class Tools:
    files_port: int
    echo_port: int
    root: Path


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tools]:
    root = tmp_path_factory.mktemp("workspace")
    (root / "hello.txt").write_text("hello from the workspace\n")
    (root / "sub").mkdir()
    (root / "sub" / "inner.txt").write_text("inner\n")
    files, echo = free_port(), free_port()
    with ExitStack() as stack:
        stack.enter_context(tool_process("http.server", files, ["--bind", "127.0.0.1", "--directory", str(root),
                                                                str(files)]))
        stack.enter_context(tool_process("services.lifecycle.tools.http_echo", echo))
        yield Tools(files, echo, root)


@dataclass
class Gateway:
    base: str
    http: httpx.AsyncClient
    clock: ManualClock
    path_base: str  # the same look-ups in path mode
    refused: set[str] = field(default_factory=set)  # user ids that have lost access
    revoked: set[str] = field(default_factory=set)  # tokens revoked

    def host(self, session_id: str) -> str:
        return f"{session_id}.localhost:{self.base.rpartition(':')[2]}"

    async def on(self, session_id: str, method: str, target: str, **kw: object) -> httpx.Response:
        """A request to a studio's origin: the gateway's address, the studio's ``Host``."""
        headers = {"Host": self.host(session_id), **kw.pop("headers", {})}  # type: ignore[dict-item]
        return await self.http.request(method, target, headers=headers, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def gateway(database_url: str, tools: Tools) -> AsyncIterator[Gateway]:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    states = {"s-files": studio("s-files", tools.files_port, template=CUSTOM),
              "s-echo": studio("s-echo", tools.echo_port, template=ECHO),
              "s-other": studio("s-other", tools.echo_port, template=ECHO)}
    clock = ManualClock()
    refused: set[str] = set()
    revoked: set[str] = set()

    async def lookup(session_id: str) -> State | None:
        return states.get(session_id)

    async def authenticate(token: str) -> User | None:
        return None if token in revoked else TOKENS.get(token)

    async def authenticate_hash(token_hash: str) -> User | None:
        return next((u for t, u in TOKENS.items() if digest(t) == token_hash and t not in revoked), None)

    async def can_connect(user: User, state: State) -> bool:
        return user.user_id not in refused

    origins = StudioOrigins("subdomain", "localhost")
    tickets = Tickets(store.pool, clock=clock)
    sender = RecordingSender()
    async with httpx.AsyncClient(trust_env=False, timeout=30) as upstream:
        app = FastAPI()
        app.include_router(entry_router(origins, tickets, lookup, authenticate, can_connect, secret_of=handle_secret))
        admission = OriginAdmission(tickets, lookup, authenticate, authenticate_hash, can_connect, handle_secret)
        app.include_router(origin_router(admission, upstream, ConnectionTracker(sender)))
        app.include_router(proxy_router(lookup, authenticate, can_connect, sender, upstream))
        app.add_middleware(StudioHosts, origins=origins)
        path_mode = FastAPI()  # STUDIOS_CONNECT_MODE=path: the path proxy alone
        path_mode.include_router(proxy_router(lookup, authenticate, can_connect, sender, upstream))
        async with serve(app) as base, serve(path_mode) as path_base, httpx.AsyncClient(
                base_url=f"http://{base}", timeout=30, trust_env=False) as http:
            yield Gateway(base, http, clock, path_base, refused, revoked)
    await store.close()


def _cookie(r: httpx.Response, name: str) -> str:
    """The raw ``Set-Cookie`` line for ``name`` (attributes included)."""
    return next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith(f"{name}="))


async def _signed_in(gw: Gateway, session_id: str, path: str = "/") -> tuple[str, str]:
    """Through the entry point with a token: the studio session cookie, and the ticket it was opened with."""
    entry = await gw.http.get(f"/connect/{session_id}{path}", params={"access_token": "tok-alice"}, headers=HTML)
    assert entry.status_code == 302, entry.text
    location = urlsplit(entry.headers["location"])
    ticket = parse_qs(location.query)["studios_ticket"][0]
    exchanged = await gw.on(session_id, "GET", f"{location.path}?{location.query}", headers=HTML)
    assert exchanged.status_code == 302, exchanged.text
    return _cookie(exchanged, "studios_session").split(";")[0].partition("=")[2], ticket


async def test_http_server_serves_the_workspace_files_at_the_studio_origin(gateway: Gateway) -> None:
    bearer = {"Authorization": "Bearer tok-alice"}
    assert (await gateway.on("s-files", "GET", "/hello.txt", headers=bearer)).text == "hello from the workspace\n"
    listing = await gateway.on("s-files", "GET", "/", headers=bearer)
    assert listing.status_code == 200 and 'href="hello.txt"' in listing.text


async def test_http_server_serves_the_workspace_files_under_connect_in_path_mode(gateway: Gateway) -> None:
    bearer = {"Authorization": "Bearer tok-alice"}
    path_mode = f"http://{gateway.path_base}"
    r = await gateway.http.get(f"{path_mode}/connect/s-files/sub/inner.txt", headers=bearer)
    assert (r.status_code, r.text) == (200, "inner\n")
    moved = await gateway.http.get(f"{path_mode}/connect/s-files/sub", headers=bearer)  # http.server's redirect
    assert (moved.status_code, moved.headers["location"]) == (301, "/connect/s-files/sub/")


async def test_the_entry_point_redirects_with_a_ticket_and_never_the_token(gateway: Gateway) -> None:
    r = await gateway.http.get("/connect/s-files/sub/inner.txt", params={"access_token": "tok-alice", "q": "1"},
                               headers=HTML)
    location = urlsplit(r.headers["location"])
    assert r.status_code == 302 and "tok-alice" not in r.headers["location"]
    assert (location.scheme, location.hostname, location.path) == ("http", "s-files.localhost", "/sub/inner.txt")
    assert parse_qs(location.query)["q"] == ["1"] and len(parse_qs(location.query)["studios_ticket"][0]) >= 40
    signed_in = _cookie(r, "studios_token")  # signed in on the main origin, for /connect/ only
    assert "Path=/connect/" in signed_in and "HttpOnly" in signed_in


async def test_a_ticket_opens_a_host_only_session_cookie_that_serves_the_studio(gateway: Gateway) -> None:
    entry = await gateway.http.get("/connect/s-files/hello.txt", headers={"Authorization": "Bearer tok-alice"})
    location = urlsplit(entry.headers["location"])
    exchanged = await gateway.on("s-files", "GET", f"{location.path}?{location.query}", headers=HTML)
    assert (exchanged.status_code, exchanged.headers["location"]) == (302, "/hello.txt")
    cookie = _cookie(exchanged, "studios_session")
    assert all(a in cookie for a in ("HttpOnly", "SameSite=lax", "Path=/")) and "Domain" not in cookie
    value = cookie.split(";")[0]
    r = await gateway.on("s-files", "GET", "/hello.txt", headers={"Cookie": value})
    assert (r.status_code, r.text) == (200, "hello from the workspace\n")


async def test_a_replayed_ticket_gets_a_401_page_with_a_way_back(gateway: Gateway) -> None:
    _, ticket = await _signed_in(gateway, "s-files", "/hello.txt")
    replay = await gateway.on("s-files", "GET", f"/hello.txt?studios_ticket={ticket}", headers=HTML)
    assert replay.status_code == 401 and "text/html" in replay.headers["content-type"]
    assert f'href="http://localhost:{gateway.base.rpartition(":")[2]}/connect/s-files/hello.txt"' in replay.text


async def test_a_ticket_expires_after_its_lifetime(gateway: Gateway) -> None:
    entry = await gateway.http.get("/connect/s-files/", headers={"Authorization": "Bearer tok-alice"})
    query = urlsplit(entry.headers["location"]).query
    gateway.clock.advance(61)  # the default lifetime is 60 s
    late = await gateway.on("s-files", "GET", f"/?{query}", headers=HTML)
    assert late.status_code == 401 and "/connect/s-files/" in late.text and "studios_session" not in late.headers.get(
        "set-cookie", "")


async def test_a_ticket_within_its_lifetime_works(gateway: Gateway) -> None:
    entry = await gateway.http.get("/connect/s-files/", headers={"Authorization": "Bearer tok-alice"})
    gateway.clock.advance(59)
    r = await gateway.on("s-files", "GET", f"/?{urlsplit(entry.headers['location']).query}", headers=HTML)
    assert r.status_code == 302 and "studios_session=" in r.headers["set-cookie"]


async def test_a_ticket_opens_only_its_own_studio(gateway: Gateway) -> None:
    entry = await gateway.http.get("/connect/s-echo/", headers={"Authorization": "Bearer tok-alice"})
    r = await gateway.on("s-other", "GET", f"/?{urlsplit(entry.headers['location']).query}", headers=HTML)
    assert r.status_code == 401


async def test_a_studio_session_cookie_opens_no_other_studio(gateway: Gateway) -> None:
    cookie, _ = await _signed_in(gateway, "s-echo")
    r = await gateway.on("s-other", "GET", "/x", headers={"Cookie": f"studios_session={cookie}"})
    assert r.status_code == 401


async def test_a_browser_without_a_session_is_sent_to_the_gateway(gateway: Gateway) -> None:
    r = await gateway.on("s-files", "GET", "/sub/inner.txt?x=1", headers=HTML)
    port = gateway.base.rpartition(":")[2]
    assert (r.status_code, r.headers["location"]) == (302, f"http://localhost:{port}/connect/s-files/sub/inner.txt?x=1")
    assert (await gateway.on("s-files", "GET", "/sub/inner.txt")).status_code == 401  # a script: no redirect


async def test_the_entry_point_without_credentials_offers_sign_in(gateway: Gateway) -> None:
    r = await gateway.http.get("/connect/s-files/", headers=HTML)
    assert r.status_code == 401 and 'name="access_token"' in r.text


async def test_a_user_who_loses_access_is_refused_on_the_next_request(gateway: Gateway) -> None:
    cookie = {"Cookie": f"studios_session={(await _signed_in(gateway, 's-files'))[0]}"}
    assert (await gateway.on("s-files", "GET", "/hello.txt", headers=cookie)).status_code == 200
    gateway.refused.add("7")  # e.g. removed from the workspace
    assert (await gateway.on("s-files", "GET", "/hello.txt", headers=cookie)).status_code == 403
    gateway.refused.clear()
    gateway.revoked.add("tok-alice")  # the token the session was opened with is revoked
    assert (await gateway.on("s-files", "GET", "/hello.txt", headers=cookie)).status_code == 401


async def test_requests_from_another_origin_are_refused(gateway: Gateway) -> None:
    cookie = f"studios_session={(await _signed_in(gateway, 's-echo'))[0]}"
    own = f"http://{gateway.host('s-echo')}"
    other = f"http://{gateway.host('s-other')}"
    assert (await gateway.on("s-echo", "POST", "/api", headers={"Cookie": cookie, "Origin": own})).status_code == 200
    assert (await gateway.on("s-echo", "GET", "/api", headers={"Cookie": cookie, "Origin": other})).status_code == 403


async def test_websockets_open_only_from_the_studios_own_origin(gateway: Gateway) -> None:
    cookie = f"studios_session={(await _signed_in(gateway, 's-echo'))[0]}"
    url = f"ws://{gateway.host('s-echo')}/ws"  # the studio's Host, the gateway's address
    address = dict(host="127.0.0.1", port=int(gateway.base.rpartition(":")[2]))
    own = {"Cookie": cookie, "Origin": f"http://{gateway.host('s-echo')}"}
    async with connect(url, additional_headers=own, **address) as ws:  # type: ignore[arg-type]
        await ws.send("ping")
        assert await ws.recv() == "ping"
    foreign = {**own, "Origin": f"http://{gateway.host('s-other')}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=foreign, **address):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403


async def test_the_tool_gets_no_studios_credential_and_its_base_path(gateway: Gateway) -> None:
    cookie = f"studios_session={(await _signed_in(gateway, 's-echo'))[0]}"
    r = await gateway.on("s-echo", "GET", "/lab?x=1", headers={"Cookie": f"{cookie}; studios_token=tok-alice; o=1"})
    echoed = r.json()
    assert echoed["path"] == "/connect/s-echo/lab" and echoed["headers"]["cookie"] == "o=1"
    assert "tok-alice" not in r.text and cookie.partition("=")[2] not in r.text
    bearer = await gateway.on("s-echo", "GET", "/lab", headers={"Authorization": "Bearer tok-alice"})
    assert "tok-alice" not in bearer.text and bearer.json()["path"] == "/connect/s-echo/lab"


async def test_a_page_fetch_cannot_ride_on_the_gateways_sign_in_cookie(gateway: Gateway) -> None:
    signed_in = {"Cookie": "studios_token=tok-alice"}
    assert (await gateway.http.get("/connect/s-files/", headers={**signed_in, **HTML})).status_code == 302
    fetch = {**signed_in, "Sec-Fetch-Mode": "cors", "Origin": f"http://{gateway.host('s-echo')}"}
    assert (await gateway.http.get("/connect/s-files/", headers=fetch)).status_code == 403


async def test_a_studio_session_ends_when_its_token_is_revoked(database_url: str, tmp_path: Path) -> None:
    """The real identity read model: a studio session refers to its token by hash, so revoking the token ends it."""
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    position = await ensure_defaults(store, "admin-token-for-tests", work_dir=str(tmp_path / "work"))
    stop = asyncio.Event()
    task = asyncio.create_task(identity_subscription(store, poll_max=0.05).run(stop))
    try:
        assert await wait_for_position(store.pool, IDENTITY, position)
        app = FastAPI()
        app.state.store = store
        install_error_handlers(app)
        app.include_router(users.router)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as api:
            admin = {"Authorization": "Bearer admin-token-for-tests"}
            uid = (await api.post("/users", headers=admin, json={"userName": "ada", "email": "ada@example.org"})
                   ).json()["user"]["id"]
            token = (await api.post(f"/users/{uid}/tokens", headers=admin, json={"name": "t"})).json()["accessKey"]
            tickets = Tickets(store.pool)
            cookie = await tickets.redeem(await tickets.issue("s1", digest(token)), "s1")
            assert cookie is not None and token not in cookie
            found = await tickets.session(cookie, "s1")
            assert found is not None and (await auth.authenticate_hash(store.pool, found.token_hash)).user_id == uid
            mine = {"Authorization": f"Bearer {token}"}
            token_id = (await api.get("/tokens", headers=mine)).json()["tokens"][0]["id"]
            assert (await api.delete(f"/tokens/{token_id}", headers=mine)).status_code == 204
            with pytest.raises(Unauthenticated):
                await auth.authenticate_hash(store.pool, found.token_hash)
    finally:
        stop.set()
        await task
        await store.close()


async def test_the_ticket_exchange_never_redirects_off_the_studio(gateway: Gateway) -> None:
    entry = await gateway.http.get("/connect/s-files/", headers={"Authorization": "Bearer tok-alice"})
    query = urlsplit(entry.headers["location"]).query
    target = httpx.URL(f"http://{gateway.base}", raw_path=f"//evil.test/x?{query}".encode())  # sent as it is
    r = await gateway.http.get(target, headers={"Host": gateway.host("s-files"), **HTML})
    assert (r.status_code, r.headers["location"]) == (302, "/evil.test/x")
