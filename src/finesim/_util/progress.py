"""Progress of a long job on stderr: callers get an ``advance(n)`` callable, or None.

At a terminal it is a rich bar. Elsewhere (CI, a notebook, ``nohup``, a pipe) a bar draws
nothing useful, so a line is logged instead at least every 30 seconds (``FINESIM_PROGRESS_
SECONDS`` changes that), with what is done of the total, the rate and the time left::

    finesim: encoding: 12,288/29,197 (42%), 51.3/s, about 5 min 29 s left

and a last line when the job ends, if any was logged. A job shorter than the interval logs
nothing. The lines come from a timer thread, so they keep coming while one step runs long.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

INTERVAL_ENV = "FINESIM_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 30.0


def _at_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


def interval() -> float:
    """Seconds between two log lines (``$FINESIM_PROGRESS_SECONDS``, default 30)."""
    try:
        value = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value > 0 else DEFAULT_INTERVAL


def duration(seconds: float) -> str:
    """``42 s``, ``5 min 29 s``, ``2 h 05 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class LogProgress:
    """Counts what is done and logs it on stderr every ``every`` seconds from a thread."""

    def __init__(self, label: str, total: int | None, every: float | None = None) -> None:
        self.label, self.total = label, total
        self.every = every if every is not None else interval()
        self.done = 0
        self.logged = False
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="finesim-progress", daemon=True)

    def advance(self, n: int) -> None:
        self.done += n

    def line(self, final: bool = False) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        done = f"{self.done:,}"
        if self.total:
            done += f"/{self.total:,} ({100 * self.done / self.total:.0f}%)"
        if final:
            return f"finesim: {self.label}: {done} in {duration(elapsed)} ({rate:,.1f}/s)"
        left = ""
        if self.total and rate > 0:
            left = f", about {duration((self.total - self.done) / rate)} left"
        elif self.total:
            left = ", time left not known yet"
        return f"finesim: {self.label}: {done}, {rate:,.1f}/s{left}"

    def _write(self, text: str) -> None:
        try:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):  # stderr closed under us: stay quiet
            return
        self.logged = True

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._write(self.line())

    def __enter__(self) -> LogProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.logged:
            self._write(self.line(final=True))


@contextmanager
def progress_bar(
    show: bool | None, total: int | None, label: str = "encoding"
) -> Iterator[Callable[[int], None] | None]:
    """``advance(n)`` for a job of ``total`` items (None: unknown), or None when not ``show``:
    a rich bar at a terminal, log lines elsewhere (see the module)."""
    if not show:
        yield None
        return
    if not _at_terminal():
        with LogProgress(label, total) as logged:
            yield logged.advance
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)
