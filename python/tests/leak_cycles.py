"""Init/close cycles of wafermon.Client in a process of its own (run by test_leaks.py):
prints the process's threads, open file descriptors and resident KiB after the warm-up
and at the end, as one JSON line."""

from __future__ import annotations

import gc
import json
import os
import sys

import wafermon


def footprint() -> dict:
    gc.collect()
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {
        "threads": len(os.listdir("/proc/self/task")),
        "fds": len(os.listdir("/proc/self/fd")) - 1,  # less the listing's own descriptor
        "rss_kib": rss,
    }


def cycle(config: dict, n: int) -> None:
    client = wafermon.Client(config)
    with client.job("leak-check", kind="lot", key=f"LOT-{n}"):
        client.emit({"kind": "heartbeat", "entity": {"kind": "tool", "id": "etch-1"}})
    stats = client.close(10.0)
    if (stats["emitted"], stats["dropped"]) != (3, 0):
        raise SystemExit(f"cycle {n}: {stats}")


def main() -> None:
    root, cycles = sys.argv[1], int(sys.argv[2])
    config = {
        "app": {"name": "leaks"},
        "direct_backends": [{"type": "filesystem", "path": f"{root}/data"}],
        "spool": {"path": f"{root}/spool"},
        "batch": {"flush_interval": 0.05},
    }
    warm_up = max(cycles // 10, 10)
    for n in range(warm_up):
        cycle(config, n)
    before = footprint()
    for n in range(warm_up, cycles):
        cycle(config, n)
    after = footprint()
    print(json.dumps({"cycles": cycles, "warm_up": warm_up, "before": before, "after": after}))


if __name__ == "__main__":
    main()
