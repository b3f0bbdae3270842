"""How the gateway reads logs: it never touches the log tables; it asks the logs service (``QueryLogs`` over
request/reply) and, for a follow, tails JetStream ``LOGS`` itself.

A follow has no gap and no duplicate at the seam: the logs service answers the replay together with its
ingestion's ack floor (every ``LOGS`` message up to that stream sequence is committed, and the replay holds only
lines up to it), and the live tail is an ordered consumer on the session's subject starting right after the floor.
A line seen twice (a producer's republish) is dropped by its ``seq``, which grows within its source and stream. The
follow ends with the run: on its ``final`` line, when a newer run's line arrives, or when the studio says the run is
over and nothing has come for ``quiet`` seconds (a lifecycle killed before it could say so).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats.errors
import orjson
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.bus.commands import CommandClient
from libs.bus.streams import DEFAULT, Topology
from libs.contracts.errors import StudiosError, Unavailable, error_from_dict
from libs.contracts.logs import QueryLogs, cursor, parse_cursor
from libs.contracts.subjects import command_subject
from libs.logs.lines import LogLine

Line = dict[str, Any]
RunOver = Callable[[int], Awaitable[bool]]


class LogsClient:
    def __init__(self, nc: NATS, topology: Topology = DEFAULT, timeout: float = 10.0,
                 keepalive: float = 15.0) -> None:
        self.nc, self.topology = nc, topology
        self.keepalive = keepalive  # seconds between an idle SSE follow's keepalive comments
        self.commands = CommandClient(nc, timeout=timeout)

    async def _ask(self, q: QueryLogs) -> dict[str, Any]:
        """One reply's ``result``, decoded with orjson and no ``Reply`` model (10,000 lines a reply: the stdlib
        decoder and pydantic's walk cost more than the query); errors as ``CommandClient.send`` raises them."""
        subject = command_subject(q.service, q.name)
        try:
            msg = await self.nc.request(subject, q.model_dump_json().encode(), timeout=self.commands.timeout)
        except nats.errors.NoRespondersError:
            raise Unavailable(f"no {q.service} service answers {q.name}") from None
        except nats.errors.TimeoutError:
            raise Unavailable(f"{q.service} did not answer {q.name} in time") from None
        try:
            reply = orjson.loads(msg.data)
        except orjson.JSONDecodeError as e:
            raise StudiosError(f"unreadable reply to {q.name}: {e}") from None
        if not reply.get("ok"):
            raise error_from_dict(reply.get("error") or {})
        result: dict[str, Any] = reply.get("result") or {}
        return result

    async def query(self, q: QueryLogs) -> dict[str, Any]:
        """Up to ``q.limit`` lines, asking again from ``next`` while a reply was cut short by its size."""
        result = await self._ask(q)
        lines: list[Line] = list(result.get("lines", []))
        while result.get("next") and len(lines) < q.limit:
            more = q.model_copy(update={"after": result["next"], "start_at": None, "run": result["run"],
                                        "limit": q.limit - len(lines)})
            page = await self._ask(more)
            lines.extend(page.get("lines", []))
            result = {**page, "run": result["run"], "floor": result.get("floor")}
        return {"run": result.get("run"), "lines": lines, "floor": result.get("floor")}

    async def follow(self, q: QueryLogs, run: int, run_over: RunOver, *, quiet: float = 2.0,
                     poll: float = 0.5) -> AsyncIterator[Line]:
        """Replay ``run``'s stored lines (as ``query`` would), then its live lines, until the run ends."""
        q = q.model_copy(update={"run": run, "follow": True})
        last: dict[tuple[str, str], int] = {}  # (source, stream): each numbers its lines on its own
        replay = await self.query(q)
        floor = int(replay["floor"] or 0)
        forward = q.start_at is not None or q.after is not None
        while True:
            for line in replay["lines"]:
                _, source, seq = parse_cursor(line["id"])
                key = (source, line["stream"])
                last[key] = max(last.get(key, -1), seq)
                yield line
                if line.get("final"):
                    return
            if not forward or not replay["lines"]:
                break  # a tail replay is one page; a forward one reads on until it is caught up
            replay = await self.query(q.model_copy(update={"after": replay["lines"][-1]["id"], "start_at": None}))
        async for line in self._live(q, run, floor, last, run_over, quiet, poll):
            yield line

    async def _live(self, q: QueryLogs, run: int, floor: int, last: dict[tuple[str, str], int], run_over: RunOver,
                    quiet: float, poll: float) -> AsyncIterator[Line]:
        js = self.nc.jetstream()
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=floor + 1)
        sub = await js.subscribe(f"{self.topology.logs_prefix}.{q.kind}.{q.id}", stream=self.topology.logs_stream,
                                 ordered_consumer=True, config=config)
        loop = asyncio.get_running_loop()
        heard = loop.time()
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=poll)
                except nats.errors.TimeoutError:
                    if loop.time() - heard >= quiet and await run_over(run):
                        return
                    continue
                heard = loop.time()
                try:
                    lines = LogLine.from_message(msg.data)
                except (ValueError, KeyError, TypeError):
                    continue
                for line in lines:
                    if line.run > run:
                        return  # a newer run has begun: this one is over
                    if line.run < run or line.seq <= last.get((line.source, line.stream), -1):
                        continue
                    last[(line.source, line.stream)] = line.seq
                    if (q.stream and line.stream != q.stream) or (q.source and line.source != q.source):
                        if line.final:
                            return
                        continue
                    yield as_api(line)
                    if line.final:
                        return
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def as_api(line: LogLine) -> Line:
    out: Line = {"id": cursor(line.created_at, line.source, line.seq), "message": line.message,
                 "stream": line.stream, "source": line.source, "createdAt": line.created_at.isoformat()}
    if line.final:
        out["final"] = True
    return out
