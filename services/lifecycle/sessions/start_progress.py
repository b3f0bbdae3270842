"""A backend's word on a start under way (why it is slow, what it waits for) shown on the start's last step.

The kubernetes backend follows a pod's events while it waits for the tool (``kube_events.start_progress``); each
new line comes here and is recorded on the run's *Waiting for … to respond* step, still in progress, with the
warnings (``FailedScheduling``, a volume not attached yet…). The runner records the step's outcome after, as for
every step. A line for a run that is no longer the studio's current start is dropped.
"""

from __future__ import annotations

from libs.contracts.studio import ProgressStatus
from libs.contracts.studio_commands import RecordProgress
from services.lifecycle.backends.kube_events import StartProgress
from services.lifecycle.handlers import StudioHandlers, utcnow

ACTOR = "lifecycle"


class StartProgressReporter:
    def __init__(self, handlers: StudioHandlers) -> None:
        self.handlers = handlers

    async def __call__(self, run_key: str, progress: StartProgress) -> None:
        studio_id, _, _run = run_key.rpartition("-")  # a run key is ``<studio>-<run>``
        state = await self.handlers.state(studio_id)
        if state.run_key != run_key or not state.progress:
            return
        step = state.progress[-1]  # the waiting step: the pod exists, the tool does not answer yet
        if step.status is not ProgressStatus.IN_PROGRESS:
            return
        await self.handlers.handle(RecordProgress(
            session_id=studio_id, run=state.run, step=step.message, status=ProgressStatus.IN_PROGRESS,
            detail=progress.detail, warnings=progress.warnings, now=utcnow(), actor=ACTOR))
