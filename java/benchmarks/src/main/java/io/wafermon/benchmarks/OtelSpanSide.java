package io.wafermon.benchmarks;

import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * OpenTelemetry's SDK tracer (default sampler: every root span recorded) with a {@link
 * BatchSpanProcessor} at its defaults (queue 2048, batch 512, 5 s delay), exporting to an
 * exporter that only counts the spans (no encoding, no I/O).
 */
@State(Scope.Benchmark)
public class OtelSpanSide extends OtelSide {
    SdkTracerProvider provider;
    Tracer tracer;

    public OtelSpanSide() {
        super("io.opentelemetry.sdk.trace.export.BatchSpanProcessor",
                "BatchSpanProcessor defaults (queue 2048, batch 512, delay 5 s), counting exporter");
    }

    @Override
    void build() {
        provider = SdkTracerProvider.builder()
                .addSpanProcessor(BatchSpanProcessor.builder(new Counting()).build())
                .build();
        tracer = provider.get("wafermon-bench");
    }

    @Override
    CompletableResultCode shutdown() {
        return provider.shutdown();
    }

    private final class Counting implements SpanExporter {
        @Override
        public CompletableResultCode export(Collection<SpanData> spans) {
            exported.addAndGet(spans.size());
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
