package io.wafermon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Test helpers: the repository, clients writing JSONL into a folder, and reading it back. */
final class Events {
    static final ObjectMapper JSON = new ObjectMapper();

    private Events() {}

    static Path repo() {
        return Paths.get(System.getProperty("wafermon.repo", "..")).toAbsolutePath().normalize();
    }

    static Path conformance() {
        return repo().resolve("core/conformance");
    }

    /** A config writing JSONL under {@code dir/data} with its spool in {@code dir/spool}. */
    static Config filesConfig(Path dir) {
        return Config.exactly(Native.conformanceConfig(dir.toString(), "{}"));
    }

    /** Every event written under {@code dir} (JSONL files), sorted by seq. */
    static List<JsonNode> read(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            List<JsonNode> out = new ArrayList<>();
            for (Path file : files.filter(p -> p.toString().endsWith(".jsonl")).collect(Collectors.toList())) {
                for (String line : Files.readAllLines(file)) {
                    if (!line.isEmpty()) {
                        out.add(JSON.readTree(line));
                    }
                }
            }
            out.sort(Comparator.comparingLong(e -> e.get("seq").asLong()));
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<JsonNode> ofKind(List<JsonNode> events, String kind) {
        return events.stream().filter(e -> e.get("kind").asText().equals(kind)).collect(Collectors.toList());
    }
}
