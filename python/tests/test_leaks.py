"""Init/close cycles leave nothing behind: after WAFERMON_LEAK_CYCLES (default 1,000; the
issue's figure is 10,000) clients made, used and closed in turn in a fresh process, its
threads and open files are what they were after the warm-up, and its resident memory grew
only by allocator slack. The counts are printed (pytest -s shows them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
# Read at import: every test starts with the WAFERMON_* variables removed (conftest.py).
CYCLES = int(os.environ.get("WAFERMON_LEAK_CYCLES", "1000"))


def test_init_close_cycles_leave_threads_files_and_memory_flat(tmp_path: Path) -> None:
    cycles = CYCLES
    done = subprocess.run(
        [sys.executable, str(HERE / "leak_cycles.py"), str(tmp_path), str(cycles)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    before, after = report["before"], report["after"]
    print(
        f"python: {cycles} init/close cycles: threads {before['threads']} -> {after['threads']}, "
        f"open fds {before['fds']} -> {after['fds']}, "
        f"RSS {before['rss_kib']} -> {after['rss_kib']} KiB "
        f"(counted after {report['warm_up']} warm-up cycles)"
    )
    assert after["threads"] == before["threads"], "threads left running"
    assert after["fds"] == before["fds"], "files or sockets left open"
    # As generous as the Rust and C checks: only a leak of KBs per cycle shows.
    assert after["rss_kib"] - before["rss_kib"] < 8 * 1024, report
