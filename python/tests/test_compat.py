"""wafermon.compat: an application written for the old SDK runs unchanged on wafermon."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest
from helpers import read_events

import wafermon
from wafermon.compat import AppRef, EntityRef, JobEvent, Monitored, SidecarEmitter


def old_application(emitter: SidecarEmitter) -> AppRef:
    """What an application of the old SDK does (its README's usage, plus subjobs)."""
    app = AppRef(
        app_id=uuid.UUID("6f1c9b1e-3f5a-4c47-9a57-1d2b3c4d5e6f"),
        name="etch-control",
        version="1.4.2",
    )
    with Monitored(
        site_id="fab7",
        app=app,
        entity_type="job",
        business_key="LOT42",
        emitter=emitter,
        metadata={"tool": "ETCH-01", "recipe": {"id": 7}},
    ) as job:
        for slot in range(2):
            with Monitored(
                site_id="fab7",
                app=app,
                entity_type="subjob",
                business_key="LOT42",
                sub_key=f"slot-{slot}",
                parent_id=job.entity_id,
                emitter=emitter,
            ) as sub:
                sub.tick({"step": "rinse"})
        job.tick()
    try:
        with Monitored(
            site_id="fab7", app=app, entity_type="job", business_key="LOT43", emitter=emitter
        ):
            raise RuntimeError("chamber fault")
    except RuntimeError:
        pass
    return app


def check_old_application(events: List[Dict[str, Any]]) -> None:
    assert len({e["id"] for e in events}) == len(events) == 11
    assert {e["site"] for e in events} == {"fab7"}
    assert {e["app"]["name"] for e in events} == {"etch-control"}
    assert {e["app"]["version"] for e in events} == {"1.4.2"}
    assert {e["attrs"]["app_id"] for e in events} == {"6f1c9b1e-3f5a-4c47-9a57-1d2b3c4d5e6f"}
    lot = [e for e in events if e["entity"].get("key") == "LOT42" and e["entity"]["kind"] == "job"]
    assert [e["kind"] for e in lot] == ["started", "progress", "finished"]
    assert lot[0]["status"] == "running"
    assert lot[0]["attrs"]["tool"] == "ETCH-01"
    assert lot[0]["attrs"]["recipe"] == '{"id":7}'
    assert lot[2]["status"] == "succeeded"
    assert set(lot[2]["metrics"]) == {"cpu_user_s", "cpu_system_s", "mem_max_mb", "duration_s"}
    subs = [e for e in events if e["entity"]["kind"] == "subjob"]
    assert len(subs) == 6
    assert {e["entity"]["parent"] for e in subs} == {lot[0]["entity"]["id"]}
    assert {e["attrs"]["sub_key"] for e in subs} == {"slot-0", "slot-1"}
    assert [e["attrs"]["step"] for e in subs if e["kind"] == "progress"] == ["rinse", "rinse"]
    failed = [e for e in events if e["entity"].get("key") == "LOT43"]
    assert [e["kind"] for e in failed] == ["started", "failed"]
    assert failed[1]["status"] == "failed"
    assert failed[1]["attrs"]["error"] == "chamber fault"
    assert failed[1]["attrs"]["error_type"] == "RuntimeError"


def test_old_application_through_the_process_wide_client(
    config: Dict[str, Any], data_dir: Path
) -> None:
    wafermon.init(config)
    old_application(SidecarEmitter())
    wafermon.shutdown()
    check_old_application(read_events(data_dir))


def test_emitter_without_url_follows_sidecar_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDECAR_URL", "http://127.0.0.1:9")
    assert SidecarEmitter().base_url == "http://127.0.0.1:9"
    assert SidecarEmitter(base_url="http://127.0.0.1:8").base_url == "http://127.0.0.1:8"


def test_send_never_raises_when_the_sidecar_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAFERMON_SPOOL_PATH", str(tmp_path / "spool"))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    emitter = SidecarEmitter(base_url=f"http://127.0.0.1:{port}", timeout=0.2)
    app = AppRef(app_id=uuid.uuid4(), name="a", version="1")
    with Monitored(site_id="fab1", app=app, entity_type="job", emitter=emitter) as mon:
        mon.tick()
    assert emitter.flush(0.2) is False
    stats = emitter._target().stats()
    assert stats["emitted"] == 3 and stats["backends"][0]["sent"] == 0, stats
    emitter.close()


def test_decorator_and_job_events(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    app = AppRef(app_id=uuid.uuid4(), name="litho", version="2")
    emitter = SidecarEmitter()

    @Monitored(site_id="fab1", app=app, entity_type="job", business_key="daily", emitter=emitter)
    def nightly() -> str:
        return "done"

    assert nightly() == "done"
    entity = EntityRef(type="job", id=uuid.uuid4(), parent_id=None, business_key="B", sub_key=None)
    events = [JobEvent.now("started", "fab1", app, entity, status="running")]
    events.append(JobEvent.now("progress", "fab1", app, entity, "running", metrics={"percent": 40}))
    events.append(JobEvent.now("finished", "fab1", app, entity, "succeeded"))
    emitter.send_batch(events)
    # A replay of the same event (same idempotency key) keeps its id, so stores dedupe it.
    emitter.send(events[-1])
    with pytest.raises(ValueError):
        bad = JobEvent.now("explode", "fab1", app, entity, status="running")
        emitter.send(bad)
    wafermon.shutdown()
    stored = read_events(data_dir)
    assert [e["kind"] for e in stored] == [
        "started",
        "finished",
        "started",
        "progress",
        "finished",
        "finished",
    ]
    assert stored[3]["progress"] == 40
    assert stored[4]["id"] == stored[5]["id"]
    assert stored[2]["entity"]["id"] == str(entity.id)


def test_monitored_progress_of_later_versions(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    app = AppRef(app_id=uuid.uuid4(), name="mp", version="1")
    with Monitored(site_id="s", app=app, entity_type="job", emitter=SidecarEmitter()) as mon:
        mon.progress(current=1, total=4, message="generated files")
    wafermon.shutdown()
    progress = [e for e in read_events(data_dir) if e["kind"] == "progress"]
    assert progress[0]["progress"] == 25
    assert progress[0]["message"] == "generated files"
