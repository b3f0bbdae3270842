"""A session's log lines: lifecycle's own (``source: system``: start, progress steps, builds, failures, stops) and
the tool's output (``source: user``), published to ``LOGS`` through ``libs.logs`` for the logs service.

Driven by the studio's events (one durable consumer, ``lifecycle-logs``), not by hooks in the runner: a start
request begins following the run's output file (``LocalBackend.log_path(<session>-<run>)``), progress and failures
become system lines (``system_line``, pure), and the follow ends when the studio says the run is over: the rest
of the file, then the run's ``final`` line (a follower's stream ends there). Where each run's output begins and
how far it was sent is kept in ``<state dir>/log-offsets/<session>.json``, so a restarted lifecycle resumes the
follows of running sessions where the last one stopped (repeats carry the same seq and are dropped downstream).
The tool's stdout and stderr are two files (``<run>.log`` and ``<run>.err``, ``libs.logs.tail.stderr_path``),
each followed with its own stream tag and numbered apart, so a query with ``stream=stderr`` has only stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import DeliverPolicy

from libs.bus.streams import Topology
from libs.contracts.studio import StudioStatus
from libs.contracts.studio_state import State
from libs.logs.runlog import DEFAULT_QUOTA_BYTES, LineSink, RunLog
from libs.logs.tail import FileTail, stderr_path

log = logging.getLogger("studios.lifecycle.logs")
LIVE = {StudioStatus.STARTING, StudioStatus.RUNNING, StudioStatus.STOPPING, StudioStatus.BUILDING}
StateOf = Callable[[str], Awaitable[State]]


def system_line(event_type: str, data: dict[str, Any]) -> tuple[str, str] | None:
    """The system line (message, stream) an event of the studio's stream says, or None."""
    match event_type:
        case "StudioStartRequested":
            return f"Starting run {data.get('run')}", "stdout"
        case "StudioProgressRecorded":
            detail = f": {data['detail']}" if data.get("detail") else ""
            warnings = "".join(f" (warning: {w})" for w in data.get("warnings") or ())
            return f"{data.get('step')}: {data.get('status')}{detail}{warnings}", "stdout"
        case "StudioBuildStarted":
            return f"Building the environment (build {data.get('build_id')})", "stdout"
        case "StudioBuildFailed":
            return f"Build failed: {data.get('message')}", "stderr"
        case "StudioSessionRunning":
            return "Session running", "stdout"
        case "StudioStartFailed":
            step = f" at '{data['failed_step']}'" if data.get("failed_step") else ""
            return f"Start failed{step}: {data.get('message')}", "stderr"
        case "StudioStopRequested":
            return f"Stop requested ({data.get('stop_reason')})", "stdout"
    return None


def final_message(state: State) -> str:
    status = state.status.value if state.status else "stopped"
    return f"Session {status}" + (f": {state.status_message}" if state.status_message else "")


