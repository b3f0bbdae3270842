"""Civis's response shapes (camelCase, as its document names them) built from our read models: ``Studio`` from the
studios read model, ``StudioDeployment`` from a run in the deployments read model."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request

from libs.contracts.studio_state import State
from services.gateway.access.auth import Principal, role_in
from services.gateway.api.civis import translate as t
from services.gateway.api.civis.context import CivisContext
from services.gateway.api.civis.display import display_url
from services.gateway.read import deployments as queries
from services.gateway.read import identity as identity_queries

Dto = dict[str, Any]


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0  # an actor that is not a user (a service): Civis's ids are integers


async def author(ctx: CivisContext, user_id: str) -> Dto:
    row = await identity_queries.user(ctx.store.pool, _int(user_id)) or {}
    username = str(row.get("userName") or user_id)
    full = " ".join(x for x in (row.get("firstName"), row.get("lastName")) if x) or username
    initials = "".join(w[0] for w in full.replace("-", " ").split()[:2]).upper() or username[:1].upper()
    return {"id": _int(user_id), "name": full, "username": username, "initials": initials, "online": False}


def deployment(ctx: CivisContext, request: Request, state: State, row: Dto, caller: Principal | None) -> Dto:
    """A run as ``StudioDeployment``; with ``caller``, its ``displayUrl`` (a link signed for that caller)."""
    name, tag = t.split_image(str(row["template"]))
    base = ctx.base_url(request)
    studio_url = str(ctx.studios.origins.studio_url(base, state.session_id))
    out: Dto = {
        "deploymentId": row["run"], "userId": _int(str(row["user_id"])), "host": urlsplit(studio_url).netloc,
        "name": state.name, "dockerImageName": name, "dockerImageTag": tag,
        "instanceType": t.meta(state.configuration).get("instanceType"),
        "memory": row["memory"], "cpu": int(row["cpu"]) * 1000, "state": t.state_of(row["status"]),
        "stateMessage": row["message"], "maxMemoryUsage": row["max_memory_mb"],
        "maxCpuUsage": row["max_cpu_millicores"], "createdAt": _time(row["created_at"]),
        "updatedAt": _time(row["updated_at"]), "studioId": t.studio_id(state.session_id),
    }
    if caller is not None:
        out["displayUrl"] = display_url(ctx, base, state.session_id, int(row["run"]), caller.token_id)
    return out


class Memo:
    """Per-request look-ups a page of studios shares (one author or workspace role for many studios)."""

    def __init__(self, ctx: CivisContext, caller: Principal) -> None:
        self.ctx, self.caller = ctx, caller
        self.authors: dict[str, Dto] = {}
        self.levels: dict[str, str] = {}

    async def author(self, user_id: str) -> Dto:
        if user_id not in self.authors:
            self.authors[user_id] = await author(self.ctx, user_id)
        return self.authors[user_id]

    async def level(self, workspace_id: str) -> str:
        if workspace_id not in self.levels:
            role = await role_in(self.ctx.store.pool, self.caller, int(workspace_id))
            self.levels[workspace_id] = t.permission_level(role)
        return self.levels[workspace_id]


async def studio(ctx: CivisContext, request: Request, state: State, caller: Principal,
                 latest: Dto | None = None, *, look_up: bool = True, memo: Memo | None = None) -> Dto:
    """A studio as Civis's ``Studio``; ``latest``: its most recent run when the caller already has it."""
    db = ctx.store.pool
    memo = memo or Memo(ctx, caller)
    if latest is None and look_up:
        latest = (await queries.latest(db, [state.session_id])).get(state.session_id)
    name, tag = t.split_image(state.template.repository if state.template else "")
    m = t.meta(state.configuration)
    remote = state.remote_config
    return {
        "id": t.studio_id(state.session_id), "author": await memo.author(state.user_id), "name": state.name,
        "dockerImageName": name, "dockerImageTag": tag, "instanceType": m.get("instanceType"),
        "requiredResources": t.resources_of(state.configuration),
        "createdAt": _time(state.created_at), "updatedAt": _time(state.updated_at),
        "mostRecentDeployment": deployment(ctx, request, state, latest, caller) if latest else None,
        "gitCredentialId": m.get("gitCredentialId"), "params": t.params_of(state.configuration),
        "gitRepoId": None, "gitRepoUrl": remote.repository if remote else None,
        "gitRef": remote.revision if remote else None, "partitionLabel": state.compute_env_id,
        "myPermissionLevel": await memo.level(state.workspace_id),
        "archived": "false",
    }
