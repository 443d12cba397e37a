"""The API of the monitoring SDK wafermon replaces (``monitoring_sdk``), running on wafermon.

An old application keeps its code and changes one import::

    # from monitoring_sdk import AppRef, Monitored, SidecarEmitter
    from wafermon.compat import AppRef, Monitored, SidecarEmitter

    app = AppRef(app_id=uuid4(), name="etch-control", version="1.4.2")
    emitter = SidecarEmitter(base_url="http://127.0.0.1:17000")
    with Monitored(site_id="fab7", app=app, entity_type="job", business_key="LOT42",
                   emitter=emitter, metadata={"tool": "ETCH-01"}) as mon:
        mon.tick({"slot": 3})

The events are the old SDK's (``JobEvent``: ``started``, ``progress`` on ``tick``,
``finished`` with status ``succeeded`` or ``failed`` and ``error``/``error_type``), converted
to schema v1 by the core exactly as the sidecar converts what the old SDK posted to it
(mapping: core/conformance/README.md, legacy section), so old and migrated applications
report the same thing and a replayed event keeps its id. Unlike the old SDK, sending never
blocks on the network and never raises because the sidecar is down: wafermon batches,
spools and retries.

Where the events go: ``SidecarEmitter(base_url)`` sends to that sidecar;
``SidecarEmitter()`` without a URL uses ``SIDECAR_URL`` if set, else the process-wide
wafermon client (``wafermon.init`` / ``WAFERMON_*``).
"""

from __future__ import annotations

import atexit
import logging
import os
import resource
import threading
import time
from contextlib import ContextDecorator
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Dict, Iterable, Literal, Optional, Type
from uuid import UUID, uuid4

from . import _native, _process
from ._core import Client

__all__ = ["AppRef", "EntityRef", "EventPayload", "JobEvent", "Monitored", "SidecarEmitter"]

logger = logging.getLogger("wafermon.compat")

EventKind = Literal["started", "progress", "metric", "finished", "error", "canceled"]


@dataclass(frozen=True)
class AppRef:
    app_id: UUID
    name: str
    version: str


@dataclass(frozen=True)
class EntityRef:
    type: str
    id: UUID
    parent_id: Optional[UUID]
    business_key: Optional[str]
    sub_key: Optional[str]


@dataclass(frozen=True)
class EventPayload:
    kind: str
    at: datetime
    metrics: Dict[str, float]
    status: str
    metadata: Dict[str, object]


def _text(value: Any) -> Any:
    if isinstance(value, (UUID, datetime)):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    return value


@dataclass(frozen=True)
class JobEvent:
    idempotency_key: UUID
    site_id: str
    app: AppRef
    entity: EntityRef
    event: EventPayload

    @staticmethod
    def now(
        kind: str,
        site_id: str,
        app: AppRef,
        entity: EntityRef,
        status: str,
        metrics: Optional[Dict[str, float]] = None,
        metadata: Optional[Dict[str, object]] = None,
        idem: Optional[UUID] = None,
    ) -> "JobEvent":
        return JobEvent(
            idempotency_key=idem or uuid4(),
            site_id=site_id,
            app=app,
            entity=entity,
            event=EventPayload(
                kind=kind,
                at=datetime.now(timezone.utc),
                metrics=metrics or {},
                status=status,
                metadata=metadata or {},
            ),
        )

    def to_json(self) -> Dict[str, object]:
        return {
            "idempotency_key": _text(self.idempotency_key),
            "site_id": self.site_id,
            "app": {
                "app_id": _text(self.app.app_id),
                "name": self.app.name,
                "version": self.app.version,
            },
            "entity": {
                "type": self.entity.type,
                "id": _text(self.entity.id),
                "parent_id": _text(self.entity.parent_id) if self.entity.parent_id else None,
                "business_key": self.entity.business_key,
                "sub_key": self.entity.sub_key,
            },
            "event": {
                "kind": self.event.kind,
                "at": _text(self.event.at),
                "metrics": self.event.metrics,
                "status": self.event.status,
                "metadata": self.event.metadata,
            },
        }


