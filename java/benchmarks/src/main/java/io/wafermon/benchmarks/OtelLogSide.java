package io.wafermon.benchmarks;

import io.opentelemetry.api.logs.Logger;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.logs.SdkLoggerProvider;
import io.opentelemetry.sdk.logs.data.LogRecordData;
import io.opentelemetry.sdk.logs.export.BatchLogRecordProcessor;
import io.opentelemetry.sdk.logs.export.LogRecordExporter;
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
 * OpenTelemetry's SDK logger with a {@link BatchLogRecordProcessor} at its defaults (queue
 * 2048, batch 512, 1 s delay), exporting to an exporter that only counts the records: no
 * encoding and no I/O, so OpenTelemetry's figures here are a lower bound of what a real
 * exporter costs. The teardown shuts the provider down (exporting what is queued) and
 * reports emitted against exported; the difference is what the processor dropped because
 * its queue was full.
 */
@State(Scope.Benchmark)
public class OtelLogSide {
    SdkLoggerProvider provider;
    Logger logger;
    final Counting exporter = new Counting();
    long emitted;
    private String benchmark;
    private final CallerCpu callerCpu = new CallerCpu();
    /** Held so its level stays set: the processor warns on every export that it dropped
     * records, which would flood the run's output; the teardown counts the drops instead. */
    private final java.util.logging.Logger processorLog = java.util.logging.Logger.getLogger("io.opentelemetry.sdk.logs.export.BatchLogRecordProcessor");

    @Setup(Level.Trial)
    public void open(BenchmarkParams params) {
        benchmark = Delivery.label(params);
        processorLog.setLevel(java.util.logging.Level.SEVERE);
        provider = SdkLoggerProvider.builder()
                .addLogRecordProcessor(BatchLogRecordProcessor.builder(exporter).build())
                .build();
        logger = provider.get("wafermon-bench");
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
        long exported = exporter.records.get();
        Delivery.report(benchmark, emitted, exported, emitted - exported, callerCpu.nanosPerOp(),
                "BatchLogRecordProcessor defaults (queue 2048, batch 512, delay 1 s), counting exporter");
    }

    static final class Counting implements LogRecordExporter {
        final AtomicLong records = new AtomicLong();

        @Override
        public CompletableResultCode export(Collection<LogRecordData> logs) {
            records.addAndGet(logs.size());
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
