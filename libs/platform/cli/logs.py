"""``studios logs <sessionId> [-f] [--since 10m] [--run N]``: a studio's log lines through the gateway's API.

It asks ``GET /studios/{sessionId}/logs`` (``follow=true`` for ``-f``: server-sent events until the run stops) with
the admin token of ``studios up`` (or ``--token`` / ``STUDIOS_TOKEN``), so the same authentication and privacy
apply as to any client. stderr lines are red, lifecycle's own (system) lines dim.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import typer
from rich.text import Text

from libs.platform.cli.common import console, fail, load_settings, run

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def since_time(value: str, now: datetime) -> datetime:
    """``10m``, ``2h``, ``1d``, ``30s`` ago, or an ISO 8601 time (UTC when it names no zone)."""
    if m := _DURATION.match(value.strip()):
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since takes a duration (30s, 10m, 2h, 1d) or an ISO time, not {value!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def render(line: dict[str, Any], timestamps: bool) -> Text:
    style = "red" if line.get("stream") == "stderr" else ("dim" if line.get("source") == "system" else "")
    text = Text()
    if timestamps:
        text.append(f"{line.get('createdAt', '')} ", style="dim")
    text.append(str(line.get("message", "")), style=style)
    return text


def _problem(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return f"HTTP {r.status_code}"
    return f"HTTP {r.status_code}: {body.get('message') or body.get('detail') or body}"


async def _print(url: str, token: str, params: dict[str, Any], follow: bool, timestamps: bool, as_json: bool) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=httpx.Timeout(30, read=None),
                                 trust_env=False) as http:
        if not follow:
            r = await http.get("logs", params=params)
            if r.status_code != 200:
                raise fail(_problem(r))
            for line in r.json():
                _show(line, timestamps, as_json)
            return 0
        async with http.stream("GET", "logs", params={**params, "follow": "true"}) as r:
            if r.status_code != 200:
                await r.aread()
                raise fail(_problem(r))
            event = ""
            async for raw in r.aiter_lines():
                if raw.startswith("event: "):
                    event = raw[7:]
                elif raw.startswith("data: ") and event == "log":
                    _show(json.loads(raw[6:]), timestamps, as_json)
    return 0


def _show(line: dict[str, Any], timestamps: bool, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(line), indent=None)
    else:
        console.print(render(line, timestamps))


def logs_command(
    session_id: str = typer.Argument(..., help="The studio's sessionId."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until the run stops."),
    since: str | None = typer.Option(None, "--since", help="Only lines since then: 30s, 10m, 2h, 1d or an ISO time."),
    run_: int | None = typer.Option(None, "--run", help="Which run (default: the latest; with -f: the current)."),
    limit: int = typer.Option(10_000, "--limit", "-n", min=1, max=10_000, help="At most this many lines."),
    timestamps: bool = typer.Option(False, "--timestamps", "-t", help="Print each line's time."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    url: str | None = typer.Option(None, "--url", envvar="STUDIOS_URL",
                                   help="Gateway base URL (default http://STUDIOS_HOST:STUDIOS_PORT)."),
    token: str | None = typer.Option(None, "--token", envvar="STUDIOS_TOKEN",
                                     help="API token (default: the admin token of studios up)."),
) -> None:
    """Print a studio's log lines (oldest first); -f follows them live until the run stops."""
    settings = load_settings()
    token = token or settings.existing_admin_token()
    if not token:
        raise fail("no token: pass --token (or STUDIOS_TOKEN), or run where studios up wrote its admin token", 2)
    params: dict[str, Any] = {"limit": limit}
    if run_ is not None:
        params["run"] = run_
    if since:
        try:
            params["start_at"] = since_time(since, datetime.now(UTC)).isoformat()
        except ValueError as e:
            raise fail(str(e), 2) from None
    base = (url or f"http://{settings.host}:{settings.port}").rstrip("/") + f"/studios/{session_id}/"
    try:
        raise typer.Exit(run(_print(base, token, params, follow, timestamps, as_json)))
    except httpx.HTTPError as e:
        raise fail(f"cannot reach the gateway at {base}: {e}") from None