# One wafermon client per sidecar URL, however many emitters an application makes (the
# old Monitored made a new SidecarEmitter per block by default).
_clients: Dict[str, Client] = {}
_clients_lock = threading.Lock()


def _client_for(url: str, timeout: float, retries: int) -> Client:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = Client(
                {"mode": "sidecar", "sidecar": {"url": url, "timeout": timeout, "retries": retries}}
            )
            _clients[url] = client
        return client


def _close_all() -> None:
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    from ._global import close_at_exit

    for client in clients:
        try:
            close_at_exit(client)
        except Exception:  # noqa: BLE001 - never fail an exit
            pass


def _after_fork() -> None:
    global _clients_lock
    _clients_lock = threading.Lock()


atexit.register(_close_all)
_process.at_child_exit(_close_all)
_process.after_fork(_after_fork)


class SidecarEmitter:
    """Sends the old SDK's ``JobEvent`` objects through wafermon.

    ``base_url``: the sidecar (default: ``SIDECAR_URL``; without either, the process-wide
    wafermon client and its configuration). ``timeout`` is the HTTP timeout per request;
    ``max_retries``/``enable_retries`` map onto the sidecar backend's inline retries
    (delivery is retried from the spool in any case). ``send`` and ``send_batch`` return
    as soon as the events are queued; they raise ``ValueError`` only for an invalid event.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        timeout: float = 5.0,
        max_retries: int = 3,
        enable_retries: bool = True,
    ) -> None:
        self.base_url = base_url or os.getenv("SIDECAR_URL")
        self.timeout = timeout
        self.max_retries = max_retries if enable_retries else 1
        self._client: Optional[Client] = None
        if self.base_url:
            self._client = _client_for(self.base_url, timeout, max(self.max_retries - 1, 0))

    def _target(self) -> Client:
        if self._client is not None:
            return self._client
        from ._global import get_client

        return get_client()

    def send(self, ev: JobEvent) -> None:
        """Queue one event."""
        self._target()._native.emit_legacy(ev.to_json())

    def send_batch(self, events: Iterable[JobEvent]) -> None:
        """Queue several events (in order)."""
        native = self._target()._native
        for ev in events:
            native.emit_legacy(ev.to_json())

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until what was sent is delivered; False if ``timeout`` passed."""
        return self._target().flush(timeout)

    def close(self) -> None:
        """Deliver what was sent (up to ``timeout``). The underlying client is shared and
        closes when the interpreter exits."""
        try:
            self._target().flush(self.timeout)
        except Exception:  # noqa: BLE001 - closing an emitter must not fail the app
            pass

    def __enter__(self) -> "SidecarEmitter":
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self.close()
        return False


def _usage() -> "tuple[float, float, float]":
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime, me.ru_stime, me.ru_maxrss / 1024.0  # Linux: kilobytes -> MB


