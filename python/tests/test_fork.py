"""Fork safety: every event from the parent and its children arrives exactly once, with
multiprocessing (fork, forkserver, spawn; pools and plain processes), os.fork() and a
pre-forking server; nothing hangs (every wait has a deadline) and no thread is left over."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest
import workers
from helpers import config_in, read_events

import wafermon

CHILDREN = 6
DEADLINE = 120.0
METHODS = [
    m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()
]


@pytest.fixture
def config(tmp_path: Path) -> Dict[str, Any]:
    # A long flush interval: nothing reaches the files by the passing of time, so what
    # a child reported arrives only if the child really flushes before it exits.
    return config_in(tmp_path, batch={"flush_interval": 30.0})


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def settle_threads(expected: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while native_threads() > expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return native_threads()


def wait_all(pids: List[int], timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    left = set(pids)
    while left:
        for pid in list(left):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                left.discard(pid)
                assert os.waitstatus_to_exitcode(status) == 0, f"child {pid}: status {status}"
        if time.monotonic() > deadline:
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"children {left} did not finish within {timeout} s (deadlock?)")
        time.sleep(0.01)


def run_forked(body: Any) -> int:
    """os.fork() running ``body()`` in the child, which then leaves through os._exit, as
    forked workers do (no atexit, no interpreter shutdown)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        finally:
            os._exit(code)
    return pid


def check_children(events: List[Dict[str, Any]], parent: str, children: int) -> None:
    """The parent job once, each child's job with all its reports exactly once, under it."""
    duplicates = [i for i, n in Counter(e["id"] for e in events).items() if n > 1]
    assert not duplicates, f"events delivered twice: {duplicates}"
    jobs: Dict[str, List[Dict[str, Any]]] = {}
    for event in events:
        jobs.setdefault(event["entity"]["id"], []).append(event)
    (parent_events,) = [v for v in jobs.values() if v[0]["entity"].get("name") == parent]
    kinds = sorted(e["kind"] for e in parent_events)
    assert kinds.count("started") == 1 and kinds.count("finished") == 1, kinds
    parent_id = parent_events[0]["entity"]["id"]
    for n in range(children):
        found = [v for v in jobs.values() if v[0]["entity"].get("name") == f"child-{n}"]
        assert len(found) == 1, f"child-{n}: {len(found)} jobs"
        (child,) = found
        assert sorted(e["kind"] for e in child) == ["finished", "metric", "progress", "started"]
        assert all(e["entity"]["parent"] == parent_id for e in child)
        assert child[0]["entity"]["key"] == f"W{n:02}"
        beats = [e for e in events if e["entity"]["id"] == f"tool-{n}"]
        assert len(beats) == 1, f"tool-{n}: {len(beats)} heartbeats"


@pytest.mark.parametrize("method", METHODS)
def test_multiprocessing_pool(method: str, config: Dict[str, Any], data_dir: Path) -> None:
    before = native_threads()
    ctx = multiprocessing.get_context(method)
    wafermon.init(config)
    with wafermon.job("parent") as parent:
        # `with Pool` terminates the workers (SIGTERM) when the block ends: what they
        # reported must already be out, which the end of their outermost job sees to.
        with ctx.Pool(2) as pool:
            tasks = [(parent.ref(), n) for n in range(CHILDREN)]
            pids = pool.starmap_async(workers.child_work, tasks).get(timeout=DEADLINE)
        parent.progress(100)
    assert os.getpid() not in pids
    wafermon.shutdown(timeout=10)
    check_children(read_events(data_dir), "parent", CHILDREN)
    assert settle_threads(before) == before


@pytest.mark.parametrize("method", METHODS)
def test_multiprocessing_process(method: str, config: Dict[str, Any], data_dir: Path) -> None:
    ctx = multiprocessing.get_context(method)
    wafermon.init(config)
    with wafermon.job("parent") as parent:
        # A forked child finds its parent job by itself (it inherits the context); the
        # others are handed the job.
        ref = None if method == "fork" else parent
        procs = [ctx.Process(target=workers.process_main, args=(ref, n)) for n in range(CHILDREN)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=DEADLINE)
            assert not p.is_alive(), "child did not finish (deadlock?)"
            assert p.exitcode == 0
    wafermon.shutdown(timeout=10)
    check_children(read_events(data_dir), "parent", CHILDREN)


