"""Clients and jobs: the Python face of the core's ``Client`` and ``Job``."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import os
import sys
import weakref
from typing import (
    Any,
    Callable,
    Dict,
    Mapping,
    Optional,
    TypeVar,
    Union,
    cast,
    overload,
)

from . import _native, _process
from ._errors import FlushTimeoutError

Scalar = Union[str, int, float, bool]
Attrs = Mapping[str, Scalar]
ConfigSource = Union[Mapping[str, Any], str, "os.PathLike[str]", None]
ParentSpec = Union["Job", "JobRef", str, None, bool]

F = TypeVar("F", bound=Callable[..., Any])

# Every client not yet garbage: closed at exit (with a short wait if its backends are
# down) rather than by the garbage collector during interpreter shutdown.
live_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()

# The job is native (python/src/job.rs): entering and leaving a `with` block is then one
# call each, which keeps a block within a few microseconds.
Job = _native.Job

# The native job enters and leaves this variable; current_job() and logging read it.
_current: "contextvars.ContextVar[Optional[Job]]" = _native.current_job_var()


def current_job() -> Optional[Job]:
    """The job of the innermost ``with wafermon.job(...)`` block around the caller.

    It follows the context (``contextvars``): each thread has its own, and an asyncio
    task sees the job that was current when the task was created.
    """
    return _current.get()


def _config_text(config: ConfigSource) -> Optional[str]:
    if config is None:
        return None
    if isinstance(config, Mapping):
        return json.dumps(config)
    if isinstance(config, (str, os.PathLike)):
        with open(config, encoding="utf-8") as f:
            return f.read()
    raise TypeError(
        f"config must be a dict, a path to a JSON file or None, not {type(config).__name__}"
    )


def _script_name() -> Optional[str]:
    """What to call the application when its configuration does not say: the module run
    with ``python -m``, or the script's name, rather than the interpreter's."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if name and name not in ("__main__", "__mp_main__"):
        return str(name).removesuffix(".__main__")
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 in ("", "-c", "-"):
        return None
    stem = os.path.splitext(os.path.basename(argv0))[0]
    return stem or None


def _level_name(level: Union[str, int]) -> str:
    if isinstance(level, str):
        return level.lower()
    if level >= logging.CRITICAL:
        return "critical"
    if level >= logging.ERROR:
        return "error"
    if level >= logging.WARNING:
        return "warning"
    if level >= logging.INFO:
        return "info"
    return "debug"


