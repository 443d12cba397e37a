"""Inspect one lot of 20 wafers in a multiprocessing pool, monitored by wafermon.

The lot is the parent job; each wafer is a subjob in a worker process, reporting progress,
a metric and log lines. The parent reports its progress as wafers complete. A wafer with a
scratch fails (its subjob is `failed`, the lot goes on). Every event of the parent and the
workers reaches the backend exactly once, whatever the start method.

    pip install ./python
    python examples/python/lot_inspection.py                      # JSONL under ./wafermon-data
    python examples/python/lot_inspection.py --start-method spawn --data-dir /tmp/wm
    python examples/python/lot_inspection.py --sidecar http://127.0.0.1:17000
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import multiprocessing
import sys
import time
from typing import Any, Dict, Tuple

import wafermon
import wafermon.logging

log = logging.getLogger("lot_inspection")

WAFERS = 20
SCRATCHED = {13}  # the wafer that fails inspection


class Scratch(Exception):
    pass


def inspect_wafer(lot: wafermon.JobRef, slot: int) -> Tuple[int, int]:
    """Runs in a worker process: one subjob per wafer, under the lot's job."""
    with lot.subjob(
        "inspect-wafer", kind="wafer", key=f"W{slot:02}", attrs={"slot": slot}
    ) as wafer:
        wafer.progress(0, "aligning")
        image = hashlib.sha256(f"wafer-{slot}".encode()).digest() * 20_000
        wafer.progress(50, "scanning")
        digest = hashlib.sha256(image).digest()  # stands for the image analysis
        defects = digest[0] % 7
        wafer.metric("defects", defects)
        if slot in SCRATCHED:
            log.error("scratch across the wafer at slot %d", slot)
            raise Scratch(f"scratch on W{slot:02}")
        if defects > 4:
            log.warning("W%02d: %d defects", slot, defects)
        wafer.progress(100, "done")
        return slot, defects


def safe_inspect(args: Tuple[wafermon.JobRef, int]) -> Tuple[int, Any]:
    try:
        return inspect_wafer(*args)
    except Scratch as e:
        return args[1], str(e)


def setup_logging() -> None:
    """Log records become log events of the current job (a forked worker inherits the
    parent's handler; spawned ones add their own)."""
    root = logging.getLogger()
    if not any(isinstance(h, wafermon.logging.Handler) for h in root.handlers):
        root.addHandler(wafermon.logging.Handler(logging.INFO))
    root.setLevel(logging.INFO)


def config(args: argparse.Namespace) -> Dict[str, Any]:
    cfg: Dict[str, Any] = {
        "app": {"name": "lot-inspection", "version": "1.0", "site_id": args.site}
    }
    if args.sidecar:
        cfg.update(mode="sidecar", sidecar={"url": args.sidecar})
    else:
        cfg["direct_backends"] = [{"type": "filesystem", "path": args.data_dir}]
        cfg["spool"] = {"path": f"{args.data_dir}/.spool"}
    return cfg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lot", default="LOT42")
    parser.add_argument("--site", default="fab1")
    parser.add_argument("--data-dir", default="./wafermon-data")
    parser.add_argument("--sidecar", help="send to a wafermon-sidecar at this URL instead")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--start-method", choices=multiprocessing.get_all_start_methods())
    args = parser.parse_args()

    wafermon.init(config(args))
    setup_logging()
    ctx = multiprocessing.get_context(args.start_method)
    started = time.monotonic()
    results: Dict[int, Any] = {}
    with wafermon.job("inspect-lot", kind="lot", key=args.lot, attrs={"wafers": WAFERS}) as lot:
        with ctx.Pool(args.workers, initializer=setup_logging) as pool:
            tasks = [(lot.ref(), slot) for slot in range(WAFERS)]
            for done, (slot, outcome) in enumerate(pool.imap_unordered(safe_inspect, tasks), 1):
                results[slot] = outcome
                lot.progress(100 * done / WAFERS, f"{done} of {WAFERS} wafers inspected")
        failed = sorted(s for s, o in results.items() if isinstance(o, str))
        lot.metric("wafers_failed", len(failed))
        lot.metric("defects_total", sum(o for o in results.values() if isinstance(o, int)))
        log.info("lot %s: %d wafers, %d failed", args.lot, WAFERS, len(failed))
    stats = wafermon.shutdown()
    assert stats is not None
    print(
        f"lot {args.lot}: {WAFERS} wafers in {time.monotonic() - started:.2f} s, "
        f"failed: {failed}; parent process events: {stats['emitted']}, "
        f"delivered: {sum(b['sent'] for b in stats['backends'])}"
    )
    print(f"events: {args.sidecar or args.data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
