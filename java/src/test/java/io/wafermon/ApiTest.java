package io.wafermon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

class ApiTest {
    @TempDir Path dir;

    @Test
    void aLotWithWaferSubjobsIsRecordedAsTheApiSays() {
        String lotId;
        try (Client client = new Client(Events.filesConfig(dir))) {
            try (Job lot = client.job("lot-dispatch").kind("lot").key("LOT-1").attr("recipe", "R7")
                    .attr("wafers", 25).attr("temp_c", 21.5).attr("rework", false).start()) {
                lotId = lot.id();
                try (Job wafer = lot.subjob("wafer-1").kind("wafer").start()) {
                    wafer.progress(30, "coat");
                    wafer.metric("thickness_nm", 101.2);
                    wafer.log(Level.WARNING, "slow pump");
                    wafer.finish();
                }
                lot.finish();
            }
            Stats stats = client.close(Duration.ofSeconds(10));
            assertEquals(0, stats.pending(), stats.toString());
            assertEquals(7, stats.emitted());
            assertEquals("filesystem", stats.backends().get(0).kind());
        }
        List<JsonNode> events = Events.read(dir);
        assertEquals(7, events.size());
        JsonNode started = events.get(0);
        assertEquals("started", started.get("kind").asText());
        assertEquals("lot", started.at("/entity/kind").asText());
        assertEquals("LOT-1", started.at("/entity/key").asText());
        assertEquals("R7", started.at("/attrs/recipe").asText());
        assertEquals(25, started.at("/attrs/wafers").asLong());
        assertEquals(21.5, started.at("/attrs/temp_c").asDouble());
        assertFalse(started.at("/attrs/rework").asBoolean());
        assertEquals(lotId, started.at("/entity/id").asText());
        JsonNode wafer = events.get(1);
        assertEquals("wafer", wafer.at("/entity/kind").asText());
        assertEquals(lotId, wafer.at("/entity/parent").asText());
        assertEquals(30, events.get(2).get("progress").asDouble());
        assertEquals("coat", events.get(2).get("message").asText());
        assertEquals(101.2, events.get(3).at("/metrics/thickness_nm").asDouble());
        assertEquals("warning", events.get(4).get("level").asText());
        assertEquals("finished", events.get(6).get("kind").asText());
        assertTrue(events.get(6).at("/metrics/duration_s").isNumber());
    }

    @Test
    void runFinishesAndCallReturnsAndAThrowingBodyFailsTheJobThenRethrows() {
        try (Client client = new Client(Events.filesConfig(dir))) {
            client.run(client.job("ok"), job -> job.progress(50));
            int answer = client.call(client.job("answer"), job -> 42);
            assertEquals(42, answer);
            IOException thrown = assertThrows(IOException.class,
                    () -> client.run(client.job("broken"), job -> {
                        throw new IOException("disk full");
                    }));
            assertEquals("disk full", thrown.getMessage());
            client.close(Duration.ofSeconds(10));
        }
        List<JsonNode> ends = Events.read(dir);
        assertEquals("finished", find(ends, "ok", "finished").get("kind").asText());
        assertEquals("java.io.IOException: disk full", find(ends, "broken", "failed").get("message").asText());
    }

    @Test
    void currentJobIsTheParentOfJobsStartedInsideRun() {
        try (Client client = new Client(Events.filesConfig(dir))) {
            assertFalse(Job.current().isPresent());
            client.run(client.job("outer"), outer -> {
                assertEquals(outer, Job.current().get());
                try (Job inner = client.job("inner").start()) {
                    inner.finish();
                }
                Job.current().get().subjob("library-step").start().finish();
                try (Job root = client.job("other-root").root().start()) {
                    root.finish();
                }
            });
            assertFalse(Job.current().isPresent());
            client.close(Duration.ofSeconds(10));
        }
        List<JsonNode> events = Events.read(dir);
        String outerId = find(events, "outer", "started").at("/entity/id").asText();
        assertEquals(outerId, find(events, "inner", "started").at("/entity/parent").asText());
        assertEquals("subjob", find(events, "inner", "started").at("/entity/kind").asText());
        assertEquals(outerId, find(events, "library-step", "started").at("/entity/parent").asText());
        assertTrue(find(events, "other-root", "started").at("/entity/parent").isMissingNode());
    }

    @Test
    void closingAJobWithoutAnEndingIsNeverASuccess() {
        try (Client client = new Client(Events.filesConfig(dir))) {
            try (Job job = client.job("forgot-finish").start()) {
                job.progress(10);
            }
            client.close(Duration.ofSeconds(10));
        }
        JsonNode end = find(Events.read(dir), "forgot-finish", "canceled");
        assertEquals("canceled", end.get("status").asText());
        assertEquals(Job.CLOSED_OPEN, end.get("message").asText());
    }

