"""System metrics of a run: CPU, memory, disk and network I/O, and GPUs when NVML is there.

A daemon thread samples every `interval` seconds and logs `system/...` metrics with steps
0, 1, 2, ... through the run's metric buffer; the run stops it when it ends. Disk and network
figures are megabytes moved since the run started. GPUs are read through pynvml (the
nvidia-ml-py package) when it is installed and a driver answers, and are skipped otherwise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from loopml.core.errors import InvalidArgumentError
from loopml.core.extras import require

log = logging.getLogger("loopml.tracking")
MB = 1024 * 1024
PREFIX = "system/"


def check_system_metrics(interval: float) -> None:
    """Refuse a bad interval, or a missing psutil, before anything starts."""
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0:
        raise InvalidArgumentError(f"system_metrics_interval must be > 0 seconds, got {interval!r}")
    require("psutil", "system metrics")


class SystemSampler:
    """Reads the machine's counters; `sample()` gives one set of `system/...` values."""

    def __init__(self) -> None:
        self._psutil = require("psutil", "system metrics")
        self._process = self._psutil.Process()
        self._process.cpu_percent(None)  # the first reading is 0.0: prime both
        self._psutil.cpu_percent(None)
        self._disk0 = self._counters(self._psutil.disk_io_counters)
        self._net0 = self._counters(self._psutil.net_io_counters)
        self._gpus = _nvml_handles()

    @staticmethod
    def _counters(read: Callable[[], Any]) -> Any:
        try:
            return read()  # None (or an error) in some containers: those metrics are skipped
        except (OSError, RuntimeError):
            return None

    def sample(self) -> dict[str, float]:
        psutil = self._psutil
        memory = psutil.virtual_memory()
        values = {
            "cpu_percent": psutil.cpu_percent(None),
            "process_cpu_percent": self._process.cpu_percent(None),
            "process_rss_mb": self._process.memory_info().rss / MB,
            "memory_used_mb": (memory.total - memory.available) / MB,
            "memory_percent": memory.percent,
        }
        disk = self._counters(psutil.disk_io_counters)
        if disk is not None and self._disk0 is not None:
            values["disk_read_mb"] = (disk.read_bytes - self._disk0.read_bytes) / MB
            values["disk_write_mb"] = (disk.write_bytes - self._disk0.write_bytes) / MB
        net = self._counters(psutil.net_io_counters)
        if net is not None and self._net0 is not None:
            values["network_sent_mb"] = (net.bytes_sent - self._net0.bytes_sent) / MB
            values["network_recv_mb"] = (net.bytes_recv - self._net0.bytes_recv) / MB
        values.update(self._gpu_values())
        return {PREFIX + key: float(value) for key, value in values.items()}

    def _gpu_values(self) -> dict[str, float]:
        if not self._gpus:
            return {}
        import pynvml

        values: dict[str, float] = {}
        for index, handle in enumerate(self._gpus):
            try:
                rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
                memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            except Exception:  # a GPU that stops answering is left out of this sample
                continue
            values[f"gpu{index}_utilization_percent"] = rates.gpu
            values[f"gpu{index}_memory_used_mb"] = memory.used / MB
            values[f"gpu{index}_memory_percent"] = 100.0 * memory.used / max(memory.total, 1)
        return values


def _nvml_handles() -> list[Any]:
    try:
        import pynvml

        pynvml.nvmlInit()
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # no pynvml, no driver, no GPU: nothing to sample
        return []


class SystemMetricsThread:
    """Logs a sample every `interval` seconds through `log(values, step)` until stopped."""

    def __init__(
        self, log_metrics: Callable[[Mapping[str, float], int], None], interval: float
    ) -> None:
        check_system_metrics(interval)
        self._sampler = SystemSampler()
        self._log = log_metrics
        self._interval = float(interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="loopml-system", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        step = 0
        while not self._stop.wait(self._interval):
            try:
                self._log(self._sampler.sample(), step)
            except Exception as exc:  # never let sampling end the user's run
                log.warning("loopml could not sample system metrics: %s", exc)
            step += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
