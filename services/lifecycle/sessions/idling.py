"""The reconciler's idle check for one running session: look for work in the tool, record it (at most once per
interval, so the history shows what kept the session alive), and say whether the session is idle now.

Idle means: no live connection, and no connection activity, no work and no change of the studio for the whole
timeout (``studio/rules.py``); the studio's ``idleTimeoutMinutes`` wins over its workspace's, which wins over the
service's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.contracts.studio_commands import RecordWork
from libs.contracts.studio_settings import StudioWorkspaceSettingsChanged
from libs.contracts.studio_settings import stream_name as settings_stream
from libs.contracts.studio_state import State
from services.lifecycle.backends.base import Handle
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.activity import ActivityProbe
from services.lifecycle.studio.rules import idle, idle_timeout, last_activity

#: work is recorded at most this often (or a third of the timeout, when that is shorter)
RECORD_EVERY = timedelta(minutes=1)
ACTOR = "lifecycle"


@dataclass
class IdleWatch:
    handlers: StudioHandlers
    probe: ActivityProbe

    async def idle(self, state: State, handle: Handle | None, now: datetime,
                   default: timedelta | None) -> str | None:
        """Why the session is idle now (the stop's reason), or None: it is not, or has no timeout (``default``:
        the service's, for studios that set none)."""
        timeout = idle_timeout(state, default, await self._workspace_minutes(state))
        if timeout is None:
            return None
        if handle is not None:
            state = await self._observe(state, handle, now, timeout)
        if not idle(state, now, timeout):
            return None
        self.probe.forget(state.run_key)
        last = last_activity(state)
        return f"idle for {timeout}: no connection and no work since {last.isoformat() if last else 'its start'}"

    async def _workspace_minutes(self, state: State) -> float | None:
        """The workspace's ``idleTimeoutMinutes``, from the gateway's settings events (not its tables): only
        needed when the studio sets none."""
        if state.configuration.idle_timeout_minutes is not None or not state.workspace_id:
            return None
        events = await self.handlers.store.read_stream(settings_stream(state.workspace_id))
        changes = [e for e in events if e.event_type == StudioWorkspaceSettingsChanged.event_type]
        value = changes[-1].data.get("idle_timeout_minutes") if changes else None
        return float(value) if isinstance(value, (int, float)) else None

    async def _observe(self, state: State, handle: Handle, now: datetime, timeout: timedelta) -> State:
        work = await self.probe.work(state, handle, now)
        if not work:
            return state
        every = min(RECORD_EVERY, timeout / 3)
        if state.last_work is not None and now - state.last_work < every and tuple(work) == state.busy_with:
            return state  # recorded recently: the session counts as working until then
        await self.handlers.handle(RecordWork(session_id=state.session_id, now=now, actor=ACTOR, run=state.run,
                                              work=work))
        return await self.handlers.state(state.session_id)
