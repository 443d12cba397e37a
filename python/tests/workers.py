"""What the child processes of the fork tests run. A module of its own, so that spawn and
forkserver children can import it."""

from __future__ import annotations

import os
import socket
from typing import Optional

import wafermon


def child_work(parent: Optional[wafermon.JobRef], n: int) -> int:
    """One child's job: under ``parent`` when given, else under the current job (what a
    forked child inherits). Returns the pid, so the test knows which process ran it."""
    if parent is not None:
        job = parent.subjob(f"child-{n}", key=f"W{n:02}")
    else:
        job = wafermon.job(f"child-{n}", key=f"W{n:02}")
    with job:
        job.progress(50, "half way")
        job.metric("n", n)
        wafermon.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": f"tool-{n}"}})
    return os.getpid()


def process_main(parent: Optional[wafermon.JobRef], n: int) -> None:
    child_work(parent, n)


def prefork_worker(listener: socket.socket) -> None:
    """A worker of a pre-forking server: one job per request until told to stop."""
    while True:
        conn, _ = listener.accept()
        with conn:
            request = conn.recv(64).decode()
            if request == "stop":
                conn.sendall(b"bye")
                return
            with wafermon.job("request", key=request) as job:
                job.metric("bytes", len(request))
            conn.sendall(f"{os.getpid()}".encode())
