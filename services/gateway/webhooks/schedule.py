"""When a failed delivery is tried again: the Standard Webhooks schedule, with jitter. Pure.

The spec's example schedule (Svix's): immediately, then 5 seconds, 5 minutes, 30 minutes, 2 hours, 5 hours, 10
hours and 10 hours after each failure, about 27 hours in all. Jitter spreads the retries of many deliveries that
failed together (a receiver that was down) so they do not all come back in the same second.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

#: Seconds to wait before each retry: ``SCHEDULE[n]`` follows the n-th failed attempt of a round.
SCHEDULE: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)

Jitter = Callable[[float], float]


def proportional_jitter(spread: float = 0.2, rng: random.Random | None = None) -> Jitter:
    """A delay scaled by a random factor in ``[1 - spread, 1 + spread]`` (mean: the schedule's delay)."""
    pick = (rng or random.Random()).uniform

    def jitter(delay: float) -> float:
        return delay * pick(1.0 - spread, 1.0 + spread)

    return jitter


def no_jitter(delay: float) -> float:
    return delay


def retry_delay(failed_attempts: int, schedule: Sequence[float] = SCHEDULE,
                jitter: Jitter = no_jitter) -> float | None:
    """Seconds until the next attempt after ``failed_attempts`` failures in a row (1 after the first); None when
    the schedule is spent and the delivery has failed for good."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    return max(0.0, jitter(schedule[failed_attempts - 1]))
