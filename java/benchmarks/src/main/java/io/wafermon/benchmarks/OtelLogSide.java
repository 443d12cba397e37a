package io.wafermon.benchmarks;

import io.opentelemetry.api.logs.Logger;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.logs.SdkLoggerProvider;
import io.opentelemetry.sdk.logs.data.LogRecordData;
import io.opentelemetry.sdk.logs.export.BatchLogRecordProcessor;
import io.opentelemetry.sdk.logs.export.LogRecordExporter;
import java.util.Collection;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * OpenTelemetry's SDK logger with a {@link BatchLogRecordProcessor} at its defaults (queue
 * 2048, batch 512, 1 s delay), exporting to an exporter that only counts the records: no
 * encoding and no I/O, so OpenTelemetry's figures here are a lower bound of what a real
 * exporter costs.
 */
@State(Scope.Benchmark)
public class OtelLogSide extends OtelSide {
    SdkLoggerProvider provider;
    Logger logger;

    public OtelLogSide() {
        super("io.opentelemetry.sdk.logs.export.BatchLogRecordProcessor",
                "BatchLogRecordProcessor defaults (queue 2048, batch 512, delay 1 s), counting exporter");
    }

    @Override
    void build() {
        provider = SdkLoggerProvider.builder()
                .addLogRecordProcessor(BatchLogRecordProcessor.builder(new Counting()).build())
                .build();
        logger = provider.get("wafermon-bench");
    }

    @Override
    CompletableResultCode shutdown() {
        return provider.shutdown();
    }

    private final class Counting implements LogRecordExporter {
        @Override
        public CompletableResultCode export(Collection<LogRecordData> logs) {
            exported.addAndGet(logs.size());
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
