package io.wafermon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the Cleaners do for objects an application forgot: a job collected while running is
 * recorded as canceled ("never closed"); a client collected without close is closed by
 * freeing it, so its events still land. Nothing here measures time: the loops collect
 * garbage until what should happen has happened, with a deadline only as a guard.
 */
class CleanerTest {
    /** A guard against a test that would otherwise never end, not a timing assertion. */
    private static final Duration GUARD = Duration.ofSeconds(120);

    @TempDir Path dir;

    /** Collect garbage until {@code done}; fail with {@code what} if the guard runs out. */
    static void collectUntil(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + GUARD.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("still not the case after collecting garbage for " + GUARD + ": " + what);
            }
            System.gc();
            Thread.sleep(20);
        }
    }

    /** Starts a job and lets go of it: only the returned weak reference points to it. */
    private static WeakReference<Job> startAndForget(Client client, String name) {
        Job job = client.job(name).key("LOT-9").start();
        job.progress(40, "half way");
        return new WeakReference<>(job);
    }

    @Test
    void aJobCollectedWhileRunningIsRecordedCanceledNeverClosed() throws InterruptedException {
        try (Client client = new Client(Events.filesConfig(dir))) {
            WeakReference<Job> forgotten = startAndForget(client, "forgotten");
            collectUntil("the forgotten job is collected", () -> forgotten.get() == null);
            collectUntil("the Cleaner recorded its ending", () -> {
                client.flush(Duration.ofSeconds(10));
                return !endings(Events.read(dir), "forgotten").isEmpty();
            });
            // A job that is still referenced is left alone meanwhile.
            try (Job kept = client.job("kept").start()) {
                System.gc();
                kept.metric("still_usable", 1);
                kept.finish();
            }
            Stats stats = client.close(Duration.ofSeconds(10));
            assertEquals(0, stats.pending(), stats.toString());
        }
        List<JsonNode> events = Events.read(dir);
        List<JsonNode> endings = endings(events, "forgotten");
        assertEquals(1, endings.size(), "exactly one ending: " + endings);
        JsonNode end = endings.get(0);
        assertEquals("canceled", end.get("kind").asText());
        assertEquals("canceled", end.get("status").asText());
        assertEquals(Job.NEVER_CLOSED, end.get("message").asText());
        assertEquals("LOT-9", end.at("/entity/key").asText());
        assertTrue(end.at("/metrics/duration_s").isNumber(), end.toString());
        assertEquals("finished", ApiTest.find(events, "kept", "finished").get("kind").asText());
    }

    @Test
    void aJobThatEndedAndWasThenCollectedRecordsNothingMore() throws InterruptedException {
        try (Client client = new Client(Events.filesConfig(dir))) {
            WeakReference<Job> ended = finishAndForget(client);
            collectUntil("the finished job is collected", () -> ended.get() == null);
            // The Cleaner's release of an ended job records nothing; a marker job shows that
            // the pipeline has gone on since.
            collectUntil("the marker is written", () -> {
                client.job("marker").start().finish();
                client.flush(Duration.ofSeconds(10));
                return !endings(Events.read(dir), "marker").isEmpty();
            });
            client.close(Duration.ofSeconds(10));
        }
        List<JsonNode> endings = endings(Events.read(dir), "done");
        assertEquals(1, endings.size(), endings.toString());
        assertEquals("finished", endings.get(0).get("kind").asText());
    }

    private static WeakReference<Job> finishAndForget(Client client) {
        Job job = client.job("done").start();
        job.finish();
        return new WeakReference<>(job);
    }

    /**
     * A client nobody closed: its Cleaner frees the native client, and dropping the core's
     * client closes it, delivering what was queued. The config holds events back for an hour
     * (flush interval, batch size), so they can only land through that close.
     */
    @Test
    void aClientCollectedWithoutCloseStillDeliversItsEvents() throws InterruptedException {
        WeakReference<Client> forgotten = useAndForget(dir);
        collectUntil("the client is collected", () -> forgotten.get() == null);
        collectUntil("its events land", () -> Events.read(dir).size() == 10);
        List<JsonNode> events = Events.read(dir);
        assertEquals(3, endings(events, "job-0").size() + endings(events, "job-1").size() + endings(events, "job-2").size());
        assertEquals(Job.CLOSED_OPEN, endings(events, "job-2").get(0).get("message").asText());
        assertEquals("heartbeat", events.get(9).get("kind").asText());
    }

    private static WeakReference<Client> useAndForget(Path dir) {
        Client client = new Client(Events.filesConfig(dir,
                "{\"batch\": {\"flush_interval\": 3600, \"max_events\": 100000}}"));
        for (int i = 0; i < 2; i++) {
            try (Job job = client.job("job-" + i).start()) {
                job.metric("i", i);
                job.finish();
            }
        }
        try (Job open = client.job("job-2").start()) {
            open.log(Level.INFO, "left open, closed by try-with-resources");
        }
        client.emitJson("{\"kind\": \"heartbeat\", \"entity\": {\"kind\": \"tool\", \"id\": \"T1\"}}");
        assertEquals(0, Events.read(dir).size(), "nothing is written before the client is closed");
        assertEquals(10, client.stats().pending());
        return new WeakReference<>(client);
    }

    static List<JsonNode> endings(List<JsonNode> events, String name) {
        return events.stream()
                .filter(e -> name.equals(e.at("/entity/name").asText()))
                .filter(e -> {
                    String kind = e.get("kind").asText();
                    return kind.equals("finished") || kind.equals("failed") || kind.equals("canceled");
                })
                .collect(Collectors.toList());
    }
}
