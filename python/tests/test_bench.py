"""The benchmark script runs (a few calls only: the figures come from running it alone)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benches" / "bench_emit.py"


def test_the_benchmark_runs(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--n", "300", "--rounds", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "wafermon emit (log event, 4 attrs)" in run.stdout
    assert "wafermon `with job(...)` (4 attrs)" in run.stdout
