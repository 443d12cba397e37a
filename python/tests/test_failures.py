"""Failure paths: bad config, bad events, a backend that is down, use after shutdown."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
from helpers import config_in, read_events

import wafermon


@pytest.mark.parametrize(
    "config, path",
    [
        ({"mode": "carrier-pigeon"}, "mode"),
        ({"batch": {"max_events": "many"}}, "batch.max_events"),
        ({"direct_backends": [{"type": "filesystem"}, {"type": "nosuch"}]}, "direct_backends[1]"),
        ({"no_such_key": 1}, "no_such_key"),
        ({"queue": {"on_full": "explode"}}, "queue.on_full"),
    ],
)
def test_bad_config_is_a_value_error_naming_the_path(config: Dict[str, Any], path: str) -> None:
    with pytest.raises(ValueError) as info:
        wafermon.Client(config)
    err = info.value
    assert isinstance(err, wafermon.InvalidConfigError)
    assert err.kind == "invalid_config"
    assert str(err).startswith(f"invalid config at {path}")
    assert err.path is not None and err.path.startswith(path)
    # init fails the same way and leaves no half-made global client behind.
    with pytest.raises(wafermon.InvalidConfigError):
        wafermon.init(config)


def test_bad_config_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        wafermon.init(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(wafermon.InvalidConfigError, match="malformed JSON"):
        wafermon.init(bad)
    with pytest.raises(TypeError):
        wafermon.init(42)  # type: ignore[arg-type]


def test_bad_environment_names_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAFERMON_BATCH_MAX_EVENTS", "lots")
    with pytest.raises(wafermon.InvalidConfigError, match="batch.max_events"):
        wafermon.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "T"}})


@pytest.mark.parametrize(
    "event, path",
    [
        ({"kind": "heartbeat"}, "entity"),
        ({"kind": "explode", "entity": {"kind": "tool", "id": "T"}}, "kind"),
        ({"kind": "progress", "progress": 120, "entity": {"kind": "job", "id": "x"}}, "progress"),
        ({"kind": "progress", "progress": True, "entity": {"kind": "job", "id": "x"}}, "progress"),
        ({"kind": "log", "level": "loud", "entity": {"kind": "job", "id": "x"}}, "level"),
        ({"kind": "heartbeat", "entity": {"kind": "tool", "id": 7}}, "entity.id"),
        ({"kind": "heartbeat", "entity": {"kind": "tool", "id": "T", "extra": 1}}, "entity.extra"),
        ({"kind": "heartbeat", "entity": {"kind": "t", "id": "T"}, "attrs": {"a": [1]}}, "attrs.a"),
        (
            {"kind": "metric", "entity": {"kind": "t", "id": "T"}, "metrics": {"x": float("nan")}},
            "metrics.x",
        ),
        (
            {"kind": "metric", "entity": {"kind": "t", "id": "T"}, "metrics": {"x": "high"}},
            "metrics.x",
        ),
        ({"kind": "heartbeat", "entity": {"kind": "t", "id": "T"}, "when": "now"}, "when"),
        ({"kind": "heartbeat", "entity": {"kind": "t", "id": "T"}, "time": object()}, "time"),
    ],
)
def test_bad_event_is_a_value_error_naming_the_field(
    config: Dict[str, Any], event: Dict[str, Any], path: str
) -> None:
    wafermon.init(config)
    with pytest.raises(ValueError) as info:
        wafermon.emit(event)
    assert isinstance(info.value, wafermon.InvalidEventError)
    assert f"at {path}:" in str(info.value), str(info.value)
    assert info.value.path == path


def test_an_event_that_is_not_a_dict(config: Dict[str, Any]) -> None:
    wafermon.init(config)
    with pytest.raises(wafermon.InvalidEventError, match="^invalid event: an event must be"):
        wafermon.emit(["heartbeat"])  # type: ignore[arg-type]


def test_bad_job_arguments(config: Dict[str, Any], data_dir: Path) -> None:
    wafermon.init(config)
    with pytest.raises(wafermon.InvalidEventError, match="at attrs.when:"):
        with wafermon.job("etch", attrs={"when": object()}):  # type: ignore[dict-item]
            pass
    with pytest.raises(wafermon.InvalidEventError, match="at entity.name:"):
        with wafermon.job(""):
            pass
    with wafermon.job("etch") as job:
        with pytest.raises(ValueError, match="at progress:"):
            job.progress(101)
        with pytest.raises(ValueError, match="at metrics.x:"):
            job.metric("x", float("inf"))
        with pytest.raises(ValueError, match="at level:"):
            job.log("loud", "x")
        with pytest.raises(TypeError):
            job.progress("half")  # type: ignore[arg-type]
    wafermon.shutdown()
    # The rejected calls emitted nothing; the job still started and finished.
    assert [e["kind"] for e in read_events(data_dir)] == ["started", "finished"]


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_backend_outage_never_raises(tmp_path: Path) -> None:
    config = config_in(
        tmp_path,
        mode="sidecar",
        sidecar={"url": f"http://127.0.0.1:{_dead_port()}", "timeout": 0.5},
        retry={"initial_backoff": 0.05, "max_backoff": 0.2},
    )
    wafermon.init(config)
    started = time.monotonic()
    with wafermon.job("etch") as job:
        for i in range(50):
            job.progress(i * 2)
    for _ in range(100):
        wafermon.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "T"}})
    assert time.monotonic() - started < 1.0, "emit waited for the dead backend"
    assert wafermon.flush(timeout=0.5) is False
    stats = wafermon.stats()
    (backend,) = stats["backends"]
    assert backend["type"] == "sidecar"
    assert backend["sent"] == 0
    final = wafermon.shutdown(timeout=0.5)
    assert final is not None and final["emitted"] == 152
    (backend,) = final["backends"]
    # Nothing lost: what was not delivered is in the spool for the next run.
    assert backend["spooled"] + backend["queued"] > 0 or final["queued"] > 0, final
    assert any((tmp_path / "spool").rglob("*.seg"))


def test_emit_after_shutdown_raises_closed(config: Dict[str, Any]) -> None:
    wafermon.init(config)
    wafermon.shutdown()
    with pytest.raises(wafermon.ClosedError):
        wafermon.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "T"}})
    with pytest.raises(wafermon.ClosedError):
        wafermon.job("etch")
    assert wafermon.shutdown() is None
    # init makes a new client.
    wafermon.init(config)
    wafermon.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "T"}})


def test_use_of_a_closed_client(config: Dict[str, Any]) -> None:
    client = wafermon.Client(config)
    job = client.job("etch").start()
    stats = client.close()
    assert client.close()["emitted"] == stats["emitted"]  # idempotent
    with pytest.raises(wafermon.ClosedError):
        client.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "T"}})
    with pytest.raises(wafermon.ClosedError):
        client.flush()
    with pytest.raises(wafermon.ClosedError):
        job.progress(5)
    with pytest.raises(wafermon.ClosedError):
        with client.job("late"):
            pass
    # An exception already on its way out is not replaced by the closed client's error.
    running = client.job("x")
    with pytest.raises(wafermon.ClosedError):
        running.start()
    with pytest.raises(KeyError):
        with job:
            raise KeyError("the real problem")


def test_flush_timeout_error_class_is_also_a_timeout_error() -> None:
    assert issubclass(wafermon.FlushTimeoutError, TimeoutError)
    assert issubclass(wafermon.LocalIOError, OSError)


def test_stats_are_json_serializable(config: Dict[str, Any]) -> None:
    wafermon.init(config)
    json.dumps(wafermon.stats())


EXIT_SCRIPT = """
import sys, wafermon
wafermon.init({config!r})
with wafermon.job("last-job"):
    pass
