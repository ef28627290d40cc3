"""Adaptive micro-batching: frames arriving together are predicted in one model call.

A batch closes when it holds `max_rows` rows or `max_wait` seconds after its first request,
whichever comes first; under light load a lone request waits at most `max_wait`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pandas as pd


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[pd.DataFrame], Awaitable[Any]],
        *,
        max_rows: int,
        max_wait: float,
    ) -> None:
        self._predict = predict
        self.max_rows = max_rows
        self.max_wait = max_wait
        self._pending: list[tuple[pd.DataFrame, asyncio.Future[Any]]] = []
        self._rows = 0
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Future[None]] = set()  # strong references until done

    async def predict(self, frame: pd.DataFrame) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((frame, future))
        self._rows += len(frame)
        if self._rows >= self.max_rows:
            self._close()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.max_wait, self._close)
        return await future

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending, self._rows = self._pending, [], 0
        if batch:
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[pd.DataFrame, asyncio.Future[Any]]]) -> None:
        frames = [frame for frame, _ in batch]
        try:
            merged = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            output = await self._predict(merged)
        except BaseException as exc:  # every waiting request gets the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for frame, future in batch:
            if not future.done():
                future.set_result(_rows(output, start, start + len(frame)))
            start += len(frame)


def _rows(output: Any, start: int, stop: int) -> Any:
    """The rows of one request: a model's Scores, or any array-like answer."""
    if hasattr(output, "rows"):
        return output.rows(start, stop)
    return np.asarray(output)[start:stop]