    @Test
    void aJobAfterItsEndingThrowsIllegalStateNamingIt() {
        try (Client client = new Client(Events.filesConfig(dir))) {
            Job job = client.job("done-once").start();
            job.finish();
            ClosedException e = assertThrows(ClosedException.class, () -> job.metric("late", 1));
            assertTrue(e instanceof IllegalStateException);
            assertTrue(e.getMessage().contains("done-once"), e.getMessage());
            assertThrows(ClosedException.class, job::finish);
            assertEquals("closed", e.kind());
            String id = job.id();
            job.close();
            assertEquals(id, job.id(), "an id read before close() still answers");
            job.close();
        }
    }

    @Test
    void closeLetsGoOfTheHandleAndLaterCallsThrowClosedNamingTheJob() {
        try (Client client = new Client(Events.filesConfig(dir))) {
            Job job = client.job("short-lived").start();
            job.finish();
            job.close();
            assertFalse(Native.jobRelease(job.handle), "close() released the handle already");
            for (Executable late : new Executable[] {
                () -> job.metric("late", 1), () -> job.progress(50), () -> job.log(Level.INFO, "late"),
                job::heartbeat, job::finish, () -> job.cancel("late"), job::id}) {
                ClosedException e = assertThrows(ClosedException.class, late);
                assertTrue(e.getMessage().contains("short-lived"), e.getMessage());
            }
            ClosedException sub = assertThrows(ClosedException.class, () -> job.subjob("child").start());
            assertTrue(sub.getMessage().contains("closed"), sub.getMessage());
            assertTrue(job.isEnded());

            // Closing a running job ends it (canceled) and releases it the same way.
            Job open = client.job("closed-open").start();
            open.close();
            assertTrue(open.isEnded());
            assertFalse(Native.jobRelease(open.handle));
            assertThrows(ClosedException.class, () -> open.metric("late", 1));
        }
    }

    @Test
    void aClosedClientThrowsIllegalState() {
        Client client = new Client(Events.filesConfig(dir));
        client.close(Duration.ofSeconds(5));
        assertTrue(client.isClosed());
        assertThrows(IllegalStateException.class, () -> client.job("late").start());
        assertThrows(IllegalStateException.class, () -> client.emitJson("{\"kind\":\"heartbeat\",\"entity\":{\"kind\":\"tool\",\"id\":\"T1\"}}"));
        assertThrows(IllegalStateException.class, () -> client.flush(Duration.ofSeconds(1)));
        assertEquals(0, client.close(Duration.ofSeconds(1)).pending());
    }

    @Test
    void badConfigNamesTheJsonPath() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> Config.fromJson("{\"batch\": {\"max_events\": \"many\"}}"));
        assertEquals("batch.max_events", e.path());
        assertTrue(e.getMessage().contains("batch.max_events"), e.getMessage());
        assertTrue(e instanceof IllegalArgumentException);
        assertThrows(InvalidConfigException.class, () -> Config.fromJson("{not json"));
        assertThrows(InvalidConfigException.class,
                () -> Config.builder().set("queue.on_full", "explode").build());
        assertEquals("queue.on_full",
                assertThrows(InvalidConfigException.class,
                        () -> Config.builder().set("queue.on_full", "explode").build()).path());
    }

    @Test
    void badEventValuesNameTheField() {
        try (Client client = new Client(Events.filesConfig(dir))) {
            Job job = client.job("etch").start();
            InvalidEventException e = assertThrows(InvalidEventException.class, () -> job.progress(120, null));
            assertEquals("progress", e.path());
            assertThrows(InvalidEventException.class, () -> job.metric("", 1));
            assertThrows(InvalidEventException.class, () -> job.metric("x", Double.NaN));
            assertThrows(InvalidEventException.class, () -> client.emitJson("{\"kind\": \"nope\"}"));
            job.finish();
        }
    }

    @Test
    void nullArgumentsAreNullPointerExceptionsNamingTheArgument() {
        try (Client client = new Client(Events.filesConfig(dir))) {
            assertEquals("name", assertThrows(NullPointerException.class, () -> client.job(null)).getMessage());
            Job job = client.job("etch").start();
            assertEquals("name", assertThrows(NullPointerException.class, () -> job.metric(null, 1)).getMessage());
            assertEquals("message", assertThrows(NullPointerException.class, () -> job.log(Level.INFO, null)).getMessage());
            assertEquals("level", assertThrows(NullPointerException.class, () -> job.log(null, "x")).getMessage());
            assertThrows(NullPointerException.class, () -> job.fail((Throwable) null));
            assertThrows(NullPointerException.class, () -> new Client(null));
            job.finish();
        }
    }

    @Test
    void statsAreTyped() {
        try (Client client = new Client(Events.filesConfig(dir))) {
            client.run(client.job("counted"), job -> job.metric("x", 1));
            assertTrue(client.flush(Duration.ofSeconds(10)));
            Stats stats = client.stats();
            assertEquals(3, stats.emitted());
            Stats.Backend files = stats.backends().get(0);
            assertEquals(3, files.sent());
            assertTrue(files.healthy());
            assertFalse(files.lastError().isPresent());
        }
    }

    static JsonNode find(List<JsonNode> events, String name, String kind) {
        return events.stream()
                .filter(e -> name.equals(e.at("/entity/name").asText()) && kind.equals(e.get("kind").asText()))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no " + kind + " event of " + name + " in " + events));
    }
}
