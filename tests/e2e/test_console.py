"""The web console in a real headless Chromium (Debian's ``chromium``, driven by Playwright) against ``studios up``:
sign in, create a studio, watch it reach running without reloading, open it, see yourself under active
connections, stop it, see the stop in the history, read its logs — and the same pages at phone width. Each step
writes a screenshot to ``.artifacts/console/`` (gitignored). Any error in the browser's console fails the test.
Skipped without chromium (as ``test_browser_isolation``)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import System

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright (python) not installed"),
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--no-proxy-server"]
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "console"
WAIT = 120_000  # ms: a studio's start on a loaded 2-core machine


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    return {"STUDIOS_CONNECT_MODE": "subdomain"}  # studios on their own origins, as a browser user gets them


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    for old in ARTIFACTS.glob("*.png"):  # this run's screenshots only
        old.unlink()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Shots:
    """Numbered screenshots, one per step."""

    def __init__(self, page: Any) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page, self.n = page, 0

    def __call__(self, name: str, page: Any = None) -> None:
        self.n += 1
        (page or self.page).screenshot(path=str(ARTIFACTS / f"{self.n:02d}-{name}.png"), full_page=True)


def watch_console(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


def test_a_studio_from_sign_in_to_its_logs(system: System, browser: Any) -> None:
    main = system.url.replace("127.0.0.1", "localhost")  # studios are <id>.localhost:<port>
    with system.client() as c:
        me = c.get("/user-info").json()["user"]["userName"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors = watch_console(page)
        shot = Shots(page)
        # sign in: the console sends the browser to its sign-in page, the token becomes a cookie
        page.goto(f"{main}/console/")
        assert "/console/sign-in" in page.url
        page.get_by_label("Access token").fill(system.token)
        shot("sign-in")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{main}/console/")
        assert system.token not in page.url and page.get_by_text(me).first.is_visible()
        shot("signed-in")
        # create: the name is checked as it is typed
        page.get_by_role("link", name="New studio").first.click()
        page.get_by_label("Name", exact=True).fill("console-e2e")
        page.locator("#name-check.ok").wait_for()
        page.get_by_label("Template", exact=True).select_option("studios/http-echo:1")
        shot("create-form")
        page.get_by_role("button", name="Create studio").click()
        page.wait_for_url("**/console/studios/*")
        # running, without a reload: a marker set on this document survives until then
        page.evaluate("window.__sameDocument = true")
        status = page.locator("#studio-status")
        status.filter(has_text="running").wait_for(timeout=WAIT)
        assert page.evaluate("window.__sameDocument === true")
        shot("running")
        # open it: Connect goes through /connect/<id>/ and lands on the studio's own origin with a ticket
        with context.expect_page() as opened:
            page.get_by_role("link", name="Connect").click()
        tool = opened.value
        tool.wait_for_load_state()
        assert ".localhost:" in tool.url and f"{main}/" not in tool.url and system.token not in tool.url
        shot("tool-tab", tool)
        # yourself under active connections
        page.locator(".people .person", has_text=me).wait_for(timeout=30_000)
        shot("connected")
        tool.close()
        # stop, and the stop in the history, with who and why
        page.get_by_role("button", name="Stop").press("Enter")  # from the keyboard
        status.filter(has_text="stopped").wait_for(timeout=WAIT)
        history = page.locator("#history")
        history.get_by_text("StopRequested").wait_for(timeout=30_000)
        assert me in history.inner_text() and "stop reason" in history.inner_text()
        page.locator("#history-title").scroll_into_view_if_needed()
        shot("stopped-history")
        # its logs: the tool's stdout, and the filter narrows them
        page.locator("#logs").get_by_text("http_echo listening").wait_for(timeout=30_000)
        page.locator("#logs-title").scroll_into_view_if_needed()
        shot("logs")
        page.get_by_label("Stream", exact=True).select_option("stderr")
        page.locator("#logs").get_by_text("http_echo listening").wait_for(state="detached", timeout=30_000)
        # its checkpoint: renamed in place, then a new studio started from it
        name = page.locator("#checkpoints input[name=name]").first
        name.wait_for(timeout=60_000)
        name.fill("before-e2e-stop")
        page.locator("#checkpoints").get_by_role("button", name="Rename").first.click()
        page.locator("#checkpoints .notice", has_text="Renamed to 'before-e2e-stop'").wait_for(timeout=30_000)
        page.locator("#checkpoints-title").scroll_into_view_if_needed()
        shot("checkpoint-renamed")
        page.get_by_role("link", name="Start a new studio from it").first.click()
        page.get_by_text("Starts from checkpoint").wait_for()
        page.get_by_label("Name", exact=True).fill("from-checkpoint")
        page.locator("#name-check.ok").wait_for()
        page.get_by_label("Template", exact=True).select_option("studios/http-echo:1")
        page.get_by_label("Start it now").uncheck()
        page.get_by_role("button", name="Create studio").click()
        page.wait_for_url("**/console/studios/*")
        page.get_by_text("before-e2e-stop of console-e2e").wait_for(timeout=30_000)
        shot("from-checkpoint")
        # phone width: one column, nothing wider than the screen
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{main}/console/")
        page.get_by_role("link", name="console-e2e").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot("phone-list")
        page.get_by_role("link", name="console-e2e").click()
        page.locator("#studio-status").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot("phone-studio")
        assert errors == []
    finally:
        context.close()


def test_jobs_and_templates_pages(system: System, browser: Any) -> None:
    main = system.url.replace("127.0.0.1", "localhost")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors = watch_console(page)
        shot = Shots(page)
        shot.n = 20  # after the studio's steps
        page.goto(f"{main}/console/sign-in")  # signed in from the keyboard alone this time
        for _ in range(3):  # the skip link, the home link, then the token field
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "token"
        page.keyboard.type(system.token)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{main}/console/")
        # a job: submit a script, watch it complete, read its output
        page.get_by_role("link", name="Jobs").click()
        page.get_by_label("Name", exact=True).fill("console-job")
        page.get_by_label("Python script").fill('print("hello from the console")')
        page.get_by_role("button", name="Submit").click()
        page.wait_for_url("**/console/jobs/*")
        page.locator("#job-status").filter(has_text="COMPLETE").wait_for(timeout=WAIT)
        page.locator("#job-panel pre.log").get_by_text("hello from the console").wait_for(timeout=30_000)
        shot("job")
        page.get_by_role("link", name="Jobs").click()
        page.get_by_role("link", name="console-job").wait_for()
        page.get_by_label("Status", exact=True).select_option("FAILED")
        page.get_by_role("link", name="console-job").wait_for(state="detached")
        shot("jobs-filtered")
        # the template registry, with a build button per template
        page.get_by_role("link", name="Templates").click()
        page.get_by_role("button", name="Build jupyter").wait_for()
        shot("templates")
        page.get_by_role("button", name="Build http-echo-1").click()
        page.wait_for_url("**/console/builds/*")
        page.locator("#build-status").filter(has_text="succeeded").wait_for(timeout=WAIT)
        page.locator("#build-panel pre.log").get_by_text("build succeeded").wait_for(timeout=30_000)
        shot("build")
        assert errors == []
    finally:
        context.close()
