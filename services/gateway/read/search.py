"""Seqera's ``search`` parameter: free text on name and template URL, plus keywords ``status:``, ``userId:`` and
``computeEnvId:`` (any case, quoted values allowed: ``status:"running"``). Repeated keywords OR together."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from libs.contracts.errors import InvalidInput
from libs.contracts.studio import StudioStatus

KEYWORDS = {"status": "statuses", "userid": "user_ids", "computeenvid": "compute_env_ids"}
STATUSES = {s.value.lower(): s.value for s in StudioStatus}


@dataclass(frozen=True)
class Search:
    text: str | None = None
    statuses: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    compute_env_ids: tuple[str, ...] = ()
    words: tuple[str, ...] = field(default=(), repr=False)


def _tokens(search: str) -> list[str]:
    try:
        return shlex.split(search)
    except ValueError:  # an unbalanced quote: take the words as they are
        return search.split()


def parse_search(search: str | None) -> Search:
    if search is None or not search.strip():
        return Search()
    found: dict[str, list[str]] = {v: [] for v in KEYWORDS.values()}
    words: list[str] = []
    for token in _tokens(search):
        key, sep, value = token.partition(":")
        slot = KEYWORDS.get(key.lower()) if sep else None
        if slot is None:
            words.append(token)
            continue
        if not value:
            raise InvalidInput(f"search keyword {key!r} needs a value, e.g. {key}:<value>", field="search")
        found[slot].append(_status(value) if slot == "statuses" else value)
    return Search(
        text=" ".join(words) or None,
        statuses=tuple(found["statuses"]),
        user_ids=tuple(found["user_ids"]),
        compute_env_ids=tuple(found["compute_env_ids"]),
        words=tuple(words),
    )


def _status(value: str) -> str:
    status = STATUSES.get(value.lower())
    if status is None:
        raise InvalidInput(f"unknown studio status {value!r}; one of: {', '.join(STATUSES.values())}",
                           field="search")
    return status
