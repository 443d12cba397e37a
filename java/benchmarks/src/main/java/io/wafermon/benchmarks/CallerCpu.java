package io.wafermon.benchmarks;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

/**
 * CPU time of the benchmark thread per operation over the measurement iterations. On a
 * shared machine the wall time per operation (JMH's score) also counts the time the thread
 * waited for a core; this counts only the time it ran, so it shows what a call costs the
 * caller when other processes (or the library's own background threads) compete for the
 * cores. Called from the states' iteration setup and teardown, which JMH runs on the
 * benchmark thread (one thread: {@code -t 1}).
 */
final class CallerCpu {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private boolean measuring;
    private long cpuAtStart;
    private long opsAtStart;
    private long cpuNanos;
    private long ops;

    void iterationStarts(IterationParams iteration, long opsSoFar) {
        measuring = iteration.getType() == IterationType.MEASUREMENT;
        cpuAtStart = THREADS.getCurrentThreadCpuTime();
        opsAtStart = opsSoFar;
    }

    void iterationEnds(long opsSoFar) {
        if (measuring) {
            cpuNanos += THREADS.getCurrentThreadCpuTime() - cpuAtStart;
            ops += opsSoFar - opsAtStart;
        }
    }

    /** CPU ns per operation of the measurement iterations, or NaN before any. */
    double nanosPerOp() {
        return ops == 0 ? Double.NaN : (double) cpuNanos / ops;
    }
}
