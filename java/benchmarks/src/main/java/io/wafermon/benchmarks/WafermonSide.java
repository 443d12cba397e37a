package io.wafermon.benchmarks;

import io.wafermon.Client;
import io.wafermon.Config;
import io.wafermon.Job;
import io.wafermon.Stats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;

/**
 * A wafermon client as an application runs it by default: direct mode, the filesystem
 * backend writing JSONL files (into a temp dir here), default batching, {@code on_full:
 * spill} (the default). Two settings differ from the defaults, so that one measurement
 * iteration is a burst the client absorbs without spilling to disk: the queue holds
 * {@value #QUEUE_BYTES} bytes (default 64 MiB) and the spool may grow to {@value #SPOOL_MB}
 * MB (default 256) should it spill anyway.
 *
 * <p>A tight JMH loop emits several million events a second, several times what the
 * filesystem backend writes (it encodes JSON and appends, on the other core); so after each
 * iteration, outside the measurement, the teardown waits until the backend has written the
 * backlog (reporting how fast it did), counts the lines written and deletes finished files.
 * The trial's teardown closes the client and reports the events asked for against the lines
 * in the files, with the client's own counters beside them.
 *
 * <p>The counters assume one benchmark thread ({@code -t 1}, as {@code run.sh} runs it).
 */
@State(Scope.Benchmark)
public class WafermonSide {
    static final long QUEUE_BYTES = 2L << 30;
    static final long SPOOL_MB = 16L << 10;

    Path dir;
    Client client;
    /** An open job for the hot calls (started and finished outside the measurement). */
    Job job;
    /** Operations of the benchmark method (each increments it once). */
    long ops;
    /** Events one operation records: 2 for a job's start and finish, 1 for the hot calls. */
    private long eventsPerOp;
    private String benchmark;
    private final CallerCpu callerCpu = new CallerCpu();
    private WrittenLines written;
    private long drainedEvents;
    private double drainSeconds;

    @Setup(Level.Trial)
    public void open(BenchmarkParams params) throws IOException {
        benchmark = Delivery.label(params);
        eventsPerOp = benchmark.startsWith("jobStartFinish") ? 2 : 1;
        dir = Files.createTempDirectory("wafermon-bench");
        written = new WrittenLines(dir.resolve("events"));
        Config config = Config.builder()
                .app("wafermon-bench")
                .site("bench")
                .filesystem(dir.resolve("events"))
                .spool(dir.resolve("spool"))
                .set("queue.capacity_bytes", QUEUE_BYTES)
                .set("queue.on_full", "spill")
                .set("spool.max_size_mb", SPOOL_MB)
                .build();
        client = new Client(config);
        job = client.job("lot-dispatch").kind("lot").key("LOT-1").root().start();
    }

    @Setup(Level.Iteration)
    public void iterationStarts(IterationParams iteration) {
        callerCpu.iterationStarts(iteration, ops);
    }

    @TearDown(Level.Iteration)
    public void drain() throws IOException {
        callerCpu.iterationEnds(ops);
        long backlog = client.stats().pending();
        long began = System.nanoTime();
        if (!client.flush(Duration.ofMinutes(10))) {
            throw new IllegalStateException("the backend did not write the backlog within 10 minutes");
        }
        drainSeconds += (System.nanoTime() - began) / 1e9;
        drainedEvents += backlog;
        written.countAndPrune();
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
        job.finish();
        long asked = ops * eventsPerOp + 2; // and the open job's started and finished
        Stats stats = client.close(Duration.ofMinutes(10));
        written.countAndPrune();
        long lines = written.lines();
        long sent = 0;
        long backendLost = 0;
        for (Stats.Backend b : stats.backends()) {
            sent += b.sent();
            backendLost += b.dropped() + b.failed();
        }
        String detail = String.format("client: emitted=%d sent=%d spilled=%d dropped=%d backend-dropped+failed=%d"
                + " pending=%d; backend wrote %.2f M events/s while draining", stats.emitted(), sent, stats.spilled(),
                stats.dropped(), backendLost, stats.pending(),
                drainSeconds > 0 ? drainedEvents / drainSeconds / 1e6 : Double.NaN);
        Delivery.report(benchmark, asked, lines, asked - lines, callerCpu.nanosPerOp(), detail);
        Delivery.deleteTree(dir);
    }
}
