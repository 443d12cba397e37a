package io.wafermon.benchmarks;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Counts the events the filesystem backend wrote (one JSONL line each), independently of the
 * client's own counters, and deletes the files it has counted once the backend has rotated
 * past them, so a long run does not fill the disk: a benchmark writes gigabytes.
 *
 * <p>Files are {@code events-YYYY-MM-DD[.N].jsonl} (core/src/backends/filesystem/layout.rs):
 * the last in (day, N) order is the one the backend may still append to; it is counted from
 * where the last count stopped and kept.
 */
final class WrittenLines {
    private final Path root;
    private final Map<Path, Long> countedBytes = new HashMap<>();
    private long lines;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 20);

    WrittenLines(Path root) {
        this.root = root;
    }

    /** Lines counted so far. */
    long lines() {
        return lines;
    }

    /** Count what was appended since the last call; delete every file but the newest. */
    void countAndPrune() throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        List<Path> files;
        try (Stream<Path> walk = Files.walk(root)) {
            files = walk.filter(p -> p.getFileName().toString().endsWith(".jsonl"))
                    .sorted(Comparator.comparing(WrittenLines::order))
                    .collect(Collectors.toCollection(ArrayList::new));
        }
        for (int i = 0; i < files.size(); i++) {
            Path file = files.get(i);
            long from = countedBytes.getOrDefault(file, 0L);
            long[] counted = countNewlines(file, from);
            lines += counted[0];
            if (i < files.size() - 1) {
                Files.delete(file);
                countedBytes.remove(file);
            } else {
                countedBytes.put(file, from + counted[1]);
            }
        }
    }

    /** (day, index) of a file name, as a sortable string. */
    private static String order(Path file) {
        String name = file.getFileName().toString(); // events-2026-12-07[.N].jsonl
        String day = name.substring("events-".length(), "events-".length() + 10);
        String rest = name.substring("events-".length() + 10, name.length() - ".jsonl".length());
        long index = rest.isEmpty() ? 0 : Long.parseLong(rest.substring(1));
        return file.getParent() + "/" + day + String.format("%012d", index);
    }

    /** Newlines from byte {@code from} to the end, and the bytes read (a line still being
     * written has its newline counted by the next call). */
    private long[] countNewlines(Path file, long from) throws IOException {
        long newlines = 0;
        long read = 0;
        buf.clear();
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            in.position(from);
            int n;
            while ((n = in.read(buf)) > 0) {
                read += n;
                byte[] bytes = buf.array();
                for (int i = 0; i < n; i++) {
                    if (bytes[i] == '\n') {
                        newlines++;
                    }
                }
                buf.clear();
            }
        }
        return new long[] {newlines, read};
    }
}
