"""Each studio on its own origin, in a real headless Chromium (Debian's ``chromium``, driven by Playwright) against
``studios up`` in subdomain mode: a studio's page cannot read another studio's files with the user's cookies, while
each studio works fully for itself — ``python -m http.server`` serves its workspace at the studio's URL, and
JupyterLab renders, runs code in a kernel over its WebSocket and saves a file, all from the browser.

Chromium resolves ``*.localhost`` to the loopback address itself, so no DNS is needed. Skipped without chromium.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import System
from tests.e2e.helpers import status_is, wait_studio

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright (python) not installed"),
]
WS = {"workspaceId": 1}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--no-proxy-server"]
FETCH = """url => fetch(url, {credentials: 'include'})
    .then(r => r.text().then(t => r.status + ' ' + t)).catch(e => 'blocked: ' + e)"""


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    return {"STUDIOS_CONNECT_MODE": "subdomain"}  # the default, said out loud (the others run in path mode)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def main_url(system: System) -> str:
    """The gateway's main origin as a browser names it (studios are ``<id>.localhost:<port>``)."""
    return system.url.replace("127.0.0.1", "localhost")


def serving(c: httpx.Client, name: str, content: str) -> dict[str, Any]:
    """A running ``custom`` studio: ``python -m http.server`` over a workspace holding ``secret.txt``."""
    script = (f"printf %s {content} > secret.txt && exec {sys.executable} -m http.server \"$CONNECT_TOOL_PORT\" "
              "--bind 127.0.0.1")
    r = c.post("/studios", params=WS, json={"name": name, "computeEnvId": "local",
                                            "dataStudioToolUrl": "studios/custom:1",
                                            "configuration": {"command": ["sh", "-c", script]}})
    assert r.status_code == 200, r.text
    dto = wait_studio(c, r.json()["studio"]["sessionId"], status_is("running", "errored"), timeout=120)
    assert dto["statusInfo"]["status"] == "running", dto["statusInfo"]
    return dto


def test_a_studios_page_cannot_read_another_studio(system: System, browser: Any) -> None:
    with system.client() as c:
        a, b = serving(c, "studio-a", "A-OWN-FILE"), serving(c, "studio-b", "B-SECRET-FILE")
    port = system.url.rpartition(":")[2]
    a_url, b_url = a["studioUrl"], b["studioUrl"]
    assert (a_url, b_url) == (f"http://{a['sessionId']}.localhost:{port}/", f"http://{b['sessionId']}.localhost:{port}/")
    context = browser.new_context()
    try:
        page = context.new_page()
        # the user opens B (signing in on the gateway with the token, once), and B works for itself
        page.goto(f"{main_url(system)}/connect/{b['sessionId']}/?access_token={system.token}")
        assert page.url == b_url and "secret.txt" in page.content()  # http.server's listing, at /
        assert page.evaluate(FETCH, b_url + "secret.txt") == "200 B-SECRET-FILE"
        assert system.token not in page.url
        # then A, through the entry point, without the token this time (the gateway remembers the sign-in)
        page.goto(f"{main_url(system)}/connect/{a['sessionId']}/")
        assert page.url == a_url
        assert page.evaluate(FETCH, a_url + "secret.txt") == "200 A-OWN-FILE"
        # A's page tries to read B's file, directly and through the gateway's entry point: never B's content
        stolen = [page.evaluate(FETCH, url) for url in
                  (b_url + "secret.txt", f"{main_url(system)}/connect/{b['sessionId']}/secret.txt")]
        assert all("B-SECRET-FILE" not in s for s in stolen), stolen
        assert all(s.startswith("blocked") for s in stolen), stolen
    finally:
        context.close()


KERNEL_AND_SAVE = """async (base) => {
  const xsrf = decodeURIComponent((document.cookie.split('; ').find(c => c.startsWith('_xsrf=')) || '=').split('=')[1]);
  const headers = {'Content-Type': 'application/json', 'X-XSRFToken': xsrf};
  const kernel = await (await fetch(base + 'api/kernels', {method: 'POST', headers, body: '{}'})).json();
  const output = await new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + 'api/kernels/' + kernel.id + '/channels');
    const msgId = 'm-' + Math.random();
    setTimeout(() => reject(new Error('no output')), 60000);
    ws.onerror = () => reject(new Error('websocket failed'));
    ws.onopen = () => ws.send(JSON.stringify({
      header: {msg_id: msgId, username: '', session: 's-' + Math.random(), msg_type: 'execute_request',
               version: '5.3', date: new Date().toISOString()},
      parent_header: {}, metadata: {}, channel: 'shell', buffers: [],
      content: {code: 'print(6 * 7)', silent: false, store_history: false, user_expressions: {},
                allow_stdin: false, stop_on_error: true}}));
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.parent_header.msg_id === msgId && msg.msg_type === 'stream') { ws.close(); resolve(msg.content.text); }
    };
  });
  const saved = await fetch(base + 'api/contents/saved-from-browser.txt', {method: 'PUT', headers,
    body: JSON.stringify({type: 'file', format: 'text', content: 'saved from the browser'})});
  return {output, saved: saved.status};
}"""
FROM_ELSEWHERE = """async ([base, kernel]) => {
  const put = await fetch(base + 'api/contents/planted.txt', {method: 'PUT', credentials: 'include',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({type: 'file', format: 'text', content: 'x'})})
    .then(r => 'answered ' + r.status).catch(e => 'blocked: ' + e);
  const ws = await new Promise(resolve => {
    const s = new WebSocket(base.replace(/^http/, 'ws') + 'api/kernels/' + kernel + '/channels');
    s.onopen = () => { s.close(); resolve('opened'); };
    s.onerror = () => resolve('refused');
  });
  return {put, ws};
}"""


@pytest.mark.jupyter
@pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="jupyter extra missing")
def test_jupyterlab_works_fully_on_its_own_origin(system: System, browser: Any) -> None:
    with system.client() as c:
        r = c.post("/studios", params=WS, json={"name": "lab-origin", "computeEnvId": "local",
                                                "dataStudioToolUrl": "studios/jupyter:4"})
        assert r.status_code == 200, r.text
        sid = r.json()["studio"]["sessionId"]
        dto = wait_studio(c, sid, status_is("running", "errored"), timeout=180)
        assert dto["statusInfo"]["status"] == "running", dto["statusInfo"]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{main_url(system)}/connect/{sid}/lab?access_token={system.token}")
        page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)  # JupyterLab rendered
        base = f"http://{sid}.localhost:{system.url.rpartition(':')[2]}/connect/{sid}/"
        assert page.url.startswith(base)
        result = page.evaluate(KERNEL_AND_SAVE, base)
        assert result["output"] == "42\n" and result["saved"] in (200, 201), result
        saved = list(system.data_dir.glob("**/saved-from-browser.txt"))
        assert [p.read_text() for p in saved] == ["saved from the browser"]
        # the same from a page of another origin (the gateway's): neither the write nor the kernel's WebSocket
        kernel = page.evaluate("base => fetch(base + 'api/kernels').then(r => r.json()).then(k => k[0].id)", base)
        elsewhere = context.new_page()
        elsewhere.goto(f"{main_url(system)}/health")
        refused = elsewhere.evaluate(FROM_ELSEWHERE, [base, kernel])
        assert refused == {"put": refused["put"], "ws": "refused"} and refused["put"].startswith("blocked"), refused
        assert not list(system.data_dir.glob("**/planted.txt"))
    finally:
        context.close()