def test_spawned_child_configures_itself_from_init(config: Dict[str, Any], data_dir: Path) -> None:
    """A spawn child that was handed nothing still reports where the parent does."""
    ctx = multiprocessing.get_context("spawn")
    wafermon.init(config)
    p = ctx.Process(target=workers.process_main, args=(None, 0))
    p.start()
    p.join(timeout=DEADLINE)
    assert p.exitcode == 0
    wafermon.shutdown()
    (child,) = {e["entity"]["id"] for e in read_events(data_dir) if e["entity"]["kind"] == "job"}
    assert child


def test_os_fork_while_another_thread_emits(config: Dict[str, Any], data_dir: Path) -> None:
    """Children forked while a parent thread is inside the core (its locks may be held at
    the fork) neither hang nor lose or duplicate anything; the parent's stream goes on."""
    before = native_threads()
    wafermon.init(config)
    stop = threading.Event()
    emitted = 0

    def chatter() -> None:
        nonlocal emitted
        while not stop.is_set():
            wafermon.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "parent-tool"}})
            emitted += 1

    thread = threading.Thread(target=chatter)
    thread.start()
    try:
        with wafermon.job("parent"):
            pids = []
            for n in range(CHILDREN):

                def body(n: int = n) -> None:
                    workers.child_work(None, n)  # parent: the inherited current job
                    # Outside a job a child flushes itself before os._exit.
                    wafermon.emit(
                        {"kind": "heartbeat", "entity": {"kind": "tool", "id": f"bare-{n}"}}
                    )
                    assert wafermon.flush(timeout=30)

                pids.append(run_forked(body))
                time.sleep(0.01)
            wait_all(pids)
    finally:
        stop.set()
        thread.join(timeout=30)
    wafermon.shutdown(timeout=10)
    events = read_events(data_dir)
    check_children(events, "parent", CHILDREN)
    assert sum(1 for e in events if e["entity"]["id"] == "parent-tool") == emitted
    for n in range(CHILDREN):
        assert sum(1 for e in events if e["entity"]["id"] == f"bare-{n}") == 1
    assert settle_threads(before) == before


def test_pre_forking_server(config: Dict[str, Any], data_dir: Path) -> None:
    """gunicorn-style: the parent binds, forks workers that accept on the shared socket
    and run one job per request; workers leave through os._exit."""
    wafermon.init(config)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(DEADLINE)
    port = listener.getsockname()[1]
    worker_count, requests = 3, 12
    with wafermon.job("server"):
        pids = [run_forked(lambda: workers.prefork_worker(listener)) for _ in range(worker_count)]
        served_by = []
        for i in range(requests):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
                conn.sendall(f"req-{i}".encode())
                served_by.append(int(conn.recv(64)))
        for _ in range(worker_count):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
                conn.sendall(b"stop")
                assert conn.recv(64) == b"bye"
        wait_all(pids)
    listener.close()
    assert set(served_by) <= set(pids)
    wafermon.shutdown(timeout=10)
    events = read_events(data_dir)
    assert not [i for i, n in Counter(e["id"] for e in events).items() if n > 1]
    handled = [e for e in events if e["entity"].get("name") == "request"]
    assert sorted(e["entity"]["key"] for e in handled if e["kind"] == "started") == sorted(
        f"req-{i}" for i in range(requests)
    )
    assert Counter(e["kind"] for e in handled) == {"started": 12, "metric": 12, "finished": 12}
    server_id = next(e["entity"]["id"] for e in events if e["entity"].get("name") == "server")
    assert all(e["entity"]["parent"] == server_id for e in handled)


def test_a_child_of_a_closed_client_fails_cleanly(config: Dict[str, Any]) -> None:
    client = wafermon.Client(config)
    client.close()
    read_end, write_end = os.pipe()

    def body() -> None:
        try:
            client.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "T"}})
            os.write(write_end, b"emitted")
        except wafermon.ClosedError:
            os.write(write_end, b"closed")

    wait_all([run_forked(body)])
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        assert f.read() == b"closed"
