"""The public API: init, jobs and subjobs, decorator, contextvars, emit/flush/stats/shutdown,
logging."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest
from helpers import config_in, read_events

import wafermon
import wafermon.logging


def by_kind(events: List[Dict[str, Any]], kind: str) -> List[Dict[str, Any]]:
    return [e for e in events if e["kind"] == kind]


def test_init_with_a_dict_writes_where_it_says(config: Dict[str, Any], data_dir: Path) -> None:
    client = wafermon.init(config)
    assert wafermon.get_client() is client
    with wafermon.job("etch", key="LOT42", attrs={"tool": "ETCH-01", "slots": 25, "ok": True}):
        pass
    stats = wafermon.shutdown()
    assert stats is not None and stats["emitted"] == 2
    events = read_events(data_dir)
    assert [e["kind"] for e in events] == ["started", "finished"]
    started = events[0]
    assert started["app"] == {"name": "test-app", "version": "1.0", "instance": "i-1"}
    assert started["site"] == "fab-t"
    assert started["entity"]["kind"] == "job"
    assert started["entity"]["name"] == "etch"
    assert started["entity"]["key"] == "LOT42"
    assert started["attrs"] == {"tool": "ETCH-01", "slots": 25, "ok": True}
    assert "parent" not in started["entity"]
    finished = events[1]
    assert finished["status"] == "succeeded"
    assert set(finished["metrics"]) == {"cpu_user_s", "cpu_system_s", "max_rss_bytes", "duration_s"}
    assert finished["metrics"]["max_rss_bytes"] > 1_000_000


def test_init_with_a_path(tmp_path: Path, config: Dict[str, Any], data_dir: Path) -> None:
    path = tmp_path / "wafermon.json"
    path.write_text(json.dumps(config))
    wafermon.init(str(path))
    wafermon.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "ETCH-01"}})
    wafermon.shutdown()
    assert [e["entity"]["id"] for e in read_events(data_dir)] == ["ETCH-01"]


def test_without_init_the_environment_and_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAFERMON_APP_NAME", "from-env")
    monkeypatch.setenv("WAFERMON_SPOOL_PATH", str(tmp_path / "spool"))
    with wafermon.job("etch"):
        pass
    wafermon.shutdown()
    # The default backend: JSONL under ./wafermon-data (the test runs in tmp_path).
    events = read_events(tmp_path / "wafermon-data")
    assert [e["kind"] for e in events] == ["started", "finished"]
    assert events[0]["app"]["name"] == "from-env"


def test_explicit_config_overrides_the_environment(
    config: Dict[str, Any], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAFERMON_SITE_ID", "fab-env")
    monkeypatch.setenv("WAFERMON_APP_VERSION", "9.9")
    del config["app"]["version"]
    wafermon.init(config)
    wafermon.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "T"}})
    wafermon.shutdown()
    event = read_events(data_dir)[0]
    assert event["site"] == "fab-t"
    assert event["app"]["version"] == "9.9"


def test_several_clients_in_one_process(tmp_path: Path) -> None:
    a = wafermon.Client(config_in(tmp_path / "a"))
    b = wafermon.Client(config_in(tmp_path / "b"))
    with a.job("on-a"):
        with b.job("on-b"):
            pass
    a.close()
    b.close()
    on_a = read_events(tmp_path / "a" / "data")
    on_b = read_events(tmp_path / "b" / "data")
    assert {e["entity"]["name"] for e in on_a} == {"on-a"}
    assert {e["entity"]["name"] for e in on_b} == {"on-b"}
    # The parent is the current job, whichever client it belongs to.
    assert on_b[0]["entity"]["parent"] == on_a[0]["entity"]["id"]


def test_client_as_context_manager(config: Dict[str, Any], data_dir: Path) -> None:
    with wafermon.Client(config) as client:
        client.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "T"}})
    assert client.closed
    assert len(read_events(data_dir)) == 1


def test_nested_jobs_find_their_parent(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    with wafermon.job("lot", key="LOT42", kind="lot") as lot:
        assert wafermon.current_job() is lot
        with wafermon.job("wafer", key="W01") as wafer:
            assert wafermon.current_job() is wafer
            with wafer.subjob("step", kind="step") as step:
                step.progress(100)
        with lot.subjob("report") as report:
            report.metric("wafers", 25)
        assert wafermon.current_job() is lot
    assert wafermon.current_job() is None
    wafermon.shutdown()
    started = {e["entity"]["name"]: e["entity"] for e in by_kind(read_events(data_dir), "started")}
    assert started["lot"]["kind"] == "lot" and "parent" not in started["lot"]
    assert started["wafer"]["kind"] == "subjob"
    assert started["wafer"]["parent"] == started["lot"]["id"]
    assert started["step"]["kind"] == "step"
    assert started["step"]["parent"] == started["wafer"]["id"]
    assert started["report"]["parent"] == started["lot"]["id"]


def test_explicit_parent_and_no_parent(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    with wafermon.job("a") as a:
        with wafermon.job("top", parent=False):
            pass
        with wafermon.job("by-id", parent="0190ffff-0000-7000-8000-000000000000"):
            pass
        with wafermon.job("by-ref", parent=a.ref()):
            pass
    wafermon.shutdown()
    started = {e["entity"]["name"]: e["entity"] for e in by_kind(read_events(data_dir), "started")}
    assert "parent" not in started["top"] and started["top"]["kind"] == "job"
    assert started["by-id"]["parent"] == "0190ffff-0000-7000-8000-000000000000"
    assert started["by-ref"]["parent"] == started["a"]["id"]


def test_reports_inside_a_job(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    with wafermon.job("etch") as job:
        job.progress(0)
        job.progress(50, "slot 12 of 25")
        job.metric("chamber_pressure_pa", 12.5)
        job.log("warning", "pump slow")
        job.log(logging.ERROR, "valve stuck")
        job.log("INFO", "upper case names work too")
        job.heartbeat()
    wafermon.shutdown()
    events = read_events(data_dir)
    assert [e["kind"] for e in events] == [
        "started",
        "progress",
        "progress",
        "metric",
        "log",
        "log",
        "log",
        "heartbeat",
        "finished",
    ]
    assert events[2]["progress"] == 50 and events[2]["message"] == "slot 12 of 25"
    assert events[3]["metrics"] == {"chamber_pressure_pa": 12.5}
    assert [(e["level"], e["message"]) for e in by_kind(events, "log")] == [
        ("warning", "pump slow"),
        ("error", "valve stuck"),
        ("info", "upper case names work too"),
    ]
    assert len({e["entity"]["id"] for e in events}) == 1


def test_an_exception_fails_the_job_with_its_type_and_message(
    config: Dict[str, Any], data_dir: Path
) -> None:
    wafermon.init(config)

    class ChamberFault(RuntimeError):
        pass

    with pytest.raises(ChamberFault):
        with wafermon.job("etch"):
            with wafermon.job("step"):
                raise ChamberFault("pressure out of range")
    assert wafermon.current_job() is None
    wafermon.shutdown()
    failed = by_kind(read_events(data_dir), "failed")
    assert [e["entity"]["name"] for e in failed] == ["step", "etch"]
    for event in failed:
        assert event["status"] == "failed"
        assert event["message"].endswith("ChamberFault: pressure out of range")
        assert "duration_s" in event["metrics"]


def test_interrupts_and_clean_exits(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    with pytest.raises(KeyboardInterrupt):
        with wafermon.job("interrupted"):
            raise KeyboardInterrupt
    with pytest.raises(SystemExit):
        with wafermon.job("exit-0"):
            raise SystemExit(0)
    with pytest.raises(SystemExit):
        with wafermon.job("exit-3"):
            raise SystemExit(3)
    wafermon.shutdown()
    endings = {e["entity"]["name"]: e for e in read_events(data_dir) if e["kind"] != "started"}
    assert endings["interrupted"]["kind"] == "canceled"
    assert endings["interrupted"]["message"] == "KeyboardInterrupt"
    assert endings["exit-0"]["kind"] == "finished"
    assert endings["exit-3"]["kind"] == "failed"
    assert endings["exit-3"]["message"] == "SystemExit: 3"


def test_manual_start_and_endings(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    a = wafermon.job("a").start()
    b = wafermon.job("b").start()
    c = wafermon.job("c").start()
    d = wafermon.job("d").start()
    assert a.started and not a.ended
    a.finish()
    b.fail("chamber fault")
    c.cancel("operator abort")
    d.release()
    assert a.ended
    with pytest.raises(wafermon.ClosedError, match="already ended"):
        a.progress(10)
    with pytest.raises(wafermon.ClosedError):
        a.finish()
    with pytest.raises(RuntimeError, match="has not started"):
        wafermon.job("x").progress(1)
    with pytest.raises(RuntimeError, match="already started"):
        a.start()
    wafermon.shutdown()
    endings = {e["entity"]["name"]: e for e in read_events(data_dir) if e["kind"] != "started"}
    assert endings["a"]["kind"] == "finished"
    assert (endings["b"]["kind"], endings["b"]["message"]) == ("failed", "chamber fault")
    assert (endings["c"]["kind"], endings["c"]["message"]) == ("canceled", "operator abort")
    assert (endings["d"]["kind"], endings["d"]["message"]) == ("canceled", "dropped without finish")


def test_ending_inside_the_block_is_kept(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    with wafermon.job("etch") as job:
        job.cancel("lot on hold")
    wafermon.shutdown()
    assert [e["kind"] for e in read_events(data_dir)] == ["started", "canceled"]


def test_decorator_sync_and_async(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)

    @wafermon.monitored("measure", kind="wafer", attrs={"tool": "CD-SEM"})
    def measure(x: int) -> int:
        """Measure one wafer."""
        current = wafermon.current_job()
        assert current is not None
        current.metric("cd_nm", 45.0)
        return x * 2

    @wafermon.monitored
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        if x < 0:
            raise ValueError("negative")
        return x

    assert measure(21) == 42
    assert measure.__name__ == "measure" and measure.__doc__ == "Measure one wafer."
    assert asyncio.run(fetch(3)) == 3
    with pytest.raises(ValueError):
        asyncio.run(fetch(-1))
    wafermon.shutdown()
    events = read_events(data_dir)
    names = [(e["entity"]["name"], e["kind"]) for e in events if e["kind"] != "metric"]
    fetch_name = "test_decorator_sync_and_async.<locals>.fetch"
    assert names == [
        ("measure", "started"),
        ("measure", "finished"),
        (fetch_name, "started"),
        (fetch_name, "finished"),
        (fetch_name, "started"),
        (fetch_name, "failed"),
    ]
    assert events[0]["entity"]["kind"] == "wafer"
    assert events[0]["attrs"] == {"tool": "CD-SEM"}


def test_threads_each_have_their_own_current_job(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    barrier = threading.Barrier(4)
    errors: List[BaseException] = []

    def worker(n: int) -> None:
        try:
            assert wafermon.current_job() is None
            with wafermon.job(f"outer-{n}") as outer:
                barrier.wait(timeout=10)  # all four outer jobs are open at once
                with wafermon.job(f"inner-{n}") as inner:
                    assert wafermon.current_job() is inner
                    barrier.wait(timeout=10)
                assert wafermon.current_job() is outer
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    wafermon.shutdown()
    started = {e["entity"]["name"]: e["entity"] for e in by_kind(read_events(data_dir), "started")}
    for n in range(4):
        assert started[f"inner-{n}"]["parent"] == started[f"outer-{n}"]["id"]


def test_asyncio_tasks_see_the_job_they_were_created_in(
    config: Dict[str, Any], data_dir: Path
) -> None:
    wafermon.init(config)

    async def wafer(n: int) -> None:
        async with wafermon.job(f"wafer-{n}") as job:
            await asyncio.sleep(0.01 * (3 - n))  # interleave the tasks
            assert wafermon.current_job() is job
            job.progress(100)

    async def lot() -> None:
        async with wafermon.job("lot"):
            await asyncio.gather(*(wafer(n) for n in range(3)))
        assert wafermon.current_job() is None

    asyncio.run(lot())
    wafermon.shutdown()
    started = {e["entity"]["name"]: e["entity"] for e in by_kind(read_events(data_dir), "started")}
    for n in range(3):
        assert started[f"wafer-{n}"]["parent"] == started["lot"]["id"]


def test_a_job_pickles_as_a_reference(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    with wafermon.job("lot") as lot:
        ref = pickle.loads(pickle.dumps(lot))
        assert isinstance(ref, wafermon.JobRef) and ref.id == lot.id and ref.name == "lot"
        with ref.subjob("wafer", key="W01") as wafer:
            wafer.progress(100)
    wafermon.shutdown()
    started = {e["entity"]["name"]: e["entity"] for e in by_kind(read_events(data_dir), "started")}
    assert started["wafer"]["parent"] == started["lot"]["id"]
    assert started["wafer"]["kind"] == "subjob"


def test_emit_flush_stats(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    for i in range(100):
        wafermon.emit(
            {
                "kind": "metric",
                "entity": {"kind": "tool", "id": "ETCH-01"},
                "metrics": {"pressure_pa": 12.5 + i, "count": i},
                "attrs": {"recipe": "R7", "slot": i, "ok": True, "ratio": 0.5},
                "message": None,
            }
        )
    assert wafermon.flush(timeout=10) is True
    stats = wafermon.stats()
    assert stats["emitted"] == 100
    (backend,) = stats["backends"]
    assert backend["name"] == "filesystem" and backend["sent"] == 100
    assert backend["healthy"] is True
    events = read_events(data_dir)
    assert len(events) == 100
    assert events[7]["metrics"] == {"pressure_pa": 19.5, "count": 7}
    assert events[7]["attrs"] == {"recipe": "R7", "slot": 7, "ok": True, "ratio": 0.5}
    assert "message" not in events[7]


def test_emit_forwards_identity_fields(config: Dict[str, Any], data_dir: Path) -> None:
    """Fields a forwarder sets (id, time, site, app) go through the core's full parser."""
    wafermon.init(config)
    wafermon.emit(
        {
            "v": 1,
            "id": "01900000-0000-7000-8000-000000000001",
            "time": "2026-01-02T03:04:05.123456Z",
            "site": "fab-other",
            "app": {"name": "other", "version": "2"},
            "kind": "finished",
            "entity": {"kind": "job", "id": "j", "key": "LOT1"},
        }
    )
    wafermon.shutdown()
    (event,) = read_events(data_dir)
    assert event["id"] == "01900000-0000-7000-8000-000000000001"
    assert event["time"] == "2026-01-02T03:04:05.123456Z"
    assert event["site"] == "fab-other" and event["app"]["name"] == "other"
    assert event["status"] == "succeeded"


