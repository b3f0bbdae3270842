"""Sends deliveries: one lane per endpoint, so a slow or dead receiver holds up only its own deliveries.

Each lane claims its endpoint's next due delivery (``read/deliveries.py``: a lease, no transaction held), checks
the address (``addresses.py``), signs (``signing.py``) and posts it with a 10 s limit on the whole request. A 2xx
is delivered; ``410 Gone`` fails the delivery and disables the endpoint; anything else (another status, a timeout,
a refused connection, a redirect) is retried on the schedule (``schedule.py``) and failed once it is spent.
State is in PostgreSQL only: a restarted gateway carries on where the last one stood.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
import httpx

from libs.eventstore.wakeup import idle
from libs.platform.clock import Clock
from libs.platform.clock import now as wall_clock
from services.gateway.read import deliveries as q
from services.gateway.webhooks import signing
from services.gateway.webhooks.addresses import Refused, Resolver, system_resolver, target
from services.gateway.webhooks.schedule import SCHEDULE, Jitter, proportional_jitter, retry_delay

log = logging.getLogger("studios.gateway.webhooks")

#: ``(webhook id, reason)``: record that the receiver asked to stop (``WebhookDisabled``)
Disable = Callable[[str, str], Awaitable[None]]
TIMEOUT = 10.0
#: a claim outlives the request it covers by this much, so only a dead worker's claim expires
LEASE_MARGIN = 30.0
GONE = "The receiver answered 410 Gone"


@dataclass(frozen=True)
class Sent:
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass
class DeliveryWorker:
    pool: asyncpg.Pool
    disable: Disable
    http: httpx.AsyncClient
    allow_private: bool = False
    schedule: Sequence[float] = SCHEDULE
    jitter: Jitter = field(default_factory=proportional_jitter)
    timeout: float = TIMEOUT
    clock: Clock = wall_clock
    resolve: Resolver = system_resolver
    poll: float = 0.5
    max_lanes: int = 200
    _lanes: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False, repr=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Start a lane for every endpoint with a due delivery, until ``stop``; lanes end when nothing is due.
        On the way out, requests in flight may finish (bounded by the timeout): one cut off would be sent again
        once its claim expires, and its receiver would get it twice."""
        try:
            while not stop.is_set():
                try:
                    self._start_lanes(await q.due_endpoints(self.pool, self.clock()), stop)
                except Exception:
                    log.exception("webhook deliveries: looking for due deliveries failed; retrying")
                await idle(stop, None, self.poll)
        finally:
            lanes = list(self._lanes.values())
            if lanes:
                _, late = await asyncio.wait(lanes, timeout=self.timeout + 1.0)
                for t in late:
                    t.cancel()
                await asyncio.gather(*late, return_exceptions=True)

    def _start_lanes(self, webhook_ids: Sequence[str], stop: asyncio.Event) -> None:
        for wid in webhook_ids:
            if wid in self._lanes or len(self._lanes) >= self.max_lanes:
                continue
            task = asyncio.create_task(self._lane(wid, stop), name=f"webhook-lane-{wid}")
            self._lanes[wid] = task
            task.add_done_callback(self._lane_ended)

    def _lane_ended(self, task: asyncio.Task[None]) -> None:
        self._lanes.pop(task.get_name().removeprefix("webhook-lane-"), None)

    async def _lane(self, webhook_id: str, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set() and (claim := await self._claim(webhook_id)) is not None:
                await self.deliver(claim)
        except asyncio.CancelledError:
            raise
        except Exception:  # the claim expires and the next poll starts the lane again
            log.exception("webhook %s: a delivery failed unexpectedly", webhook_id)

    async def _claim(self, webhook_id: str) -> q.Claim | None:
        at = self.clock()
        return await q.claim(self.pool, webhook_id, at, at + timedelta(seconds=self.timeout + LEASE_MARGIN))

    async def deliver(self, c: q.Claim) -> q.Outcome:
        """One attempt, and its outcome recorded."""
        at = self.clock()
        sent = await self.send(c, at)
        outcome = self._outcome(c, sent, at)
        if not await q.record(self.pool, c, outcome):
            log.info("webhook %s: delivery %s was claimed again while it was sent", c.webhook_id, c.delivery_id)
        if sent.status_code == 410:
            await self.disable(c.webhook_id, GONE)
        return outcome

    def _outcome(self, c: q.Claim, sent: Sent, at: datetime) -> q.Outcome:
        code = sent.status_code
        if code is not None and 200 <= code < 300:
            return q.Outcome("succeeded", at, sent.duration_ms, code)
        error = sent.error or f"HTTP {code}"
        delay = None if code == 410 else retry_delay(c.round_attempt, self.schedule, self.jitter)
        if delay is None:
            return q.Outcome("failed", at, sent.duration_ms, code, error)
        return q.Outcome("pending", at, sent.duration_ms, code, error, at + timedelta(seconds=delay))

    async def send(self, c: q.Claim, at: datetime) -> Sent:
        started = time.monotonic()
        body = c.body.encode()
        code: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.timeout):
                to = await target(c.url, self.allow_private, self.resolve)
                headers = {**signing.headers(c.secret, str(c.delivery_id), at, body), "Host": to.host,
                           "Content-Type": "application/json", "User-Agent": "Studios-Webhooks/1"}
                extensions = {"sni_hostname": to.server_name} if to.server_name else {}
                # streamed and closed unread: a receiver's answer is its status, however large its body
                async with self.http.stream("POST", to.url, content=body, headers=headers,
                                            extensions=extensions) as response:
                    code = response.status_code
        except TimeoutError:
            error = f"No answer within {self.timeout:g} s"
        except Refused as e:
            error = e.detail
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        return Sent(code, error, int((time.monotonic() - started) * 1000))


def http_client(timeout: float = TIMEOUT) -> httpx.AsyncClient:
    """No redirects (a 3xx is a failure: following one would leave the checked address), no proxy from the
    environment."""
    return httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=httpx.Timeout(timeout),
                             limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))

