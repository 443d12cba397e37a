package io.wafermon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigAndGlobalTest {
    @TempDir Path dir;

    private Config.Builder files() {
        return Config.builder()
                .app("config-test")
                .appVersion("2.0")
                .site("fab9")
                .instance("i-7")
                .filesystem(dir.resolve("data"))
                .spool(dir.resolve("spool"));
    }

    @Test
    void theBuilderWritesTheSchemasKeysAndTheClientReportsThem() {
        Config config = files().set("batch.max_events", 50).shutdownTimeout(Duration.ofSeconds(2)).build();
        assertEquals(Duration.ofSeconds(2), config.shutdownTimeout());
        try (Client client = new Client(config)) {
            client.job("etch").root().start().finish();
        }
        List<JsonNode> events = Events.read(dir.resolve("data"));
        assertEquals(2, events.size());
        assertEquals("config-test", events.get(0).at("/app/name").asText());
        assertEquals("2.0", events.get(0).at("/app/version").asText());
        assertEquals("i-7", events.get(0).at("/app/instance").asText());
        assertEquals("fab9", events.get(0).get("site").asText());
    }

    @Test
    void aConfigFileIsReadAndItsErrorsNameThePath() throws Exception {
        Path file = dir.resolve("wafermon.json");
        Files.write(file, files().toJson().getBytes(StandardCharsets.UTF_8));
        try (Client client = new Client(Config.fromFile(file))) {
            client.job("from-file").start().finish();
        }
        assertEquals(2, Events.read(dir.resolve("data")).size());

        Files.write(file, "{\"spool\": {\"fsync\": \"sometimes\"}}".getBytes(StandardCharsets.UTF_8));
        assertEquals("spool.fsync", assertThrows(InvalidConfigException.class, () -> Config.fromFile(file)).path());
        assertThrows(UncheckedIOException.class, () -> Config.fromFile(dir.resolve("missing.json")));
    }

    @Test
    void theConfigNeverPrintsItsJson() {
        Config config = Config.fromJson("{\"sidecar\": {\"token\": \"s3cret-token\"}}");
        assertFalse(config.toString().contains("s3cret"), config.toString());
    }

    @Test
    void aNegativeShutdownTimeoutIsRefused() {
        assertThrows(InvalidArgumentException.class,
                () -> Config.fromEnv().withShutdownTimeout(Duration.ofSeconds(-1)));
    }

    @Test
    void theProcessWideClientIsInitReplacedAndShutDown() {
        Client first = Wafermon.init(files().build());
        assertSame(first, Wafermon.client());
        Wafermon.job("global").start().finish();
        Client second = Wafermon.init(files().app("second").build());
        assertTrue(first.isClosed(), "init closes the previous client");
        assertSame(second, Wafermon.client());
        Stats stats = Wafermon.shutdown(Duration.ofSeconds(10));
        assertEquals(0, stats.pending());
        assertTrue(second.isClosed());
        assertNull(Wafermon.shutdown(Duration.ofSeconds(1)));
        assertEquals(2, Events.read(dir.resolve("data")).size());
        assertFalse(Wafermon.coreVersion().isEmpty());
    }

    @Test
    void theErrorTableCoversExactlyTheCoresKinds() {
        assertEquals(List.of(Native.errorKinds()), List.copyOf(Errors.kinds()));
        for (String kind : Errors.kinds()) {
            RuntimeException e = Errors.fromCore(kind, "m", "p");
            assertEquals(kind, ((WafermonError) e).kind());
            assertEquals("p", ((WafermonError) e).path());
        }
    }
}
