"""The one table that maps the core's error kinds to Python exceptions.

The native module raises ``cls(message, kind, path)`` from this table, so every error the
core reports arrives as the same exception whichever call raised it.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

from . import _native


class WafermonError(Exception):
    """Base class of every error wafermon raises.

    ``kind`` is the core's error kind (``"closed"``, ``"timeout"``, ``"io"``, ...) and
    ``path`` the JSON path of the offending field, when the error concerns one.
    """

    def __init__(self, message: str, kind: str = "", path: Optional[str] = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.path = path


class InvalidArgumentError(WafermonError, ValueError):
    """An argument that is not part of an event cannot be used (for example no job is open
    where one is needed)."""


class InvalidConfigError(WafermonError, ValueError):
    """A configuration value is missing, of the wrong type or out of range.

    The message names its JSON path: ``invalid config at batch.max_events: ...``.
    """


class InvalidEventError(WafermonError, ValueError):
    """An event (or an argument that becomes part of one) is invalid.

    The message names its JSON path: ``invalid event at progress: ...``.
    """


class ClosedError(WafermonError):
    """The client (or the job) has been closed; nothing more is accepted."""


class FlushTimeoutError(WafermonError, TimeoutError):
    """Delivery did not finish within the timeout (what is left stays queued or spooled)."""


class LocalIOError(WafermonError, OSError):
    """A local I/O operation (spool, file backend) failed."""


class BackendError(WafermonError):
    """A backend rejected data or could not be reached."""


# Its keys are exactly the core's kinds (core/conformance/error_kinds.json; tested).
ERROR_TABLE: Dict[str, Type[WafermonError]] = {
    "invalid_argument": InvalidArgumentError,
    "invalid_config": InvalidConfigError,
    "invalid_event": InvalidEventError,
    "closed": ClosedError,
    "timeout": FlushTimeoutError,
    "io": LocalIOError,
    "backend": BackendError,
}

_native.set_error_table(ERROR_TABLE)
