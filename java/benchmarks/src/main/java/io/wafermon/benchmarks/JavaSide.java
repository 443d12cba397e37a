package io.wafermon.benchmarks;

import io.wafermon.JobBuilder;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;

/**
 * Diagnostics, not part of the comparison (run.sh runs {@code HotPath} only unless told
 * otherwise): the Java side of a call without its native half, to tell how much of a
 * figure is Java's. {@code run.sh -f 1 -wi 3 -i 5 -w 1s -r 1s -prof gc 'JavaSide'}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class JavaSide {
    /** What {@code jobStartFinish4Attrs_wafermon} does in Java before {@code start()}. */
    @Benchmark
    public JobBuilder builder4Attrs(WafermonSide w) {
        return w.client.job("wafer").attr("recipe", "R7").attr("slot", 7L).attr("temp_c", 21.5).attr("rework", false);
    }
}
