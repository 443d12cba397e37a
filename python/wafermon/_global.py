"""The process-wide client behind ``wafermon.init``, ``wafermon.job``, ``wafermon.emit``..."""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any, Dict, Mapping, Optional

from . import _core, _process
from ._core import Attrs, Client, ConfigSource, Job, ParentSpec
from ._errors import ClosedError

# multiprocessing children started by spawn or forkserver do not inherit the parent's
# memory, but they do inherit its environment: the configuration given to init() travels
# there, so a child reports where its parent does without configuring anything.
_INHERITED = "_WAFERMON_PYTHON_INIT"

_lock = threading.Lock()
_client: Optional[Client] = None
_shut_down = False

# How long the exit of the interpreter (or of a multiprocessing child) waits for delivery,
# and how long when every backend is down (what they have not received stays in the spool
# for the next run: an application must not hang at exit because a sidecar is gone).
exit_timeout = 5.0
exit_timeout_when_down = 0.5


def close_at_exit(client: Client) -> None:
    """Close ``client`` as a process ends: wait for delivery, but only briefly when every
    backend is down (the core's ``skin::exit::close_for_exit``, as every skin does it)."""
    client._native.close_for_exit(exit_timeout, exit_timeout_when_down)


def init(config: ConfigSource = None) -> Client:
    """Configure the process-wide client and return it (closing any previous one).

    ``config``: a dict in the configuration schema, a path to a JSON file, or None for
    ``WAFERMON_CONFIG``, the ``WAFERMON_*`` variables and the defaults (JSONL files under
    ``./wafermon-data``). Without ``init`` the first use configures the client from the
    environment. ::

        wafermon.init({"app": {"name": "etch-controller", "site_id": "fab1"},
                       "mode": "sidecar", "sidecar": {"url": "http://127.0.0.1:17000"}})
    """
    global _client, _shut_down
    client = Client(config)
    with _lock:
        previous, _client = _client, client
        _shut_down = False
        if client._config_text is None:
            os.environ.pop(_INHERITED, None)
        else:
            os.environ[_INHERITED] = client._config_text
    if previous is not None:
        close_at_exit(previous)
    return client


def get_client() -> Client:
    """The process-wide client, created from the environment on first use."""
    client = _client
    if client is not None:
        return client
    return _create(None)


def client_for_child(config_json: Optional[str]) -> Client:
    """The process-wide client; in a child process without one yet, configured by
    ``config_json`` (the configuration of a parent's client)."""
    client = _client
    if client is not None:
        return client
    return _create(config_json)


def _create(inherited: Optional[str]) -> Client:
    global _client
    with _lock:
        if _client is not None:
            return _client
        if _shut_down:
            raise ClosedError("closed: wafermon.shutdown() was called", "closed", None)
        if _process.in_child():
            # A child's first client: configured like the parent's (a job handed over
            # from it, or what the parent passed to init()).
            inherited = inherited or os.environ.get(_INHERITED)
        else:
            inherited = None
        _client = Client._from_json(inherited)
        return _client


def shutdown(timeout: float = 5.0) -> Optional[Dict[str, Any]]:
    """Close the process-wide client: deliver for up to ``timeout`` seconds, keep the rest
    in the spool, and return the final stats (None if there was no client). Later calls
    raise :class:`wafermon.ClosedError` until :func:`init` is called again. Runs by itself
    when the interpreter exits."""
    global _client, _shut_down
    with _lock:
        client, _client = _client, None
        _shut_down = True
    if client is None:
        return None
    return client.close(timeout)


def job(
    name: str,
    *,
    key: Optional[str] = None,
    kind: Optional[str] = None,
    attrs: Optional[Attrs] = None,
    id: Optional[str] = None,
    parent: ParentSpec = None,
) -> Job:
    """A job on the process-wide client, used as a context manager::

        with wafermon.job("etch", key="LOT42", attrs={"tool": "ETCH-01"}) as job:
            job.progress(50)

    ``key``: business key (lot number, ...). ``kind``: entity kind (default ``"job"``, or
    ``"subjob"`` inside another job). ``attrs``: str/int/float/bool values carried by
    ``started``. ``id``: the entity id (default: a new UUIDv7). ``parent``: by default
    the current job; a ``Job``, ``JobRef`` or id string to set it, False for none.
    """
    return (_client or get_client())._native.job(name, key, kind, attrs, id, parent)


def emit(event: Mapping[str, Any]) -> None:
    """Queue one event on the process-wide client; see :meth:`Client.emit`."""
    (_client or get_client())._native.emit(event)


def flush(timeout: float = 5.0) -> bool:
    """Wait until everything emitted so far is delivered; False if ``timeout`` passed."""
    return get_client().flush(timeout)


def stats() -> Dict[str, Any]:
    """Counters of the process-wide client; see :meth:`Client.stats`."""
    return get_client().stats()


def _after_fork() -> None:
    # Another thread of the parent may have held the lock at the fork; the client itself
    # is fine (the core gives the child a fresh pipeline on first use).
    global _lock
    _lock = threading.Lock()


def _at_exit() -> None:
    global _client, _shut_down
    try:
        with _lock:
            client, _client = _client, None
            _shut_down = True
        if client is not None:
            close_at_exit(client)
        for other in list(_core.live_clients):
            if not other.closed:
                close_at_exit(other)
    except Exception:  # noqa: BLE001 - never fail the interpreter's exit
        pass


_process.after_fork(_after_fork)
_process.at_child_exit(_at_exit)
atexit.register(_at_exit)