class Monitored(ContextDecorator):
    """The old SDK's context manager and decorator for a job or subjob::

        with Monitored(site_id="fab1", app=app, entity_type="job", business_key="batch-123") as mon:
            mon.tick({"step": "rinse"})

    Sends ``started`` on entry, ``progress`` on :meth:`tick`, and ``finished`` on exit
    with status ``succeeded`` or ``failed`` (plus ``error`` and ``error_type`` in the
    metadata), with the metrics ``cpu_user_s``, ``cpu_system_s``, ``mem_max_mb`` and
    ``duration_s`` as the old SDK measured them. A subjob names its parent with
    ``parent_id=parent.entity_id``. Sending never raises into the block.
    """

    def __init__(
        self,
        site_id: str,
        app: AppRef,
        entity_type: str,
        business_key: Optional[str] = None,
        sub_key: Optional[str] = None,
        parent_id: Optional[UUID] = None,
        emitter: Optional[SidecarEmitter] = None,
        metadata: Optional[Dict[str, Any]] = None,
        enable_logging: bool = True,
        parent_job_id: Optional[UUID] = None,
    ) -> None:
        self.site_id = site_id
        self.app = app
        self.entity_id = uuid4()
        self.entity = EntityRef(
            type=entity_type,
            id=self.entity_id,
            parent_id=parent_id or parent_job_id,
            business_key=business_key,
            sub_key=sub_key,
        )
        self.metadata: Dict[str, Any] = metadata or {}
        self.emitter = emitter or SidecarEmitter()
        self.mem_max_mb = 0.0
        self.enable_logging = enable_logging
        self._t0: Optional[float] = None
        self._cpu_t0: Optional["tuple[float, float]"] = None

    def _send(
        self, kind: str, status: str, metrics: Dict[str, float], metadata: Dict[str, Any]
    ) -> None:
        try:
            self.emitter.send(
                JobEvent.now(kind, self.site_id, self.app, self.entity, status, metrics, metadata)
            )
        except Exception as e:  # noqa: BLE001 - as in the old SDK: monitoring never breaks the job
            if self.enable_logging:
                logger.warning("failed to send %s event of %s: %s", kind, self.entity_id, e)

    def __enter__(self) -> "Monitored":
        self._t0 = time.perf_counter()
        user, system, rss = _usage()
        self._cpu_t0 = (user, system)
        self.mem_max_mb = max(self.mem_max_mb, rss)
        self._send(
            "started",
            "running",
            {"cpu_user_s": 0.0, "cpu_system_s": 0.0, "mem_max_mb": self.mem_max_mb},
            self.metadata,
        )
        if self.enable_logging:
            logger.info("job started: %s %s (%s)", self.entity.type, self.entity_id, self.app.name)
        return self

    def tick(self, extra_meta: Optional[Dict[str, Any]] = None) -> None:
        """Send a progress event (with the peak memory so far and ``extra_meta``)."""
        self.mem_max_mb = max(self.mem_max_mb, _usage()[2])
        self._send("progress", "running", {"mem_max_mb": self.mem_max_mb}, extra_meta or {})

    def progress(
        self,
        current: Optional[float] = None,
        total: Optional[float] = None,
        message: Optional[str] = None,
    ) -> None:
        """Progress as ``current`` of ``total`` (what later versions of the old SDK had)."""
        self.mem_max_mb = max(self.mem_max_mb, _usage()[2])
        metrics: Dict[str, float] = {"mem_max_mb": self.mem_max_mb}
        if current is not None and total:
            metrics["progress"] = max(0.0, min(100.0, 100.0 * current / total))
        self._send("progress", "running", metrics, {"message": message} if message else {})

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Literal[False]:
        user, system, rss = _usage()
        cpu_user = user - self._cpu_t0[0] if self._cpu_t0 else 0.0
        cpu_system = system - self._cpu_t0[1] if self._cpu_t0 else 0.0
        duration = time.perf_counter() - self._t0 if self._t0 else 0.0
        self.mem_max_mb = max(self.mem_max_mb, rss)
        status = "failed" if exc else "succeeded"
        metadata = dict(self.metadata)
        if exc:
            metadata["error"] = str(exc)
            metadata["error_type"] = type(exc).__name__
        self._send(
            "finished",
            status,
            {
                "cpu_user_s": max(cpu_user, 0.0),
                "cpu_system_s": max(cpu_system, 0.0),
                "mem_max_mb": self.mem_max_mb,
                "duration_s": duration,
            },
            metadata,
        )
        if self.enable_logging:
            logger.info(
                "job %s: %s %s in %.3f s", status, self.entity.type, self.entity_id, duration
            )
        # A child process may end through os._exit: what it reported goes out now.
        if _native.in_child():
            try:
                self.emitter.flush(10.0)
            except Exception:  # noqa: BLE001
                pass
        return False