class SessionLogs:
    def __init__(self, sink: LineSink, output_of: Callable[[str, int], Path], state_of: StateOf, offsets_dir: Path,
                 *, quota_bytes: int = DEFAULT_QUOTA_BYTES, poll: float = 0.2, check_every: float = 1.0) -> None:
        self.sink, self.output_of, self.state_of, self.dir = sink, output_of, state_of, offsets_dir
        self.quota_bytes, self.poll, self.check_every = quota_bytes, poll, check_every
        self._system: dict[tuple[str, int], RunLog] = {}
        self._tails: dict[str, asyncio.Task[None]] = {}
        offsets_dir.mkdir(parents=True, exist_ok=True)

    # -- events ------------------------------------------------------------------------------------------

    def register(self, broker: NatsBroker, topology: Topology) -> None:
        @broker.subscriber(f"{topology.events_prefix}.studio.>", stream=JStream(name=topology.events_stream,
                                                                                  declare=False),
                           durable="lifecycle-logs", pull_sub=PullSub(batch_size=1, timeout=5.0),
                           # NEW: a first deploy must not replay every studio's history into log lines
                           config=ConsumerConfig(max_deliver=5, ack_wait=30, deliver_policy=DeliverPolicy.NEW),
                           ack_policy=AckPolicy.NACK_ON_ERROR)
        async def on_event(msg: NatsMessage) -> None:
            try:
                body = json.loads(msg.body)
            except ValueError:
                return
            if isinstance(body, dict):
                self.on_event(msg.raw_message.subject.rsplit(".", 1)[-1], body)

    def on_event(self, event_type: str, data: dict[str, Any]) -> None:
        session_id, run = str(data.get("session_id", "")), data.get("run")
        if not session_id or not isinstance(run, int):
            return
        said = system_line(event_type, data)
        if said is not None:
            self._system_log(session_id, run).write(said[0], said[1])
        if event_type == "StudioStartRequested":
            self.follow(session_id, run)

    def _system_log(self, session_id: str, run: int) -> RunLog:
        key = (session_id, run)
        if key not in self._system:
            for old in [k for k in self._system if k[0] == session_id]:
                del self._system[old]
            self._system[key] = RunLog.system(self.sink, "session", session_id, run)
        return self._system[key]

    # -- the tool's output ---------------------------------------------------------------------------------

    def resume(self) -> None:
        """Follow again every run a previous process was following and had not finished."""
        for path in self.dir.glob("*.json"):
            saved = self._load(path.stem)
            if saved and not saved.get("ended"):
                self.follow(path.stem, int(saved["run"]))

    def follow(self, session_id: str, run: int) -> None:
        current = self._tails.get(session_id)
        if current is not None and not current.done():
            return
        self._tails[session_id] = asyncio.ensure_future(self._follow(session_id, run))

    async def close(self) -> None:
        for task in self._tails.values():
            task.cancel()
        await asyncio.gather(*self._tails.values(), return_exceptions=True)

    async def _follow(self, session_id: str, run: int) -> None:
        path = self.output_of(session_id, run)
        saved = self._load(session_id) or {}
        offsets = (0, 0)  # each run's output has files of its own
        if saved.get("run") == run:
            if saved.get("ended"):
                return
            offsets = (int(saved["sent"]), int(saved.get("sent_err", 0)))
        runlog = RunLog(self.sink, "session", session_id, run, quota_bytes=self.quota_bytes, first_seq=0)
        out = FileTail(path, runlog, offsets[0])
        err = FileTail(stderr_path(path), runlog, offsets[1], stream="stderr")

        def poll() -> None:
            err.poll()
            out.poll()

        def finish(message: str) -> None:
            err.finish(final=False)
            out.finish(message)  # the run's final line, after both

        loop = asyncio.get_running_loop()
        checked, saved_at = loop.time(), (-1, -1)
        try:
            while True:
                await asyncio.to_thread(poll)
                if (out.sent_to, err.sent_to) != saved_at:
                    saved_at = (out.sent_to, err.sent_to)
                    self._save(session_id, {"run": run, "sent": saved_at[0], "sent_err": saved_at[1], "ended": False})
                if loop.time() - checked >= self.check_every:
                    checked = loop.time()
                    state = await self.state_of(session_id)
                    if state.run != run or state.status not in LIVE:
                        await asyncio.to_thread(finish, final_message(state))
                        self._save(session_id, {"run": run, "sent": out.sent_to, "sent_err": err.sent_to,
                                                "ended": True})
                        return
                await asyncio.sleep(self.poll)
        except Exception:
            log.exception("following the output of %s run %s failed", session_id, run)

    def _load(self, session_id: str) -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            return dict(json.loads((self.dir / f"{session_id}.json").read_text()))
        return None

    def _save(self, session_id: str, value: dict[str, Any]) -> None:
        tmp = self.dir / f"{session_id}.json.{os.getpid()}.tmp"  # replicas may save one run's offsets at once
        tmp.write_text(json.dumps(value))
        tmp.replace(self.dir / f"{session_id}.json")

