"""The jobs projection: job events folded with the shared ``evolve`` (``libs/contracts/job.py``) into
``read.jobs_v<n>``, the whole state as JSON beside indexed columns. A replayed event is skipped; an event that
does not follow the row's position raises ``StreamGap`` (never folded over a hole); an unknown type raises."""

from __future__ import annotations

import asyncpg

from libs.contracts import job
from libs.contracts.events import registry
from libs.contracts.job import INITIAL, State, evolve
from libs.eventstore import RecordedEvent
from libs.eventstore.subscription import Handler, StreamGap
from services.gateway.read.projections.base import Projection

NAME = "jobs"

_UPSERT = """INSERT INTO {t} (job_id, workspace_id, status, cluster_id, created, version, position, state)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
 ON CONFLICT (job_id) DO UPDATE SET status = $3, version = $6, position = $7, state = $8"""


def jobs_table(version: int) -> str:
    return f"read.jobs_v{version}"


async def apply(conn: asyncpg.Connection, table: str, event: RecordedEvent) -> None:
    job_id = event.stream_name.split("-", 1)[1]
    row = await conn.fetchrow(f"SELECT version, state FROM {table} WHERE job_id = $1 FOR UPDATE", job_id)
    applied = row["version"] if row is not None else -1
    if applied >= event.stream_position:
        return
    if event.stream_position != applied + 1:
        raise StreamGap(event.stream_name, applied, event.stream_position)
    state = State.model_validate(row["state"]) if row is not None else INITIAL
    state = evolve(state, registry.load(event.event_type, event.schema_version, event.data))
    if not state.exists or state.status is None:
        return
    await conn.execute(_UPSERT.format(t=table), state.job_id, state.workspace_id, state.status.value,
                       state.spec.cluster_id if state.spec else None, state.created_at, event.stream_position,
                       event.global_position, state.model_dump(mode="json"))


def handler(version: int) -> Handler:
    table = jobs_table(version)

    async def handle(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        if event.category == job.CATEGORY:
            await apply(conn, table, event)

    return handle


JOBS = Projection(name=NAME, categories=(job.CATEGORY,), handler=handler,
                  create_sql="SELECT read.create_jobs_tables($1)", serve_sql="SELECT read.serve_jobs_tables($1)",
                  tables=("jobs",))
