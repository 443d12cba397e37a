package io.wafermon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JVM shutdown hook: a program that never closes its client (it returns from main, or
 * calls System.exit) still delivers every event, because the hook closes every client still
 * open. Each case is a child JVM running {@link ExitMain}, whose config holds events back
 * for an hour so that only a close can write them.
 */
class ShutdownHookTest {
    private static final int JOBS = 500;

    @TempDir Path dir;

    @Test
    void returningFromMainWithoutCloseDeliversEveryEvent() throws Exception {
        assertEveryEventLands("client", 0);
    }

    @Test
    void systemExitWithoutCloseDeliversEveryEvent() throws Exception {
        assertEveryEventLands("exit", 3);
    }

    @Test
    void theProcessWideClientIsClosedByTheHookToo() throws Exception {
        assertEveryEventLands("global", 0);
    }

    /** The control: without the hook (Runtime.halt runs none), nothing of this config is written. */
    @Test
    void aHaltWhichRunsNoHookWritesNothingSoTheHookIsWhatDelivers() throws Exception {
        Path out = dir.resolve("out");
        ChildJvm.Result child = ChildJvm.run(dir.resolve("child"), Collections.emptyList(), ExitMain.class,
                "halt", out.toString(), String.valueOf(JOBS));
        assertEquals(4, child.exit, child.toString());
        assertEquals(0, Events.read(out).size());
    }

    private void assertEveryEventLands(String mode, int exit) throws Exception {
        Path out = dir.resolve("out");
        ChildJvm.Result child = ChildJvm.run(dir.resolve("child"), Collections.emptyList(), ExitMain.class,
                mode, out.toString(), String.valueOf(JOBS));
        assertEquals(exit, child.exit, child.toString());
        assertEquals("emitted " + 3 * JOBS, child.out.trim(), child.toString());
        List<JsonNode> events = Events.read(out);
        assertEquals(3 * JOBS, events.size(), "every event, once");
        Set<String> ids = new HashSet<>();
        for (JsonNode e : events) {
            assertTrue(ids.add(e.get("id").asText()), "a duplicate: " + e);
        }
        for (int i = 0; i < JOBS; i++) {
            JsonNode end = ApiTest.find(events, "job-" + i, i % 2 == 0 ? "finished" : "failed");
            assertEquals("K-" + i, end.at("/entity/key").asText());
        }
        assertEquals(JOBS, Events.ofKind(events, "metric").size());
    }
}
