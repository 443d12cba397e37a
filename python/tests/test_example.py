"""examples/python/lot_inspection.py runs, and its events are what it says (every start
method): the lot, 20 wafer subjobs under it with their progress, metrics and logs, one
failed wafer, each event exactly once."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from helpers import read_events

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "lot_inspection.py"


@pytest.mark.parametrize("method", multiprocessing.get_all_start_methods())
def test_lot_inspection(method: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), "--start-method", method, "--data-dir", str(data)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "failed: [13]" in run.stdout
    events = read_events(data)
    assert len({e["id"] for e in events}) == len(events)
    (lot,) = [e for e in events if e["entity"]["kind"] == "lot" and e["kind"] == "started"]
    lot_id = lot["entity"]["id"]
    assert lot["entity"]["key"] == "LOT42" and lot["attrs"] == {"wafers": 20}
    lot_events = [e for e in events if e["entity"]["id"] == lot_id]
    kinds = Counter(e["kind"] for e in lot_events)
    assert kinds == {"started": 1, "progress": 20, "metric": 2, "log": 1, "finished": 1}
    progress = [e["progress"] for e in lot_events if e["kind"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 100
    wafers = [e for e in events if e["entity"]["kind"] == "wafer"]
    assert {e["entity"]["parent"] for e in wafers} == {lot_id}
    by_wafer = {}
    for e in wafers:
        by_wafer.setdefault(e["entity"]["key"], []).append(e)
    assert sorted(by_wafer) == [f"W{n:02}" for n in range(20)]
    for key, evs in by_wafer.items():
        kinds = Counter(e["kind"] for e in evs)
        assert kinds["started"] == 1 and kinds["metric"] == 1, key
        if key == "W13":
            assert kinds["failed"] == 1 and kinds["progress"] == 2
            (failed,) = [e for e in evs if e["kind"] == "failed"]
            assert failed["message"] == "Scratch: scratch on W13"
            assert any(e["kind"] == "log" and e["level"] == "error" for e in evs)
        else:
            assert kinds["finished"] == 1 and kinds["progress"] == 3, key
