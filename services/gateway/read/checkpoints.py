"""Queries of the checkpoints read model (``read.checkpoints``): a studio's list with Seqera's search, one row."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from libs.contracts.checkpoint import CheckpointStatus
from libs.contracts.errors import InvalidInput
from services.gateway.read import Db

_COLUMNS = """checkpoint_id, session_id, workspace_id, run, name, status, author_id, path, size, file_count,
  restored_from, message, date_created, date_saved"""


@dataclass(frozen=True)
class CheckpointSearch:
    """``status:``, ``before:``/``after:`` (the saved date: ``2026-01-31`` or an ISO time), ``author:`` (a user
    name or id) and free text on the name. Repeated ``status:`` or ``author:`` OR together."""

    text: str | None = None
    statuses: tuple[str, ...] = ()
    before: datetime | None = None
    after: datetime | None = None
    authors: tuple[str, ...] = field(default=())


def _tokens(search: str) -> list[str]:
    try:
        return shlex.split(search)
    except ValueError:  # an unbalanced quote: the words as they are
        return search.split()


def _when(value: str, end: bool) -> datetime:
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime.combine(d, time.max if end else time.min, tzinfo=UTC)
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"not a date: {value!r} (use 2026-01-31 or an ISO 8601 time)", field="search") from None


def parse(search: str | None) -> CheckpointSearch:
    if not search or not search.strip():
        return CheckpointSearch()
    words: list[str] = []
    statuses: list[str] = []
    authors: list[str] = []
    before = after = None
    for token in _tokens(search):
        key, sep, value = token.partition(":")
        key = key.lower()
        if not sep or key not in {"status", "before", "after", "author"}:
            words.append(token)
            continue
        if not value:
            raise InvalidInput(f"search keyword {key!r} needs a value", field="search")
        if key == "status":
            if value.lower() not in {s.value for s in CheckpointStatus}:
                raise InvalidInput(f"unknown checkpoint status {value!r}; one of: "
                                   f"{', '.join(s.value for s in CheckpointStatus)}", field="search")
            statuses.append(value.lower())
        elif key == "author":
            authors.append(value)
        elif key == "before":
            before = _when(value, end=False)
        else:
            after = _when(value, end=True)
    return CheckpointSearch(" ".join(words) or None, tuple(statuses), before, after, tuple(authors))


async def list_checkpoints(db: Db, session_id: str, s: CheckpointSearch, limit: int | None,
                           offset: int | None) -> tuple[list[dict[str, Any]], int]:
    where, args = ["c.session_id = $1", "NOT c.deleted"], [session_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if s.text:
        pattern = "%" + s.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(f"c.name ILIKE {arg(pattern)}")
    if s.statuses:
        where.append(f"c.status = ANY({arg(list(s.statuses))}::text[])")
    if s.before:
        where.append(f"c.date_saved < {arg(s.before)}")
    if s.after:
        where.append(f"c.date_saved > {arg(s.after)}")
    if s.authors:
        where.append(f"""(c.author_id = ANY({arg(list(s.authors))}::text[]) OR c.author_id IN
                     (SELECT u.id::text FROM read.users u WHERE lower(u.user_name) = ANY({arg(
                         [a.lower() for a in s.authors])}::text[])))""")
    cond = " AND ".join(where)
    total = await db.fetchval(f"SELECT count(*) FROM read.checkpoints c WHERE {cond}", *args)
    rows = await db.fetch(f"""SELECT {_COLUMNS} FROM read.checkpoints c WHERE {cond}
                               ORDER BY c.date_created DESC, c.checkpoint_id DESC
                               LIMIT {arg(limit if limit is not None else 1000)} OFFSET {arg(offset or 0)}""", *args)
    return [dict(r) for r in rows], int(total or 0)


async def checkpoint(db: Db, session_id: str, checkpoint_id: int) -> dict[str, Any] | None:
    row = await db.fetchrow(f"""SELECT {_COLUMNS} FROM read.checkpoints
                                 WHERE session_id = $1 AND checkpoint_id = $2 AND NOT deleted""",
                            session_id, checkpoint_id)
    return dict(row) if row else None


async def parents(db: Db, ids: set[int]) -> dict[int, dict[str, Any]]:
    """Checkpoints by id with their studio's name (``parentCheckpoint`` of a clone)."""
    if not ids:
        return {}
    rows = await db.fetch("""SELECT c.checkpoint_id, c.name, c.session_id, s.name AS studio_name
                               FROM read.checkpoints c LEFT JOIN read.studios s ON s.session_id = c.session_id
                              WHERE c.checkpoint_id = ANY($1::bigint[])""", list(ids))
    return {int(r["checkpoint_id"]): dict(r) for r in rows}