def test_logging_handler_attaches_records_to_the_current_job(
    config: Dict[str, Any], data_dir: Path
) -> None:
    wafermon.init(config)
    logger = logging.getLogger("fab.etch")
    logger.setLevel(logging.DEBUG)
    handler = wafermon.logging.Handler(logging.INFO)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger.addHandler(handler)
    try:
        logger.info("before any job")
        with wafermon.job("etch") as job:
            logger.debug("below the handler's level")
            logger.warning("pump slow: %d s", 12)
            try:
                raise ValueError("bad")
            except ValueError:
                logger.exception("recipe rejected")
        logger.critical("after")
    finally:
        logger.removeHandler(handler)
    wafermon.shutdown()
    logs = by_kind(read_events(data_dir), "log")
    assert [(e["entity"]["kind"], e["level"]) for e in logs] == [
        ("logger", "info"),
        ("job", "warning"),
        ("job", "error"),
        ("logger", "critical"),
    ]
    assert logs[0]["entity"]["id"] == "fab.etch"
    assert logs[0]["message"] == "fab.etch: before any job"
    assert logs[1]["message"] == "fab.etch: pump slow: 12 s"
    assert logs[1]["entity"]["id"] == job.id
    assert "ValueError: bad" in logs[2]["message"]  # the traceback is part of the text


