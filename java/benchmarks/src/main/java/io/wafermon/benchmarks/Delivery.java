package io.wafermon.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;

/**
 * What each side delivered of what its benchmark emitted, written by the states' trial
 * teardown (in the forked JVM) to the file {@link Compare} names in {@value #PROPERTY}, one
 * tab-separated line per benchmark: name, emitted, delivered, dropped, CPU ns per operation of
 * the benchmark thread ({@link CallerCpu}), detail.
 */
final class Delivery {
    static final String PROPERTY = "wafermon.bench.delivery";

    private Delivery() {}

    static void report(String benchmark, long emitted, long delivered, long dropped, double cpuNanosPerOp,
            String detail) {
        String line = benchmark + "\t" + emitted + "\t" + delivered + "\t" + dropped + "\t"
                + String.format("%.1f", cpuNanosPerOp) + "\t" + detail;
        System.out.println("delivery: " + line.replace('\t', ' '));
        String file = System.getProperty(PROPERTY);
        if (file == null) {
            return;
        }
        try {
            Files.write(Paths.get(file), (line + "\n").getBytes(StandardCharsets.UTF_8),
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The benchmark method a JMH state serves, from its params (for the report's name). */
    static String label(org.openjdk.jmh.infra.BenchmarkParams params) {
        String name = params.getBenchmark();
        return name.substring(name.lastIndexOf('.') + 1);
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (java.util.stream.Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
