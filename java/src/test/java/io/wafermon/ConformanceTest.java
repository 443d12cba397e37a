package io.wafermon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The shared conformance vectors (core/conformance, format in its README) through the Java
 * API: the same files as the Rust, C and Python suites. This class only runs each step through
 * the API; checking errors and the written events is the core's ({@code
 * wafermon::skin::conformance}, reached through {@code Native.conformance*}), as for every skin.
 * Every event written and every accepted config also validates against core/schema ({@link
 * Schemas}).
 */
class ConformanceTest {
    static JsonNode load(String name) {
        try {
            return Events.JSON.readTree(Events.conformance().resolve(name).toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<JsonNode> elements(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).collect(Collectors.toList());
    }

    /** Each case of a vector file as a named argument (the test's name is the case's). */
    static Stream<Arguments> cases(String file) {
        return elements(load(file)).stream().map(c -> Arguments.of(Named.of(c.get("name").asText(), c)));
    }

    /**
     * The core's check of an error (its kind, and its path in the message), plus Java's rule:
     * invalid input is an IllegalArgumentException, a closed client or ended job an
     * IllegalStateException.
     */
    static void checkError(RuntimeException e, JsonNode expected) {
        WafermonError error = assertInstanceOf(WafermonError.class, e, () -> "not a wafermon error: " + e);
        Native.conformanceCheckError(error.kind(), e.getMessage(), expected.toString());
        switch (error.kind()) {
            case "invalid_config":
            case "invalid_event":
            case "invalid_argument":
                assertInstanceOf(IllegalArgumentException.class, e);
                break;
            case "closed":
                assertInstanceOf(IllegalStateException.class, e);
                break;
            default:
                break;
        }
    }

    // ---- scenarios/*.json ----

    static Stream<Arguments> scenarios() throws IOException {
        try (Stream<Path> files = Files.list(Events.conformance().resolve("scenarios"))) {
            List<Path> sorted = files.filter(p -> p.toString().endsWith(".json")).sorted().collect(Collectors.toList());
            assertFalse(sorted.isEmpty(), "no scenarios in " + Events.conformance());
            return sorted.stream().map(p -> Arguments.of(
                    Named.of(p.getFileName().toString().replaceFirst("\\.json$", ""), p)));
        }
    }

    /** What a scenario's steps started: the open jobs by alias, and (alias, entity id) in start order. */
    static final class Run {
        final Client client;
        final Map<String, Job> jobs = new HashMap<>();
        final List<String> aliases = new ArrayList<>();
        final List<String> ids = new ArrayList<>();

        Run(Client client) {
            this.client = client;
        }

        Job job(JsonNode step) {
            String alias = step.get("job").asText();
            Job job = jobs.get(alias);
            assertNotNull(job, "no open job " + alias);
            return job;
        }

        Job ended(JsonNode step) {
            Job job = job(step);
            jobs.remove(step.get("job").asText());
            return job;
        }

        void step(JsonNode step) {
            String op = step.get("op").asText();
            switch (op) {
                case "job_start":
                case "subjob_start": {
                    JobBuilder spec = op.equals("job_start")
                            ? client.job(step.get("name").asText()).root()
                            : jobs.get(step.get("parent").asText()).subjob(step.get("name").asText());
                    if (step.has("kind")) {
                        spec.kind(step.get("kind").asText());
                    }
                    if (step.has("key")) {
                        spec.key(step.get("key").asText());
                    }
                    if (step.has("id")) {
                        spec.id(step.get("id").asText());
                    }
                    if (step.has("attrs")) {
                        for (Map.Entry<String, JsonNode> attr : step.get("attrs").properties()) {
                            attr(spec, attr.getKey(), attr.getValue());
                        }
                    }
                    Job job = spec.start();
                    String alias = step.get("as").asText();
                    jobs.put(alias, job);
                    aliases.add(alias);
                    ids.add(job.id());
                    break;
                }
                case "progress":
                    job(step).progress(step.get("percent").asDouble(),
                            step.has("message") ? step.get("message").asText() : null);
                    break;
                case "metric":
                    job(step).metric(step.get("name").asText(), step.get("value").asDouble());
                    break;
                case "log":
                    job(step).log(Level.valueOf(step.get("level").asText().toUpperCase(Locale.ROOT)),
                            step.get("message").asText());
                    break;
                case "finish":
                    ended(step).finish();
                    break;
                case "fail":
                    ended(step).fail(step.get("message").asText());
                    break;
                case "cancel":
                    ended(step).cancel(step.get("message").asText());
                    break;
                case "drop":
                    Events.release(ended(step));
                    break;
                case "emit": {
                    JsonNode event = step.get("event");
                    client.emitJson(event.isTextual() ? event.asText() : event.toString());
                    break;
                }
                default:
                    fail("unknown op " + op);
            }
        }

        static void attr(JobBuilder spec, String name, JsonNode value) {
            if (value.isTextual()) {
                spec.attr(name, value.asText());
            } else if (value.isBoolean()) {
                spec.attr(name, value.asBoolean());
            } else if (value.isIntegralNumber() && value.canConvertToLong()) {
                spec.attr(name, value.asLong());
            } else if (value.isNumber()) {
                spec.attr(name, value.asDouble());
            } else {
                fail("attr " + name + ": no Java attr for " + value);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("scenarios")
    void scenario(Path file, @TempDir Path dir) throws IOException {
        JsonNode scenario = Events.JSON.readTree(file.toFile());
        String name = scenario.get("name").asText();
        Config config = Config.exactly(Native.conformanceConfig(dir.toString(), scenario.get("config").toString()));
        Run run = new Run(new Client(config));
        List<JsonNode> steps = elements(scenario.get("steps"));
        for (int i = 0; i < steps.size(); i++) {
            JsonNode step = steps.get(i);
            RuntimeException error = null;
            try {
                run.step(step);
            } catch (RuntimeException e) {
                error = e;
            }
            if (step.has("error")) {
                assertNotNull(error, name + ": step " + i + " should have failed: " + step);
                checkError(error, step.get("error"));
            } else if (error != null) {
                throw new AssertionError(name + ": step " + i + " failed: " + step, error);
            }
        }
        assertTrue(run.jobs.isEmpty(), name + ": jobs left open by the vector: " + run.jobs.keySet());
        Stats stats = run.client.close(Duration.ofSeconds(10));
        assertEquals(0, stats.pending(), stats.toString());
        assertEquals(0, stats.dropped(), stats.toString());
        Native.conformanceCheckEvents(dir.resolve("data").toString(), scenario.get("expect").toString(),
                run.aliases.toArray(new String[0]), run.ids.toArray(new String[0]));
        for (JsonNode event : Events.read(dir.resolve("data"))) {
            Schemas.check(Schemas.EVENT, event);
        }
    }

    @Test
    void thereAreVectors() {
        assertTrue(load("config_cases.json").size() > 10);
        assertTrue(load("event_cases.json").size() > 10);
        assertTrue(load("legacy_cases.json").size() >= 12);
    }

    @Test
    void aFailedCheckSaysWhatDiffers(@TempDir Path dir) {
        AssertionError wrongPath = assertThrows(AssertionError.class, () -> Native.conformanceCheckError(
                "invalid_event", "invalid event at seq: x", "{\"path\": \"progress\"}"));
        assertTrue(wrongPath.getMessage().contains("should name progress"), wrongPath.getMessage());
        AssertionError missing = assertThrows(AssertionError.class,
                () -> Native.conformanceCheckEvents(dir.toString(), "[{}]", new String[0], new String[0]));
        assertTrue(missing.getMessage().contains("0 events written, 1 expected"), missing.getMessage());
    }

    @Test
    void theSchemaCheckRefusesWhatTheSchemaRefuses() throws IOException {
        JsonNode event = Events.JSON.readTree("{\"v\": 1, \"kind\": \"exploded\"}");
        AssertionError e = assertThrows(AssertionError.class, () -> Schemas.check(Schemas.EVENT, event));
        assertTrue(e.getMessage().contains("breaks the schema"), e.getMessage());
        JsonNode config = Events.JSON.readTree("{\"queue\": {\"on_full\": \"explode\"}}");
        assertThrows(AssertionError.class, () -> Schemas.check(Schemas.CONFIG, config));
    }

    // ---- error_kinds.json ----

    @Test
    void theErrorTableCoversExactlyTheCoreKinds() {
        List<String> listed = elements(load("error_kinds.json").get("kinds")).stream()
                .map(k -> k.get("name").asText())
                .collect(Collectors.toList());
        assertEquals(listed, Arrays.asList(Native.errorKinds()));
        assertEquals(listed, new ArrayList<>(Errors.kinds()));
        for (String kind : listed) {
            RuntimeException e = Errors.fromCore(kind, "a " + kind + " error", "some.path");
            WafermonError error = assertInstanceOf(WafermonError.class, e, kind);
            assertEquals(kind, error.kind());
            assertEquals("a " + kind + " error", e.getMessage());
        }
        assertInstanceOf(IllegalArgumentException.class, Errors.fromCore("invalid_config", "x", "a"));
        assertInstanceOf(IllegalArgumentException.class, Errors.fromCore("invalid_event", "x", "a"));
        assertInstanceOf(IllegalStateException.class, Errors.fromCore("closed", "x", null));
        assertInstanceOf(UncheckedIOException.class, Errors.fromCore("io", "x", null));
        assertEquals("invalid_config", ((WafermonError) Errors.fromCore("invalid_config", "x", "batch.max_events")).kind());
        assertEquals("batch.max_events", ((WafermonError) Errors.fromCore("invalid_config", "x", "batch.max_events")).path());
    }

    // ---- config_cases.json ----

    static Stream<Arguments> configCases() {
        return cases("config_cases.json");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configCases")
    void configCase(JsonNode c) {
        String text = c.get("config").toString();
        if (c.path("ok").asBoolean()) {
            assertNotNull(Config.exactly(text));
            Schemas.check(Schemas.CONFIG, c.get("config"));
        } else {
            InvalidConfigException e = assertThrows(InvalidConfigException.class, () -> Config.exactly(text));
            checkError(e, c.get("error"));
            assertEquals(c.at("/error/path").asText(), e.path() == null ? "" : e.path());
        }
    }

    // ---- event_cases.json ----

    @TempDir static Path eventDir;
    static Client eventClient;
    /** Events the accepted cases wrote so far. */
    static int eventsWritten;

    @BeforeAll
    static void eventClient() {
        eventClient = new Client(Events.filesConfig(eventDir));
    }

    @AfterAll
    static void closeEventClient() {
        if (eventClient != null) {
            Stats stats = eventClient.close(Duration.ofSeconds(10));
            assertEquals(0, stats.pending(), stats.toString());
        }
    }

    static Stream<Arguments> eventCases() {
        return cases("event_cases.json");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("eventCases")
    void eventCase(JsonNode c) throws IOException {
        JsonNode event = c.get("event");
        String text = event.isTextual() ? event.asText() : event.toString();
        if (!c.path("ok").asBoolean()) {
            InvalidEventException e = assertThrows(InvalidEventException.class, () -> eventClient.emitJson(text));
            checkError(e, c.get("error"));
            assertEquals(c.at("/error/path").asText(), e.path() == null ? "" : e.path());
            return;
        }
        eventClient.emitJson(text);
        assertTrue(eventClient.flush(Duration.ofSeconds(10)));
        List<JsonNode> written = Events.read(eventDir);
        assertEquals(++eventsWritten, written.size(), "the accepted event was written once");
        Schemas.check(Schemas.EVENT, written.get(written.size() - 1));
        if (c.has("attrs")) {
            // Found by its entity id; Jackson keeps 64-bit integers as longs, so this is
            // digit for digit (and an integer never equals a float here).
            String entity = Events.JSON.readTree(text).at("/entity/id").asText();
            JsonNode last = written.stream()
                    .filter(e -> entity.equals(e.at("/entity/id").asText()))
                    .reduce((a, b) -> b)
                    .orElseThrow(() -> new AssertionError("no event of " + entity + " in " + written));
            assertEquals(c.get("attrs"), last.get("attrs"));
        }
    }

    // ---- legacy_cases.json ----

    /** In file order: a case may name an earlier one whose id it must share. */
    @TestFactory
    Stream<DynamicTest> legacyCases() {
        List<JsonNode> cases = elements(load("legacy_cases.json"));
        assertTrue(cases.size() >= 12);
        Map<String, String> ids = new HashMap<>();
        return cases.stream().map(c -> DynamicTest.dynamicTest(c.get("name").asText(), () -> {
            String name = c.get("name").asText();
            String legacy = c.get("legacy").toString();
            String defaults = c.get("defaults").toString();
            if (!c.has("expect")) {
                InvalidEventException e = assertThrows(InvalidEventException.class,
                        () -> Native.convertLegacy(legacy, defaults));
                checkError(e, c.get("error"));
                return;
            }
            JsonNode got = Events.JSON.readTree(Native.convertLegacy(legacy, defaults));
            assertTrue(Events.sameJson(got, c.get("expect")), name + "\n got: " + got + "\nwant: " + c.get("expect"));
            Schemas.check(Schemas.EVENT, got);
            if (c.has("same_id_as")) {
                String earlier = c.get("same_id_as").asText();
                assertEquals(ids.get(earlier), got.get("id").asText(), "the id of " + earlier);
            }
            ids.put(name, got.get("id").asText());
        }));
    }
}
