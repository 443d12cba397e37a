package io.wafermon.benchmarks;

import io.wafermon.JobBuilder;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * Diagnostics, not part of the comparison (run.sh runs {@code HotPath} only unless told
 * otherwise): the Java side of a call without its native half, to tell how much of a
 * figure is Java's, and the JNI floor under the hot calls (native no-ops, {@link NoOp}).
 * {@code run.sh -f 1 -wi 3 -i 5 -w 1s -r 1s -prof gc 'JavaSide'}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class JavaSide {
    /** What {@code jobStartFinish4Attrs_wafermon} does in Java before {@code start()}. */
    @Benchmark
    public JobBuilder builder4Attrs(WafermonSide w) {
        return w.client.job("wafer").attr("recipe", "R7").attr("slot", 7L).attr("temp_c", 21.5).attr("rework", false);
    }

    /** A JNI call with a primitive argument into a native function that returns at once. */
    @Benchmark
    public void jniPrimitive() {
        NoOp.primitive(42L);
    }

    /** {@code job.progress(42.5, "coat")}'s JNI half without the core: the message's UTF-8 in a
     * reused buffer, GetArrayLength and GetByteArrayRegion onto the native stack. */
    @Benchmark
    public void jniProgressShape(Message m) {
        NoOp.progress(42L, 42.5, m.utf8, m.utf8Length);
    }

    @State(Scope.Thread)
    public static class Message {
        final byte[] utf8 = new byte[128];
        final int utf8Length = 4;

        public Message() {
            System.arraycopy("coat".getBytes(java.nio.charset.StandardCharsets.UTF_8), 0, utf8, 0, utf8Length);
        }
    }
}
