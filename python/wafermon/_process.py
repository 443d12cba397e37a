"""What this process is: the original one, or a child (forked, or started by
multiprocessing). The core restarts its own pipeline in a forked child by itself; this
module only tracks what the Python side needs to get the child's events out before the
child exits, since children often leave through ``os._exit`` (no ``atexit``).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
from typing import Callable, List

from . import _native


def _multiprocessing_child() -> bool:
    # parent_process() is only set once the child runs its target; while a spawn or
    # forkserver child imports modules before that, `_inheriting` marks it.
    return multiprocessing.parent_process() is not None or bool(
        getattr(multiprocessing.current_process(), "_inheriting", False)
    )


def notice() -> None:
    """Mark this process as a child if multiprocessing started it (called when a client
    is made, in case wafermon was imported before anything showed it)."""
    if _multiprocessing_child():
        _native.set_in_child(True)


# The native side keeps the flag (and the fork generation) because the job's `with`
# block, which is native, reads them. A forked child is marked by _in_forked_child.
notice()

_after_fork: List[Callable[[], None]] = []
_at_child_exit: List[Callable[[], None]] = []


def after_fork(callback: Callable[[], None]) -> None:
    """Run ``callback`` in every forked child, before anything else uses wafermon there."""
    _after_fork.append(callback)


def at_child_exit(callback: Callable[[], None]) -> None:
    """Run ``callback`` when a multiprocessing child ends normally (its ``atexit`` never
    runs when it leaves through ``os._exit``)."""
    _at_child_exit.append(callback)


def in_child() -> bool:
    """True in a forked child and in any multiprocessing child."""
    return bool(_native.in_child())


def _in_forked_child() -> None:
    _native.forked()
    for callback in _after_fork:
        callback()


def _run_child_exit() -> None:
    for callback in _at_child_exit:
        try:
            callback()
        except Exception:  # noqa: BLE001 - an exiting child must exit
            pass


class _Anchor:
    """multiprocessing keeps after-fork callbacks in a weak dict: this keeps ours alive."""


_anchor = _Anchor()


def _in_multiprocessing_child(_: object) -> None:
    # Runs in fork and forkserver children as they start (spawn children skip it, and
    # leave through sys.exit, so atexit serves them).
    _native.set_in_child(True)
    # multiprocessing clears its finalizer registry just before this runs, so this is the
    # first moment a finalizer registered here survives.
    multiprocessing.util.Finalize(None, _run_child_exit, exitpriority=100)


os.register_at_fork(after_in_child=_in_forked_child)
multiprocessing.util.register_after_fork(_anchor, _in_multiprocessing_child)
