"""A run's resource usage from cumulative readings: peak memory, and cpu averaged and at its busiest interval.

Readings come from cgroup accounting where the session has a group (cpu time and the kernel's own memory peak
survive the processes), else from sampling the session's processes; either way the peak cpu is the busiest
interval between two readings at least ``MIN_INTERVAL`` apart, and a run never sampled reports its average.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.lifecycle.backends.base import Usage

MIN_INTERVAL = 0.5  # seconds; shorter intervals make the peak mostly scheduling noise


@dataclass
class Meter:
    started_at: float  # epoch seconds: the run's start
    cpu_seconds: float = 0.0
    peak_memory: int = 0  # bytes
    peak_millicores: float = 0.0
    _last: tuple[float, float] | None = None  # (time, cpu seconds) of the reading the current interval began at
    _at: float = 0.0

    def add(self, at: float, cpu_seconds: float | None, memory: int | None, memory_peak: int | None = None) -> None:
        self._at = max(self._at, at)
        self.peak_memory = max(self.peak_memory, memory or 0, memory_peak or 0)
        if cpu_seconds is None:
            return
        self.cpu_seconds = max(self.cpu_seconds, cpu_seconds)  # a vanished process must not make time run back
        if self._last is None:
            self._last = (at, self.cpu_seconds)
        elif at - self._last[0] >= MIN_INTERVAL:
            rate = (self.cpu_seconds - self._last[1]) / (at - self._last[0])
            self.peak_millicores = max(self.peak_millicores, rate * 1000)
            self._last = (at, self.cpu_seconds)

    def usage(self) -> Usage:
        wall = max(self._at - self.started_at, 1e-3)
        average = self.cpu_seconds / wall * 1000
        return Usage(peak_memory_mb=round(self.peak_memory / 2**20), avg_cpu_millicores=round(average),
                     peak_cpu_millicores=round(max(self.peak_millicores, average)), cpu_seconds=self.cpu_seconds)
