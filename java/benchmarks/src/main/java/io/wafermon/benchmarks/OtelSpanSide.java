package io.wafermon.benchmarks;

import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;

/**
 * OpenTelemetry's SDK tracer (default sampler: every root span recorded) with a {@link
 * BatchSpanProcessor} at its defaults (queue 2048, batch 512, 5 s delay), exporting to an
 * exporter that only counts the spans (no encoding, no I/O). The teardown reports spans
 * started against spans exported.
 */
@State(Scope.Benchmark)
public class OtelSpanSide {
    SdkTracerProvider provider;
    Tracer tracer;
    final Counting exporter = new Counting();
    long emitted;
    private String benchmark;
    private final CallerCpu callerCpu = new CallerCpu();
    /** Held so its level stays set: the processor warns on every export that it dropped
     * records, which would flood the run's output; the teardown counts the drops instead. */
    private final java.util.logging.Logger processorLog = java.util.logging.Logger.getLogger("io.opentelemetry.sdk.trace.export.BatchSpanProcessor");

    @Setup(Level.Trial)
    public void open(BenchmarkParams params) {
        benchmark = Delivery.label(params);
        processorLog.setLevel(java.util.logging.Level.SEVERE);
        provider = SdkTracerProvider.builder()
                .addSpanProcessor(BatchSpanProcessor.builder(exporter).build())
                .build();
        tracer = provider.get("wafermon-bench");
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
        provider.shutdown().join(60, TimeUnit.SECONDS);
        long exported = exporter.spans.get();
        Delivery.report(benchmark, emitted, exported, emitted - exported, callerCpu.nanosPerOp(),
                "BatchSpanProcessor defaults (queue 2048, batch 512, delay 5 s), counting exporter");
    }

    static final class Counting implements SpanExporter {
        final AtomicLong spans = new AtomicLong();

        @Override
        public CompletableResultCode export(Collection<SpanData> batch) {
            spans.addAndGet(batch.size());
            return CompletableResultCode.ofSuccess();
        }

        @Override
        public CompletableResultCode flush() {
            return CompletableResultCode.ofSuccess();
        }

        @Override
        public CompletableResultCode shutdown() {
            return CompletableResultCode.ofSuccess();
        }
    }
}