class Client:
    """A wafermon client: one pipeline (queue, batcher, backends, spool) in this process.

    ``config`` is a dict in the wafermon configuration schema, a path to a JSON file in
    it, or None. A dict or file is layered on top of ``WAFERMON_CONFIG``, the
    ``WAFERMON_*`` variables and the defaults; with None only those apply. An invalid
    configuration raises ``ValueError`` (:class:`wafermon.InvalidConfigError`) naming the
    JSON path of the bad value.

    Most applications use the process-wide client (:func:`wafermon.init`); create
    ``Client`` objects to talk to several destinations from one process::

        audit = wafermon.Client({"direct_backends": [{"type": "filesystem", "path": "/var/audit"}]})
        with audit.job("recipe-change", key="ETCH-01") as job:
            job.log("info", "recipe 42 -> 43")
        audit.close()
    """

    __slots__ = ("_native", "_config_text", "__weakref__")

    def __init__(self, config: ConfigSource = None) -> None:
        self._setup(_config_text(config))

    @classmethod
    def _from_json(cls, text: Optional[str]) -> "Client":
        client = cls.__new__(cls)
        client._setup(text)
        return client

    def _setup(self, text: Optional[str]) -> None:
        _process.notice()
        self._config_text = text
        self._native = _native.Client(text, True, _script_name())
        live_clients.add(self)

    def job(
        self,
        name: str,
        *,
        key: Optional[str] = None,
        kind: Optional[str] = None,
        attrs: Optional[Attrs] = None,
        id: Optional[str] = None,
        parent: ParentSpec = None,
    ) -> Job:
        """A job of this client; see :func:`wafermon.job`."""
        return self._native.job(name, key, kind, attrs, id, parent)

    def emit(self, event: Mapping[str, Any]) -> None:
        """Queue one event (a dict in the schema v1 input shape)::

            client.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "ETCH-01"}})

        Never blocks (unless ``queue.on_full`` is ``"block"``) and never raises because a
        backend is down. Raises ``ValueError`` (:class:`wafermon.InvalidEventError`) naming
        the field for an invalid event, :class:`wafermon.ClosedError` after ``close``.
        """
        self._native.emit(event)

    def emit_json(self, text: str) -> None:
        """Queue one event given as JSON text (same rules as :meth:`emit`)."""
        self._native.emit_json(text)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds until everything emitted so far is delivered.

        Returns False if it was not (a backend is down or slow: the events stay queued or
        spooled and are delivered later). Raises :class:`wafermon.ClosedError` after
        ``close``.
        """
        try:
            self._native.flush(timeout)
        except FlushTimeoutError:
            return False
        return True

    def close(self, timeout: float = 5.0) -> Dict[str, Any]:
        """Stop accepting events, deliver for up to ``timeout`` seconds, keep the rest in
        the spool for the next run, and return the final :meth:`stats`. Idempotent."""
        return cast(Dict[str, Any], json.loads(self._native.close(timeout)))

    def stats(self) -> Dict[str, Any]:
        """Counters: ``emitted``, ``queued``, ``dropped``, ``spilled``, ``corrupt`` and per
        backend ``sent``, ``retried``, ``spooled``, ``failed``, ``queued``, ..."""
        return cast(Dict[str, Any], json.loads(self._native.stats_json()))

    @property
    def closed(self) -> bool:
        return bool(self._native.closed)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JobRef:
    """A job by id, for code in another process (or thread) that only knows the parent.

    A :class:`Job` pickles as a ``JobRef``, so passing a job to a ``multiprocessing`` pool
    task lets the task start subjobs under it::

        def work(parent, slot):
            with parent.subjob(f"slot-{slot}") as sub:
                sub.progress(100)

        with wafermon.job("lot", key="LOT42") as lot:
            pool.starmap(work, [(lot, s) for s in range(25)])
    """

    __slots__ = ("id", "name", "_config")

    def __init__(self, id: str, name: Optional[str] = None, _config: Optional[str] = None) -> None:
        self.id = id
        self.name = name
        # The configuration of the job's client: a child process that has no client yet
        # (spawn, forkserver) reports where the parent does.
        self._config = _config

    def subjob(
        self,
        name: str,
        *,
        key: Optional[str] = None,
        kind: Optional[str] = None,
        attrs: Optional[Attrs] = None,
        id: Optional[str] = None,
        client: Optional[Client] = None,
    ) -> Job:
        """A child job of this one, on ``client`` (default: the process-wide client,
        configured like the parent's client if this process has none yet)."""
        from ._global import client_for_child

        target = client or client_for_child(self._config)
        return target._native.job(name, key, kind or "subjob", attrs, id, self.id)

    def __reduce__(self) -> Any:
        return (JobRef, (self.id, self.name, self._config))

    def __repr__(self) -> str:
        return f"JobRef(id={self.id!r}, name={self.name!r})"


async def _ready(value: Any) -> Any:
    return value


_native.set_job_helpers(JobRef, _ready)


def _decorate(make_job: Callable[[str], Job], name: Optional[str], fn: F) -> F:
    job_name = name or fn.__qualname__
    if asyncio.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with make_job(job_name):
                return await fn(*args, **kwargs)

        return cast(F, run_async)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with make_job(job_name):
            return fn(*args, **kwargs)

    return cast(F, run)


@overload
def monitored(name: F) -> F: ...


@overload
def monitored(
    name: Optional[str] = None,
    *,
    key: Optional[str] = None,
    kind: Optional[str] = None,
    attrs: Optional[Attrs] = None,
    client: Optional[Client] = None,
) -> Callable[[F], F]: ...


def monitored(
    name: Any = None,
    *,
    key: Optional[str] = None,
    kind: Optional[str] = None,
    attrs: Optional[Attrs] = None,
    client: Optional[Client] = None,
) -> Any:
    """Run every call of the decorated function (plain or ``async``) as a job named
    ``name`` (default: the function's qualified name)::

        @wafermon.monitored("measure-wafer", kind="wafer")
        def measure(wafer_id): ...

        @wafermon.monitored
        async def fetch_recipe(tool): ...
    """

    def make_job(job_name: str) -> Job:
        from ._global import get_client

        return (client or get_client())._native.job(job_name, key, kind, attrs)

    if callable(name):
        return _decorate(make_job, None, name)

    def decorator(fn: F) -> F:
        return _decorate(make_job, name, fn)

    return decorator
