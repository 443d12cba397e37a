"""The cost of wafermon's emit and job block beside OpenTelemetry Python's log record and
span, in one run on one machine.

    pip install ./python opentelemetry-sdk
    python python/benches/bench_emit.py [--n 20000] [--rounds 15]

Each operation runs `rounds` times `n` calls back to back; the table gives the median and
the best round, per call. wafermon writes real JSONL files (filesystem backend in a
temporary folder) on its background thread; OpenTelemetry exports to an exporter that does
nothing (BatchLogRecordProcessor, BatchSpanProcessor). Every operation carries 4
attributes. "lost" is what did not come out at the other end: wafermon's `dropped`,
OpenTelemetry's records that never reached the exporter.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import wafermon
import wafermon.logging

ATTRS = {"lot": "LOT42", "slot": 7, "recipe": "R7-ETCH", "ok": True}
EVENT = {
    "kind": "log",
    "level": "info",
    "message": "wafer processed",
    "entity": {"kind": "tool", "id": "ETCH-01"},
    "attrs": ATTRS,
}


def measure(run: Callable[[int], None], n: int, rounds: int) -> Dict[str, float]:
    run(min(n, 2000))  # warm up
    per_call: List[float] = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        run(n)
        per_call.append((time.perf_counter() - start) / n * 1e6)
    return {"median_us": statistics.median(per_call), "best_us": min(per_call)}


def wafermon_ops(n: int, rounds: int, folder: str) -> Dict[str, Dict[str, Any]]:
    client = wafermon.init(
        {
            "app": {"name": "bench", "site_id": "bench"},
            "direct_backends": [{"type": "filesystem", "path": f"{folder}/data"}],
            "spool": {"path": f"{folder}/spool"},
        }
    )
    emit = wafermon.emit
    job = wafermon.job

    def emits(k: int) -> None:
        for _ in range(k):
            emit(EVENT)

    def jobs(k: int) -> None:
        for _ in range(k):
            with job("etch", attrs=ATTRS):
                pass

    def bare_jobs(k: int) -> None:
        for _ in range(k):
            with job("etch"):
                pass

    log = logging.getLogger("bench.wafermon")
    log.propagate = False
    log.addHandler(wafermon.logging.Handler())
    log.setLevel(logging.INFO)

    def logging_records(k: int) -> None:
        with job("etch"):
            for _ in range(k):
                log.info("wafer processed", extra=ATTRS)

    def progress(k: int) -> None:
        with job("etch") as j:
            p = j.progress
            for _ in range(k):
                p(50.0)

    results = {}
    for name, run in [
        ("wafermon emit (log event, 4 attrs)", emits),
        ("wafermon `with job(...)` (4 attrs)", jobs),
        ("wafermon `with job(...)` (no attrs)", bare_jobs),
        ("wafermon job.progress()", progress),
        ("wafermon logging.Handler record (in a job)", logging_records),
    ]:
        before = client.stats()
        result: Dict[str, Any] = measure(run, n, rounds)
        client.flush(60)
        after = client.stats()
        result["lost"] = after["dropped"] - before["dropped"]
        result["spilled"] = after["spilled"] - before["spilled"]
        results[name] = result
    stats = wafermon.shutdown(60)
    assert stats is not None and stats["queued"] == 0, stats
    return results


def otel_ops(n: int, rounds: int) -> Optional[Dict[str, Dict[str, Any]]]:
    try:
        from opentelemetry._logs import SeverityNumber
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import (
            BatchLogRecordProcessor,
            LogRecordExporter,
            LogRecordExportResult,
        )
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        return None

    class NoOpLogs(LogRecordExporter):
        exported = 0

        def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
            NoOpLogs.exported += len(batch)
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    class NoOpSpans(SpanExporter):
        exported = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            NoOpSpans.exported += len(spans)
            return SpanExportResult.SUCCESS

    logs = LoggerProvider()
    logs.add_log_record_processor(BatchLogRecordProcessor(NoOpLogs()))
    logger = logs.get_logger("bench")
    traces = TracerProvider()
    traces.add_span_processor(BatchSpanProcessor(NoOpSpans()))
    tracer = traces.get_tracer("bench")

    def log_records(k: int) -> None:
        for _ in range(k):
            logger.emit(
                body="wafer processed", severity_number=SeverityNumber.INFO, attributes=ATTRS
            )

    from opentelemetry.sdk._logs import LoggingHandler

    std = logging.getLogger("bench.otel")
    std.propagate = False
    std.addHandler(LoggingHandler(logger_provider=logs))
    std.setLevel(logging.INFO)

    def logging_records(k: int) -> None:
        for _ in range(k):
            std.info("wafer processed", extra=ATTRS)

    def spans(k: int) -> None:
        for _ in range(k):
            with tracer.start_as_current_span("etch", attributes=ATTRS):
                pass

    results = {}
    for name, run, exporter, flush in [
        (
            "OpenTelemetry log record (BatchLogRecordProcessor)",
            log_records,
            NoOpLogs,
            logs.force_flush,
        ),
        ("OpenTelemetry span start/end (BatchSpanProcessor)", spans, NoOpSpans, traces.force_flush),
        (
            "OpenTelemetry logging.LoggingHandler record",
            logging_records,
            NoOpLogs,
            logs.force_flush,
        ),
    ]:
        before = exporter.exported
        result: Dict[str, Any] = measure(run, n, rounds)
        flush()
        calls = min(n, 2000) + n * rounds
        result["lost"] = calls - (exporter.exported - before)
        results[name] = result
    logs.shutdown()
    traces.shutdown()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = wafermon_ops(args.n, args.rounds, folder)
    otel = otel_ops(args.n, args.rounds)
    if otel is None:
        print("opentelemetry-sdk is not installed: wafermon only", file=sys.stderr)
    else:
        results.update(otel)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"Python {sys.version.split()[0]}, wafermon {wafermon.__version__}, "
        f"{args.rounds} rounds x {args.n} calls"
    )
    print(f"{'operation':<55} {'median':>9} {'best':>9} {'lost':>8}")
    for name, r in results.items():
        print(f"{name:<55} {r['median_us']:>7.2f}us {r['best_us']:>7.2f}us {r['lost']:>8}")
    if otel is not None:
        log = otel["OpenTelemetry log record (BatchLogRecordProcessor)"]["median_us"]
        span = otel["OpenTelemetry span start/end (BatchSpanProcessor)"]["median_us"]
        emit = results["wafermon emit (log event, 4 attrs)"]["median_us"]
        block = results["wafermon `with job(...)` (4 attrs)"]["median_us"]
        print(
            f"emit is {log / emit:.1f}x cheaper than an OpenTelemetry log record; "
            f"a job block {span / block:.1f}x cheaper than a span"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
