package io.wafermon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
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

    /** {@link #filesConfig(Path)} with {@code extraJson} merged one level deep (the conformance runner's rule). */
    static Config filesConfig(Path dir, String extraJson) {
        return Config.exactly(Native.conformanceConfig(dir.toString(), extraJson));
    }

    /**
     * Every event written under {@code dir}, one at a time and in file order (not sorted), so
     * that millions of events never sit in memory together.
     */
    static void forEach(Path dir, Consumer<JsonNode> each) {
        List<Path> jsonl;
        try (Stream<Path> files = Files.walk(dir)) {
            jsonl = files.filter(p -> p.toString().endsWith(".jsonl")).sorted().collect(Collectors.toList());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (Path file : jsonl) {
            try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (!line.isEmpty()) {
                        each.accept(JSON.readTree(line));
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(file.toString(), e);
            }
        }
    }

    /**
     * The "drop" of the conformance vectors: let go of a running job without an ending, as
     * the core's {@code JobHandle::release} does for a running job (one {@code canceled} event,
     * "dropped without finish", then the handle is stale). The Java API has no such call (a
     * {@code Job} is closed or collected instead), so this calls the core's release directly.
     */
    static void release(Job job) {
        if (!Native.jobRelease(job.handle)) {
            throw new AssertionError(job + " was not a live job");
        }
    }

    /** Equal as JSON values, numbers by value ({@code 50} equals {@code 50.0}). */
    static boolean sameJson(JsonNode a, JsonNode b) {
        if (a.isNumber() && b.isNumber()) {
            return a.decimalValue().compareTo(b.decimalValue()) == 0;
        }
        if (a.isObject() && b.isObject()) {
            if (a.size() != b.size()) {
                return false;
            }
            for (Map.Entry<String, JsonNode> field : a.properties()) {
                JsonNode other = b.get(field.getKey());
                if (other == null || !sameJson(field.getValue(), other)) {
                    return false;
                }
            }
            return true;
        }
        if (a.isArray() && b.isArray()) {
            if (a.size() != b.size()) {
                return false;
            }
            for (int i = 0; i < a.size(); i++) {
                if (!sameJson(a.get(i), b.get(i))) {
                    return false;
                }
            }
            return true;
        }
        return a.equals(b);
    }
}
