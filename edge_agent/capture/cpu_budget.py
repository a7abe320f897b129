"""Keep the recognition loop within a CPU budget (in cores) by pausing when it has used more than its share."""

from __future__ import annotations

import time
from collections.abc import Callable


class CpuGovernor:
    """Measures this process's CPU time against wall time over a sliding window and sleeps off any excess.

    `budget_cores=1.5` lets the process use on average one and a half cores; inference threads, the kiosk and
    the MQTT link are all counted, since they share the process.
    """

    def __init__(self, budget_cores: float, window_s: float = 5.0,
                 cpu_clock: Callable[[], float] = time.process_time,
                 wall_clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if budget_cores <= 0:
            raise ValueError("budget_cores must be positive")
        self.budget = budget_cores
        self.window_s = window_s
        self._cpu, self._wall, self._sleep = cpu_clock, wall_clock, sleep
        self._marks: list[tuple[float, float]] = [(wall_clock(), cpu_clock())]
        self.slept_s = 0.0

    def usage(self) -> float:
        """Average cores used over the current window."""
        wall0, cpu0 = self._marks[0]
        wall = self._wall() - wall0
        return 0.0 if wall <= 0 else (self._cpu() - cpu0) / wall

    def throttle(self) -> float:
        """Sleep as long as needed to bring the window's average back to the budget; returns the pause."""
        now, cpu = self._wall(), self._cpu()
        self._marks.append((now, cpu))
        while len(self._marks) > 2 and now - self._marks[1][0] >= self.window_s:
            self._marks.pop(0)
        wall0, cpu0 = self._marks[0]
        pause = (cpu - cpu0) / self.budget - (now - wall0)
        if pause > 0:
            pause = min(pause, self.window_s)
            self._sleep(pause)
            self.slept_s += pause
            return pause
        return 0.0
