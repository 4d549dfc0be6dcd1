"""Measurements the experiments and benchmarks share: wall time and peak resident memory."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> dict:
    """Wall time of ``fn()`` by ``time.perf_counter``: median of ``repeats`` after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "times_s": times}


class PeakRSS:
    """Peak resident memory above the level at entry, sampled every ``interval`` seconds.

    Torch's CPU allocations are invisible to tracemalloc, and ``ru_maxrss`` never goes down,
    so several models measured in one process need this sampler of ``/proc/self/statm``.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak_mib = 0.0
        self._stop = threading.Event()

    @staticmethod
    def rss_mib() -> float:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * 4096 / 2**20

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, self.rss_mib() - self.start_mib)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.start_mib = self.rss_mib()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
