"""A progress bar that shows itself only when work takes longer than a second."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress

DELAY_S = 1.0


class LazyProgress:
    def __init__(self) -> None:
        self._started = time.monotonic()
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self._progress is None:
            if time.monotonic() - self._started < DELAY_S or done >= total:
                return
            # Imported once a bar is due: a quick command (a re-add of an unchanged folder)
            # never pays for rich.progress.
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description:>8}"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._progress.start()
        if phase not in self._tasks:
            self._tasks[phase] = self._progress.add_task(phase, total=total)
        self._progress.update(self._tasks[phase], completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def progress_bar() -> Iterator[LazyProgress]:
    bar = LazyProgress()
    try:
        yield bar
    finally:
        bar.close()
