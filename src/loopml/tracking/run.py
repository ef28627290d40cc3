"""ActiveRun: the handle a user logs to between `start_run` and the end of the run."""

from __future__ import annotations

import numbers
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from loopml.artifacts import objects
from loopml.core import context
from loopml.core.datasets import DatasetVersion
from loopml.core.entities import ArtifactRef, Metric, Run, RunInput, RunStatus
from loopml.core.errors import InvalidArgumentError, StoreUnavailableError
from loopml.core.names import (
    MAX_PARAM_VALUE_LENGTH,
    validate_artifact_name,
    validate_key,
)
from loopml.tracking import signals, spool
from loopml.tracking.buffer import MetricBuffer
from loopml.workspace import Workspace

MAX_ERROR_LENGTH = 10_000


def metric_value(key: str, value: Any) -> float:
    if type(value) is float:  # the common case, ahead of the slower ABC check
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(
            f"metric {key!r} must be a real number, got {type(value).__name__} {value!r}"
        )
    return float(value)


def _integer_step(key: str, step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidArgumentError(f"step of metric {key!r} must be an integer, got {step!r}")
    return int(step)


def _param_value(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidArgumentError(
            f"param {key!r} is {len(text)} characters long; the limit is {MAX_PARAM_VALUE_LENGTH}"
        )
    return text


class ActiveRun:
    """Logs to one run. Use it as a context manager, or call `end()` yourself."""

    def __init__(
        self,
        workspace: Workspace,
        record: Run,
        *,
        flush_interval: float = 1.0,
        next_steps: Mapping[str, int] | None = None,  # a resumed run's metrics go on from these
    ):
        self.workspace = workspace
        self.id = record.id
        self.project = record.project
        self.name = record.name
        self._next_step: dict[str, int] = dict(next_steps or {})
        self._valid_keys: set[str] = set()
        self._ended = False
        runs = workspace.store.runs
        self._buffer = MetricBuffer(
            lambda points: runs.log_metrics(record.id, points),
            lambda: runs.heartbeat([record.id]),
            flush_interval=flush_interval,
            heartbeat_interval=min(30.0, workspace.config.heartbeat_timeout / 4),
        )
        self._system: Any = None  # the system metrics thread, when start_run asked for one
        signals.watch(self)

    # -- logging ----------------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        clean = {validate_key(k, "param key"): _param_value(k, v) for k, v in params.items()}
        self.workspace.store.runs.log_params(self.id, clean)

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: datetime | None = None
    ) -> None:
        """Buffer one point; `step` defaults to one past the key's last step in this run."""
        self._check_open()
        self._add(key, value, step, timestamp or datetime.now(UTC))

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """Buffer several points logged at the same step and time."""
        self._check_open()
        when = timestamp or datetime.now(UTC)
        for key, value in metrics.items():
            self._add(key, value, step, when)

    def _add(self, key: str, value: Any, step: int | None, when: datetime) -> None:
        if key not in self._valid_keys:
            self._valid_keys.add(validate_key(key))
        number = metric_value(key, value)
        next_step = self._next_step.get(key, 0)
        if step is None:
            step = next_step
        elif type(step) is not int:
            step = _integer_step(key, step)
        if step >= next_step:
            self._next_step[key] = step + 1
        self._buffer.add(Metric(key, number, step, when))

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_description(self, description: str | None) -> None:
        """Replace the run's description (notes); None clears it."""
        self.workspace.store.runs.set_description(self.id, description)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        clean = {validate_key(k, "tag key"): str(v) for k, v in tags.items()}
        self.workspace.store.runs.set_tags(self.id, clean)

    def log_artifact(self, name: str, obj_or_path: Any) -> ArtifactRef:
        """Store an object by type (DataFrame, array, dict/list, bytes) or a file or folder."""
        validate_artifact_name(name)
        stored = objects.store(self.workspace.artifacts, obj_or_path)
        ref = ArtifactRef(name, stored.digest, stored.serializer, stored.size, datetime.now(UTC))
        self.workspace.store.runs.log_artifact(self.id, ref)
        return ref

    def log_text(self, name: str, text: str) -> ArtifactRef:
        return self.log_artifact(name, text.encode())

    def log_figure(self, figure: Any, name: str) -> ArtifactRef:
        """A matplotlib figure as NAME.png (NAME.svg if named so), a plotly one as
        NAME.plotly.json (or .html; .png needs kaleido). The UI shows them on the run page."""
        from loopml.tracking.figures import encode_figure

        artifact, data = encode_figure(figure, name)
        return self.log_artifact(artifact, data)

    def log_image(self, image: Any, name: str) -> ArtifactRef:
        """A numpy array (HxW, HxWx3, HxWx4), a Pillow image or an image file as NAME.png."""
        from loopml.tracking.figures import encode_image

        artifact, data = encode_image(image, name)
        return self.log_artifact(artifact, data)

    def use_dataset(self, name: str, version: int | str = "latest") -> DatasetVersion:
        """Record a dataset version as an input of this run ("latest" is resolved now)."""
        record = self.workspace.store.datasets.get_version(name, version)
        run_input = RunInput("dataset", name, str(record.version), record.digest)
        self.workspace.store.runs.add_input(self.id, run_input)
        return record

    # -- lifecycle --------------------------------------------------------------------------
    def log_system_metrics(self, interval: float = 10.0) -> None:
        """Sample CPU, memory, disk, network (and GPUs) as `system/...` metrics every
        `interval` seconds until the run ends (start_run(log_system_metrics=True) calls it)."""
        from loopml.tracking.system_metrics import SystemMetricsThread

        self._check_open()
        if self._system is None:
            self._system = SystemMetricsThread(self._log_system_sample, interval)

    def _log_system_sample(self, values: Mapping[str, float], step: int) -> None:
        if not self._ended:
            self.log_metrics(values, step=step)

    def flush(self) -> None:
        self._buffer.flush()

    @property
    def info(self) -> Run:
        """The run as stored now (after writing buffered metrics)."""
        if not self._ended:
            self.flush()
        return self.workspace.store.runs.get(self.id)

    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> None:
        """Write buffered metrics and record the final status. Ending twice does nothing."""
        if self._ended:
            return
        self._ended = True
        signals.unwatch(self)
        if self._system is not None:  # its last sample goes out with the buffer below
            self._system.stop()
        if error is not None:  # stores refuse NUL characters; an exception's text may hold one
            error = str(error).replace("\x00", "\\x00")
        try:
            try:
                self._buffer.close()
            finally:  # the status is recorded even when the last metrics fail to write
                self.workspace.store.runs.set_status(self.id, RunStatus(status), error)
        except StoreUnavailableError as exc:
            path = spool.keep(self.workspace, self.id, self._buffer.drain(), RunStatus(status),
                              error)  # fmt: skip
            print(
                f"loopml: the store is unreachable ({exc}); run {self.id}'s last metrics and "
                f"its end are kept in {path} and sent by the next start_run",
                file=sys.stderr,
            )
        finally:
            context.pop_run(self)

    def _check_open(self) -> None:
        if self._ended:
            raise InvalidArgumentError(f"run {self.id} has ended; start a new run to log more")

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        status, error = ending_for(kind, exc, tb)
        self.end(status, error)

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, project={self.project!r}, name={self.name!r})"


def ending_for(
    kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
) -> tuple[RunStatus, str | None]:
    """How a `with` block's way out maps to a run status."""
    if kind is None:
        return RunStatus.FINISHED, None
    if issubclass(kind, KeyboardInterrupt):
        return RunStatus.KILLED, signals.INTERRUPTED
    if issubclass(kind, SystemExit):
        if signals.is_terminating():
            return RunStatus.KILLED, "terminated by SIGTERM"
        code = exc.code if isinstance(exc, SystemExit) else None
        if code in (None, 0):
            return RunStatus.FINISHED, None
        return RunStatus.FAILED, f"SystemExit({code!r})"
    text = "".join(traceback.format_exception(kind, exc, tb))
    return RunStatus.FAILED, text[-MAX_ERROR_LENGTH:]