def test_logging_handler_only_inside_jobs(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    logger = logging.getLogger("fab.only-jobs")
    handler = wafermon.logging.Handler(outside_jobs=False)
    logger.addHandler(handler)
    try:
        logger.warning("dropped")
        with wafermon.job("etch"):
            logger.warning("kept")
    finally:
        logger.removeHandler(handler)
    wafermon.shutdown()
    assert [e["message"] for e in by_kind(read_events(data_dir), "log")] == ["kept"]


def test_version_and_public_names() -> None:
    assert wafermon.__version__
    for name in wafermon.__all__:
        assert hasattr(wafermon, name), name
    assert issubclass(wafermon.InvalidConfigError, ValueError)
    assert issubclass(wafermon.InvalidEventError, ValueError)
    assert issubclass(wafermon.ClosedError, wafermon.WafermonError)
    assert not issubclass(wafermon.ClosedError, ValueError)


def test_a_parent_that_has_not_started_is_an_error(config: Dict[str, Any]) -> None:
    wafermon.init(config)
    pending = wafermon.job("later")
    child = wafermon.job("child", parent=pending)
    with pytest.raises(RuntimeError, match="has not started"):
        child.start()
    with pending:
        child.start()  # the same job object can start once its parent has
        child.finish()
    assert repr(child) == "<wafermon.Job 'child' ended>"
    assert repr(wafermon.job("x")) == "<wafermon.Job 'x' not started>"


def test_asyncio_cancellation_cancels_the_job(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)

    async def slow() -> None:
        async with wafermon.job("slow"):
            await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.ensure_future(slow())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    wafermon.shutdown()
    ending = read_events(data_dir)[-1]
    assert (ending["kind"], ending["message"]) == ("canceled", "CancelledError")


def test_init_again_replaces_and_closes_the_previous_client(tmp_path: Path) -> None:
    first = wafermon.init(config_in(tmp_path / "one"))
    wafermon.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "A"}})
    second = wafermon.init(config_in(tmp_path / "two"))
    assert first.closed and not second.closed and wafermon.get_client() is second
    wafermon.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "B"}})
    wafermon.shutdown()
    assert [e["entity"]["id"] for e in read_events(tmp_path / "one" / "data")] == ["A"]
    assert [e["entity"]["id"] for e in read_events(tmp_path / "two" / "data")] == ["B"]


def test_the_gil_is_released_while_the_core_waits(tmp_path: Path) -> None:
    """flush() waiting on a dead backend lets the other Python threads run."""
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = wafermon.Client(
        config_in(tmp_path, mode="sidecar", sidecar={"url": f"http://127.0.0.1:{port}"})
    )
    client.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "T"}})
    done = threading.Event()

    def flusher() -> None:
        client.flush(timeout=1.0)
        done.set()

    thread = threading.Thread(target=flusher)
    thread.start()
    time.sleep(0.05)
    spins = 0
    started = time.monotonic()
    while not done.is_set() and time.monotonic() - started < 0.5:
        spins += 1
    thread.join(timeout=10)
    client.close(timeout=0.2)
    # Holding the GIL, the flusher would have let this loop run only in switch intervals.
    assert spins > 100_000, spins


def test_the_default_app_name_is_the_script_not_the_interpreter(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "etch_controller.py"
    script.write_text(
        "import wafermon\n"
        "wafermon.emit({'kind': 'heartbeat', 'entity': {'kind': 't', 'id': 'x'}})\n"
    )
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, timeout=60)
    (event,) = read_events(tmp_path / "wafermon-data")
    assert event["app"]["name"] == "etch_controller"
