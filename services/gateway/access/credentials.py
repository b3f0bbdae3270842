"""The operator's object-store credentials (``libs.datalinks.credentials``), for the routes that browse links.

The composition root puts a ``CredentialStore`` on ``app.state.credentials``; an app without one (a test that
mounts a router alone) has no credentials, so only public links can be browsed there."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from libs.datalinks.credentials import CredentialStore

_NONE = CredentialStore(None)


def get_credentials(request: Request) -> CredentialStore:
    store = getattr(request.app.state, "credentials", None)
    return store if isinstance(store, CredentialStore) else _NONE


CredentialsDep = Annotated[CredentialStore, Depends(get_credentials)]
