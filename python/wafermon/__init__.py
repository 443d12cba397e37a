"""wafermon: monitoring for the business applications of a semiconductor fab.

Jobs and subjobs, progress, metrics, logs, CPU, peak memory, duration and failures go
through the wafermon Rust core (batching, routing, spooling, retries) to files, a local
sidecar, the managed gateway or other backends, without slowing the application down or
ever raising because a backend is down. ::

    import wafermon

    wafermon.init({"app": {"name": "etch-controller", "site_id": "fab1"}})

    with wafermon.job("etch", key="LOT42", attrs={"tool": "ETCH-01"}) as job:
        for slot in range(25):
            with job.subjob("wafer", key=f"W{slot:02}") as wafer:
                wafer.metric("chamber_pressure_pa", 12.5)
            job.progress(100 * (slot + 1) / 25)

    @wafermon.monitored("measure", kind="wafer")
    def measure(wafer_id: str) -> float: ...

Without ``init`` the configuration comes from ``WAFERMON_CONFIG`` / ``WAFERMON_*`` and
the defaults (JSONL files under ``./wafermon-data``). Events are flushed when the
interpreter exits, and when the outermost job of a child process ends (``fork``,
``multiprocessing`` with any start method).
"""

from . import _native, logging
from ._core import Client, Job, JobRef, current_job, monitored
from ._errors import (
    BackendError,
    ClosedError,
    FlushTimeoutError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidEventError,
    LocalIOError,
    WafermonError,
)
from ._global import emit, flush, get_client, init, job, shutdown, stats

__version__: str = _native.CORE_VERSION

__all__ = [
    "BackendError",
    "Client",
    "ClosedError",
    "FlushTimeoutError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidEventError",
    "Job",
    "JobRef",
    "LocalIOError",
    "WafermonError",
    "current_job",
    "emit",
    "flush",
    "get_client",
    "init",
    "job",
    "logging",
    "monitored",
    "shutdown",
    "stats",
]
