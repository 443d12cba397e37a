package io.wafermon.logback;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.wafermon.Config;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Test helpers: a client config writing JSONL into a folder, and the log events read back. */
final class Jsonl {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Jsonl() {}

    /** Direct to JSONL files under {@code dir/data}, the spool in {@code dir/spool}. */
    static Config filesConfig(Path dir) {
        return Config.builder()
                .app("logback-test")
                .site("fab-test")
                .filesystem(dir.resolve("data"))
                .spool(dir.resolve("spool"))
                .set("batch.flush_interval", 0.05)
                .build();
    }

    /** Every log event written under {@code dir}, in the order they were emitted (seq). */
    static List<JsonNode> logs(Path dir) {
        if (!Files.exists(dir.resolve("data"))) {
            return new ArrayList<>();
        }
        try (Stream<Path> files = Files.walk(dir.resolve("data"))) {
            List<JsonNode> out = new ArrayList<>();
            for (Path file : files.filter(p -> p.toString().endsWith(".jsonl")).collect(Collectors.toList())) {
                for (String line : Files.readAllLines(file)) {
                    if (!line.isEmpty()) {
                        out.add(JSON.readTree(line));
                    }
                }
            }
            out.sort(Comparator.comparingLong(e -> e.get("seq").asLong()));
            return out.stream().filter(e -> e.get("kind").asText().equals("log")).collect(Collectors.toList());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One event as "entity kind/entity id level: message", the way the tests compare them. */
    static String describe(JsonNode event) {
        return event.at("/entity/kind").asText() + "/" + event.at("/entity/id").asText() + " "
                + event.get("level").asText() + ": " + event.get("message").asText();
    }

    static List<String> describeAll(List<JsonNode> events) {
        return events.stream().map(Jsonl::describe).collect(Collectors.toList());
    }
}
