package io.wafermon.benchmarks;

import io.opentelemetry.api.logs.Severity;
import io.opentelemetry.api.trace.Span;
import io.wafermon.Job;
import io.wafermon.Level;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;

/**
 * Each wafermon call beside its OpenTelemetry counterpart. One benchmark thread; each
 * benchmark runs in its own fork with its own client or provider (see the states), so a
 * backlog one leaves behind cannot slow the next.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class HotPath {
    /** 40 characters, ASCII, as a typical equipment log line. */
    static final String MESSAGE_40 = "wafer 07 left the coater, thickness okay";

    @Benchmark
    public void progress_wafermon(WafermonSide w) {
        w.job.progress(42.5, "coat");
        w.ops++;
    }

    @Benchmark
    public void metric_wafermon(WafermonSide w) {
        w.job.metric("thickness_nm", 101.2);
        w.ops++;
    }

    @Benchmark
    public void log40_wafermon(WafermonSide w) {
        w.job.log(Level.INFO, MESSAGE_40);
        w.ops++;
    }

    /** The counterpart of progress, metric and log: a log record with a 40-character body. */
    @Benchmark
    public void logRecord40_otel(OtelLogSide o) {
        o.logger.logRecordBuilder().setSeverity(Severity.INFO).setBody(MESSAGE_40).emit();
        o.emitted++;
    }

    /** A job with 4 attributes (string, long, double, boolean) started and finished. */
    @Benchmark
    public void jobStartFinish4Attrs_wafermon(WafermonSide w) {
        try (Job wafer = w.client.job("wafer").attr("recipe", "R7").attr("slot", 7L)
                .attr("temp_c", 21.5).attr("rework", false).start()) {
            wafer.finish();
        }
        w.ops++;
    }

    /** The counterpart: a span with the same 4 attributes, started and ended. */
    @Benchmark
    public void span4Attrs_otel(OtelSpanSide o) {
        Span span = o.tracer.spanBuilder("wafer").setAttribute("recipe", "R7").setAttribute("slot", 7L)
                .setAttribute("temp_c", 21.5).setAttribute("rework", false).startSpan();
        span.end();
        o.emitted++;
    }
}
