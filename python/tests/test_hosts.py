"""Round trips through the real hosts: Python -> wafermon-sidecar -> files, and
Python -> wafermon-sidecar -> wafermon-gateway (SQLite), read back through the gateway's API.
The binaries are the workspace's (python/test.sh builds them when they are missing)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from helpers import read_events
from test_compat import check_old_application, old_application

import wafermon
from wafermon.compat import SidecarEmitter

# Where cargo put the binaries: CARGO_TARGET_DIR when it is set, as cargo itself reads it.
TARGET = Path(
    os.environ.get("CARGO_TARGET_DIR") or Path(__file__).resolve().parents[2] / "target"
).resolve()
PATIENCE = 60.0


def find_bin(name: str) -> Optional[Path]:
    explicit = os.environ.get(f"WAFERMON_{name.upper()}_BIN")
    if explicit:
        return Path(explicit)
    found = [TARGET / profile / f"wafermon-{name}" for profile in ("debug", "release")]
    found = [p for p in found if p.exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


SIDECAR = find_bin("sidecar")
GATEWAY = find_bin("gateway")


@pytest.fixture(autouse=True)
def hosts_are_built() -> None:
    # A missing binary is a failure, not a skip: these are the round-trip tests.
    if SIDECAR is None or GATEWAY is None:
        pytest.fail(
            "wafermon-sidecar / wafermon-gateway not built (cargo build --workspace --bins)"
        )


class Host:
    """A host process, ready once it printed '... listening on ADDR'; stopped at the end."""

    def __init__(self, args: List[str], cwd: Path, name: str) -> None:
        self.stderr_path = cwd / f"{name}.stderr"
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=open(self.stderr_path, "wb"),
            text=True,
        )
        first: List[str] = []
        reader = threading.Thread(target=self._drain, args=(first,), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while not first and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.02)
        if not first or "listening on " not in first[0]:
            self.stop()
            pytest.fail(f"{name} did not start: {first} {self.stderr_path.read_text()}")
        addr = first[0].split("listening on ", 1)[1].split()[0]
        self.url = f"http://{addr}"

    def _drain(self, first: List[str]) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not first:
                first.append(line.strip())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Host]:
    host = Host(
        [
            str(GATEWAY),
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            f"sqlite://{tmp_path / 'gw.sqlite3'}",
        ],
        tmp_path,
        "gateway",
    )
    yield host
    host.stop()


def start_sidecar(tmp_path: Path, backends: List[Dict[str, Any]]) -> Host:
    config = {
        "ingest": {"flush_interval": 0.05},
        "backends": backends,
        "spool": {"path": str(tmp_path / "sidecar-spool"), "fsync": "batch"},
        "app": {"name": "wafermon-sidecar", "site_id": "sidecar-site"},
    }
    path = tmp_path / "sidecar.json"
    path.write_text(json.dumps(config))
    return Host(
        [str(SIDECAR), "--config", str(path), "--listen", "127.0.0.1:0"], tmp_path, "sidecar"
    )


def app_config(tmp_path: Path, site: str, **extra: Any) -> Dict[str, Any]:
    return {
        "app": {"name": "py-litho", "version": "3.0", "site_id": site, "instance_id": "py-1"},
        "spool": {"path": str(tmp_path / "app-spool")},
        "batch": {"flush_interval": 0.05},
        **extra,
    }


def run_lots(lots: int = 3, wafers: int = 2) -> List[str]:
    ids = []
    for lot in range(lots):
        with wafermon.job("expose-lot", key=f"LOT{lot}") as job:
            for w in range(wafers):
                try:
                    with job.subjob("wafer", key=f"W{w}") as wafer:
                        wafer.progress(50)
                        if lot == lots - 1 and w == wafers - 1:
                            raise RuntimeError("reticle misaligned")
                except RuntimeError:
                    pass
            job.progress(100)
            ids.append(job.id)
    return ids


def test_python_through_sidecar_to_files(tmp_path: Path) -> None:
    sidecar = start_sidecar(
        tmp_path, [{"type": "filesystem", "name": "files", "path": str(tmp_path / "out")}]
    )
    try:
        wafermon.init(app_config(tmp_path, "fab-py", mode="sidecar", sidecar={"url": sidecar.url}))
        run_lots()
        assert wafermon.flush(timeout=30)
        stats = wafermon.shutdown()
        assert stats is not None and stats["backends"][0]["sent"] == stats["emitted"] == 3 * (
            3 + 2 * 3
        )
        # Old applications through the same sidecar, with the compat layer.
        emitter = SidecarEmitter(base_url=sidecar.url)
        old_application(emitter)
        assert emitter.flush(30)
        deadline = time.monotonic() + PATIENCE
        while True:
            events = read_events(tmp_path / "out")
            if len(events) >= 27 + 11 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        sidecar.stop()
    mine = [e for e in events if e["site"] == "fab-py"]
    assert len(mine) == 27 and len({e["id"] for e in mine}) == 27
    assert {e["app"]["name"] for e in mine} == {"py-litho"}
    check_old_application([e for e in events if e["site"] == "fab7"])


def test_python_through_sidecar_to_gateway(tmp_path: Path, gateway: Host) -> None:
    sidecar = start_sidecar(
        tmp_path,
        [
            {
                "type": "managed_api",
                "name": "gateway",
                "url": gateway.url,
                "timeout": 5,
                "retries": 1,
            }
        ],
    )
    site = f"py-{uuid.uuid4().hex[:8]}"
    try:
        wafermon.init(app_config(tmp_path, site, mode="sidecar", sidecar={"url": sidecar.url}))
        lot_ids = run_lots()
        assert wafermon.flush(timeout=30)
        wafermon.shutdown()
        deadline = time.monotonic() + PATIENCE
        while True:
            jobs = get(f"{gateway.url}/v1/jobs?site={site}&kind=job")["jobs"]
            if len(jobs) == 3 and all(j["status"] != "running" for j in jobs):
                break
            assert time.monotonic() < deadline, f"jobs so far: {jobs}"
            time.sleep(0.2)
    finally:
        sidecar.stop()
    status = {j["id"]: j["status"] for j in jobs}
    assert [status[i] for i in lot_ids] == ["succeeded", "succeeded", "succeeded"]
    detail = get(f"{gateway.url}/v1/jobs/{lot_ids[-1]}")
    subtree = detail["subtree"]
    assert len(subtree) == 2
    assert sorted(s["status"] for s in subtree) == ["failed", "succeeded"]
    assert [e["kind"] for e in detail["events"]] == ["started", "progress", "finished"]


def test_python_directly_to_the_gateway(tmp_path: Path, gateway: Host) -> None:
    site = f"py-{uuid.uuid4().hex[:8]}"
    wafermon.init(
        app_config(tmp_path, site, direct_backends=[{"type": "managed_api", "url": gateway.url}])
    )
    (lot,) = run_lots(lots=1, wafers=3)
    assert wafermon.flush(timeout=30)
    wafermon.shutdown()
    detail = get(f"{gateway.url}/v1/jobs/{lot}")
    assert len(detail["subtree"]) == 3
    job = detail["job"]
    assert (job["status"], job["site"], job["name"], job["key"]) == (
        "succeeded",
        site,
        "expose-lot",
        "LOT0",
    )
    assert job["duration_s"] is not None and job["max_rss_bytes"] > 0
    failed = [s for s in detail["subtree"] if s["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["message"] == "RuntimeError: reticle misaligned"


def test_what_a_dead_sidecar_missed_is_delivered_by_the_next_run(tmp_path: Path) -> None:
    from test_failures import _dead_port, run_script

    base = app_config(tmp_path, "fab-restart")
    run_script(
        tmp_path,
        {**base, "mode": "sidecar", "sidecar": {"url": f"http://127.0.0.1:{_dead_port()}"}},
    )
    assert any((tmp_path / "app-spool").rglob("*.seg"))
    sidecar = start_sidecar(
        tmp_path, [{"type": "filesystem", "name": "files", "path": str(tmp_path / "out")}]
    )
    try:
        run_script(tmp_path, {**base, "mode": "sidecar", "sidecar": {"url": sidecar.url}})
        deadline = time.monotonic() + PATIENCE
        while len(read_events(tmp_path / "out")) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sidecar.stop()
    events = read_events(tmp_path / "out")
    assert len(events) == 6 and len({e["id"] for e in events}) == 6
    assert sorted(e["kind"] for e in events) == [
        "finished",
        "finished",
        "heartbeat",
        "heartbeat",
        "started",
        "started",
    ]


LEGACY_REQUESTS = json.loads(
    (Path(__file__).resolve().parents[2] / "core/conformance/legacy_requests.json").read_text()
)


def _msgpack(value: Any) -> bytes:
    """The few MessagePack types a JSON value needs (the conformance bodies are small)."""
    import struct

    if value is None:
        return b"\xc0"
    if value is True or value is False:
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        if 0 <= value < 128:
            return bytes([value])
        return b"\xd3" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode()
        return b"\xdb" + struct.pack(">I", len(data)) + data
    if isinstance(value, list):
        return b"\xdd" + struct.pack(">I", len(value)) + b"".join(_msgpack(v) for v in value)
    if isinstance(value, dict):
        return (
            b"\xdf"
            + struct.pack(">I", len(value))
            + b"".join(_msgpack(k) + _msgpack(v) for k, v in value.items())
        )
    raise TypeError(f"no MessagePack for {type(value)}")


def _matches(want: Any, got: Any) -> bool:
    """`want` holds in `got` as core/conformance/README.md says (objects may hold more keys)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(
            k in got and _matches(v, got[k]) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(want) == len(got)
            and all(_matches(a, b) for a, b in zip(want, got))
        )
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return float(want) == float(got)
    return bool(want == got)


def test_legacy_request_shapes_get_the_conformance_answers(tmp_path: Path) -> None:
    """core/conformance/legacy_requests.json against the real sidecar, as the Rust runner."""
    sidecar = start_sidecar(
        tmp_path, [{"type": "filesystem", "name": "files", "path": str(tmp_path / "out")}]
    )
    try:
        assert len(LEGACY_REQUESTS) >= 10
        for case in LEGACY_REQUESTS:
            name = case["name"]
            content_type = case.get("content_type")
            data = None
            if content_type == "application/msgpack":
                data = _msgpack(case["body"])
            elif content_type is not None:
                data = json.dumps(case["body"]).encode()
            request = urllib.request.Request(
                sidecar.url + case["path"], data=data, method=case["method"]
            )
            if content_type is not None:
                request.add_header("Content-Type", content_type)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, text = response.status, response.read()
            except urllib.error.HTTPError as e:
                status, text = e.code, e.read()
            answer = json.loads(text)
            assert status == case["status"], (name, status, answer)
            assert _matches(case["answer"], answer), (name, answer)
            for key in case.get("present", []):
                assert key in answer, (name, key, answer)
            for key in case.get("absent", []):
                assert key not in answer, (name, key, answer)
    finally:
        sidecar.stop()
