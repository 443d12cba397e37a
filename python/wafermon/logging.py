"""``logging`` integration: records become wafermon log events of the current job.

::

    import logging, wafermon, wafermon.logging

    logging.getLogger().addHandler(wafermon.logging.Handler(logging.INFO))
    with wafermon.job("etch", key="LOT42"):
        logging.warning("pump slow to settle")   # a log event of the etch job
"""

from __future__ import annotations

import logging
from typing import Optional

from ._core import Client, _current, _level_name
from ._errors import WafermonError

__all__ = ["Handler"]


class Handler(logging.Handler):
    """A ``logging.Handler`` that sends each record as a wafermon ``log`` event.

    Inside a job (``with wafermon.job(...)``, in this thread or asyncio task) the event
    belongs to that job. Outside any job it belongs to an entity of kind ``"logger"``
    named after the logger (``outside_jobs=False`` drops those records instead). The
    message is the formatted record; the level maps DEBUG/INFO/WARNING/ERROR/CRITICAL to
    the event's level. ``client``: default the process-wide client.

    Never raises into the logging call: a problem goes to ``Handler.handleError`` like in
    any other handler, and records logged after ``wafermon.shutdown()`` are dropped.
    """

    def __init__(
        self,
        level: int = logging.NOTSET,
        *,
        client: Optional[Client] = None,
        outside_jobs: bool = True,
    ) -> None:
        super().__init__(level)
        self._client = client
        self._outside_jobs = outside_jobs

    def _text(self, record: logging.LogRecord) -> str:
        # Without a formatter and a traceback the text is the message: skipping format()
        # saves a good part of the handler's cost.
        if self.formatter is None and not (record.exc_info or record.exc_text or record.stack_info):
            return record.getMessage()
        return self.format(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            job = _current.get()
            if job is not None and not job.ended:
                job.log(record.levelno, self._text(record))
                return
            if not self._outside_jobs:
                return
            from ._global import get_client

            client = self._client or get_client()
            client.emit(
                {
                    "kind": "log",
                    "level": _level_name(record.levelno),
                    "message": self._text(record),
                    "entity": {"kind": "logger", "id": record.name or "root"},
                }
            )
        except WafermonError as e:
            if e.kind != "closed":
                self.handleError(record)
        except Exception:  # noqa: BLE001 - logging must not raise into the application
            self.handleError(record)