wafermon.emit({{"kind": "heartbeat", "entity": {{"kind": "tool", "id": "T"}}}})
# no shutdown(): the interpreter's exit delivers
"""


def run_script(tmp_path: Path, config: Dict[str, Any]) -> float:
    return exit_of_script(tmp_path, config)[0]


def exit_of_script(tmp_path: Path, config: Dict[str, Any]) -> Tuple[float, str]:
    """Run EXIT_SCRIPT with ``config``: how long it took, and its stderr."""
    import subprocess
    import sys

    script = tmp_path / "app.py"
    script.write_text(EXIT_SCRIPT.format(config=config))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, timeout=60, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started, done.stderr.decode()


def test_exit_delivers_what_was_emitted(tmp_path: Path) -> None:
    config = config_in(tmp_path, batch={"flush_interval": 30.0})
    run_script(tmp_path, config)
    assert [e["kind"] for e in read_events(tmp_path / "data")] == [
        "started",
        "finished",
        "heartbeat",
    ]


def test_exit_does_not_hang_when_the_backend_is_down(tmp_path: Path) -> None:
    config = config_in(
        tmp_path, mode="sidecar", sidecar={"url": f"http://127.0.0.1:{_dead_port()}"}
    )
    took = run_script(tmp_path, config)
    assert took < 4.0, f"exit took {took:.1f} s"
    # Nothing lost: the events wait in the spool for the next run.
    assert any((tmp_path / "spool").rglob("*.seg"))


def test_exit_says_what_it_left_in_the_spool(tmp_path: Path) -> None:
    config = config_in(
        tmp_path, mode="sidecar", sidecar={"url": f"http://127.0.0.1:{_dead_port()}"}
    )
    _, stderr = exit_of_script(tmp_path, config)
    (line,) = [line for line in stderr.splitlines() if line.startswith("wafermon: exit")]
    assert "3 event(s) not delivered" in line, stderr
    assert f"spool at {tmp_path / 'spool'}" in line, stderr
    assert "refused" in line, stderr
    assert any((tmp_path / "spool").rglob("*.seg"))


def test_exit_is_bounded_by_its_timeout_when_the_backend_does_not_answer(
    tmp_path: Path,
) -> None:
    # Accepts connections (the kernel does, into the backlog) and never answers: each
    # request waits out the sidecar's 30 s timeout, and the exit used to wait for all its
    # tries (over 2 minutes). The exit's own timeout is 5 s; the close keeps what the
    # stuck delivery thread holds in the spool itself.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        config = config_in(
            tmp_path,
            mode="sidecar",
            sidecar={"url": f"http://127.0.0.1:{port}", "timeout": 30},
        )
        took, stderr = exit_of_script(tmp_path, config)
    assert took < 20.0, f"exit took {took:.1f} s"
    (line,) = [line for line in stderr.splitlines() if line.startswith("wafermon: exit")]
    assert "3 event(s) not delivered, kept in the spool at" in line, stderr
    assert "sidecar: no answer" in line, stderr
    # The batch that was out to the sidecar goes first in line: the spool's head file.
    spooled = [p.name for p in (tmp_path / "spool").rglob("*") if p.is_file()]
    assert "head" in spooled or any(n.endswith(".seg") for n in spooled), spooled
