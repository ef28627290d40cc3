"""Steps as Ray tasks, on a local Ray or a cluster (`address`, else RAY_ADDRESS, else local).

Each task receives the cloudpickled StepTask and runs `execute_pickled` in a Ray worker; data
travels through the artifact store, so every worker must reach the same store (an s3:// URI
and a metadata store they can open). Workers get the driver's LOOPML_* and AWS_* variables
and its project folders on PYTHONPATH (for steps defined in scripts and test modules), merged
into `runtime_env`. Ray is not asked to retry a task whose worker died: the orchestrator
decides about retries, and records the death as the step's failure.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loopml.core.errors import LoopmlError
from loopml.core.extras import require
from loopml.pipelines.executors.base import Executor, lost
from loopml.pipelines.task import StepTask, TaskResult, execute_pickled, pickle_task

FORWARDED_ENV_PREFIXES = ("LOOPML_", "AWS_")
CONNECT_TIMEOUT_S = 10.0


def run_payload(payload: bytes) -> TaskResult:
    """The body of the Ray task (a module-level function, so workers import it by name)."""
    return execute_pickled(payload)


class RayExecutor(Executor):
    name = "ray"
    parallel = True

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: float = 1,
        runtime_env: Mapping[str, Any] | None = None,
    ) -> None:
        # Fail here, naming the extra, rather than at the first step.
        require("ray", "the ray executor")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus = num_cpus
        self.runtime_env = dict(runtime_env or {})
        self._connected = False  # whether this executor called ray.init (and so shuts down)
        self._tasks: dict[Any, StepTask] = {}
        self._remote: Any = None
        self._capacity: int | None = None

    @property
    def capacity(self) -> int:
        """Tasks of `num_cpus` that fit the cluster's CPUs at once (read once per connection)."""
        if self._capacity is None:
            cpus = self._connect().cluster_resources().get("CPU", 1)
            self._capacity = max(1, int(cpus // max(self.num_cpus, 1e-9)))
        return self._capacity

    def _connect(self) -> Any:
        import ray

        if not ray.is_initialized():
            # None starts a local Ray for this process; an address joins a running cluster.
            if self.address:
                _check_reachable(self.address)
            ray.init(address=self.address, logging_level="WARNING")
            self._connected = True
        if self._remote is None:
            self._remote = ray.remote(run_payload)
        return ray

    def submit(self, task: StepTask) -> Any:
        self._connect()
        options = {"num_cpus": self.num_cpus, "max_retries": 0, "runtime_env": self._env()}
        ref = self._remote.options(**options).remote(pickle_task(task))
        self._tasks[ref] = task
        return ref

    def poll(self, handle: Any) -> TaskResult | None:
        ray = self._connect()
        ready, _ = ray.wait([handle], timeout=0)
        if not ready:
            return None
        task = self._tasks.pop(handle)
        try:
            return ray.get(handle)
        except ray.exceptions.TaskCancelledError:
            return lost(task, "its Ray task was cancelled")
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError):
            return lost(task, "its Ray worker died (killed by a signal or out of memory)")
        except ray.exceptions.RayError as exc:
            return lost(task, f"its Ray task failed: {_tail(exc)}")

    def cancel(self, handle: Any) -> None:
        ray = self._connect()
        with contextlib.suppress(Exception):  # already finished, or its worker already gone
            ray.cancel(handle, force=True)

    def wait(self, handles: Sequence[Any], timeout: float) -> None:
        ray = self._connect()
        if handles:
            ray.wait(list(handles), num_returns=1, timeout=timeout)

    def close(self) -> None:
        if self._tasks:
            for handle in list(self._tasks):
                self.cancel(handle)
            self._tasks.clear()
        self._remote = None
        self._capacity = None
        if self._connected:
            import ray

            # Disconnects from a cluster given by address (which keeps running), and stops
            # the local Ray that our own ray.init started.
            ray.shutdown()
            self._connected = False

    def _env(self) -> dict[str, Any]:
        env = dict(self.runtime_env)
        variables = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
        paths = _project_paths()
        if paths:
            existing = os.environ.get("PYTHONPATH")
            variables["PYTHONPATH"] = os.pathsep.join([*paths, *([existing] if existing else [])])
        env["env_vars"] = {**variables, **dict(env.get("env_vars") or {})}
        return env


def _project_paths() -> list[str]:
    """The driver's import folders that are not part of its Python installation."""
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    paths: list[str] = []
    for entry in sys.path:
        folder = Path(entry or os.getcwd()).resolve()
        if not folder.is_dir() or any(folder.is_relative_to(p) for p in prefixes):
            continue
        if str(folder) not in paths:
            paths.append(str(folder))
    return paths


def _check_reachable(address: str) -> None:
    """Fail at once, and clearly, when nothing listens at a host:port address (ray.init
    would retry for minutes). ray://, "auto" and "local" are left to Ray."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise LoopmlError(
            f"no Ray cluster answers at {address} ({exc}): start one with `ray start --head`, "
            "or give the address it printed"
        ) from None


def _tail(exc: BaseException, limit: int = 4000) -> str:
    """The end of Ray's error text, where the worker's own exception is."""
    text = str(exc).strip() or type(exc).__name__
    return text[-limit:]
