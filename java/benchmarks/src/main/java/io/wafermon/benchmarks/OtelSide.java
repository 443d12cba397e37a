package io.wafermon.benchmarks;

import io.opentelemetry.sdk.common.CompletableResultCode;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;

/**
 * What both OpenTelemetry states share: a provider with a batch processor at its defaults
 * exporting to an exporter that only counts ({@link #exported}: no encoding, no I/O), the
 * caller's CPU per operation, and a teardown that shuts the provider down (exporting what is
 * queued) and reports emitted against exported; the difference is what the processor dropped
 * because its queue was full.
 */
abstract class OtelSide {
    /** Operations of the benchmark method (each emits one record or span). */
    long emitted;
    /** Records or spans the counting exporter received. */
    final AtomicLong exported = new AtomicLong();
    private String benchmark;
    private final CallerCpu callerCpu = new CallerCpu();
    /** Held so its level stays set: the processor warns on every export that it dropped
     * records, which would flood the run's output; the teardown counts the drops instead. */
    private final java.util.logging.Logger processorLog;
    private final String detail;

    OtelSide(String processorClass, String detail) {
        this.processorLog = java.util.logging.Logger.getLogger(processorClass);
        this.detail = detail;
    }

    /** Build the provider and what the benchmark methods use from it. */
    abstract void build();

    /** Shut the provider down, exporting what is queued. */
    abstract CompletableResultCode shutdown();

    @Setup(Level.Trial)
    public void open(BenchmarkParams params) {
        benchmark = Delivery.label(params);
        processorLog.setLevel(java.util.logging.Level.SEVERE);
        build();
    }

    @Setup(Level.Iteration)
    public void iterationStarts(IterationParams iteration) {
        callerCpu.iterationStarts(iteration, emitted);
    }

    @TearDown(Level.Iteration)
    public void iterationEnds() {
        callerCpu.iterationEnds(emitted);
    }

    @TearDown(Level.Trial)
    public void close() {
        shutdown().join(60, TimeUnit.SECONDS);
        long got = exported.get();
        Delivery.report(benchmark, emitted, got, emitted - got, callerCpu.nanosPerOp(), detail);
    }
}
