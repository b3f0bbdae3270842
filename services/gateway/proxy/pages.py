"""The few HTML answers a browser gets from the proxy instead of a tool's page (sign in, ticket expired)."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import HTTPConnection

from services.gateway.proxy.admission import QUERY_TOKEN

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<meta name="referrer" content="no-referrer"></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto"><h1>{title}</h1><p>{message}</p>{body}
</body></html>"""


def navigating(conn: HTTPConnection) -> bool:
    """A browser opening a page (not a script's fetch): where a redirect or a page helps more than JSON."""
    mode = conn.headers.get("sec-fetch-mode")
    if mode is not None:
        return mode == "navigate"
    return conn.scope.get("method") in ("GET", "HEAD") and "text/html" in conn.headers.get("accept", "")


def page(status: int, title: str, message: str, body: str = "") -> HTMLResponse:
    response = HTMLResponse(_PAGE.format(title=escape(title), message=escape(message), body=body),
                            status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


def sign_in(status: int, message: str, entry_url: str) -> HTMLResponse:
    """The gateway's sign-in with a token: a GET form back to the entry point, which trades the token for a
    ticket (the token is then dropped from the URL by a redirect)."""
    form = (f'<form method="get" action="{escape(entry_url)}"><label>Access token '
            f'<input type="password" name="{QUERY_TOKEN}" autocomplete="current-password"></label> '
            '<button type="submit">Open the studio</button></form>')
    return page(status, "Sign in to open this studio", message, form)


def ticket_refused(entry_url: str) -> HTMLResponse:
    link = f'<p><a href="{escape(entry_url)}">Open the studio again through the gateway</a></p>'
    return page(401, "This link has expired", "The link that opened this studio was already used or is too old; "
                "links that open a studio work once, for a short while.", link)


def answer(conn: HTTPConnection, status: int, message: str, entry_url: str) -> Response:
    """A refusal as a page for a browser (with a way back to the gateway on a 401), as JSON for a script."""
    if not navigating(conn):
        return JSONResponse({"message": message}, status_code=status)
    if status == 401:
        return sign_in(status, message, entry_url)
    return page(status, "Cannot open this studio", message)
