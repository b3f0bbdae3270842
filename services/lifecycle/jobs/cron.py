"""Cron slots, pure. A template fires the latest slot that is due and newer than the last it fired: after a
downtime that missed several slots it fires once (the latest), not once per missed slot. A run's id is derived
from the template and the slot, so a slot fires exactly once however many schedulers race or restart (its
``JobSubmitted`` is appended with ``no_stream``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from croniter import croniter  # type: ignore[import-untyped]


def due_slot(expression: str, anchor: datetime, last_slot: datetime | None, now: datetime) -> datetime | None:
    """The slot to fire now, or None. ``anchor``: slots at or before it never fire (the template's creation)."""
    slot: datetime = croniter(expression, now).get_prev(datetime)
    if slot.tzinfo is None:
        slot = slot.replace(tzinfo=now.tzinfo)
    if slot <= anchor or (last_slot is not None and slot <= last_slot):
        return None
    return slot


def next_slot(expression: str, after: datetime) -> datetime:
    slot: datetime = croniter(expression, after).get_next(datetime)
    return slot if slot.tzinfo else slot.replace(tzinfo=after.tzinfo)


def run_id(template_id: str, slot: datetime) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"studios:job:{template_id}:{slot.isoformat()}"))
