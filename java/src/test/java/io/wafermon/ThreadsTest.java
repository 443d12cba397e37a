package io.wafermon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many threads at once: every event reaches the filesystem backend exactly once and in each
 * thread's order, and a job shared by several threads records every call that returned. The
 * files are read one event at a time into primitive arrays, so 800,000 events cost a few MB.
 */
class ThreadsTest {
    private static final int THREADS = 8;
    private static final int EVENTS_PER_THREAD = 100_000;

    @TempDir Path dir;

    /** Run {@code body(k)} on {@code n} threads started together; rethrow the first failure. */
    static void onThreads(int n, ThreadBody body) throws Exception {
        CyclicBarrier start = new CyclicBarrier(n);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            int index = k;
            Thread t = new Thread(() -> {
                try {
                    start.await();
                    body.run(index);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "worker-" + k);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        if (failure.get() != null) {
            throw new AssertionError("a worker thread failed", failure.get());
        }
    }

    interface ThreadBody {
        void run(int index) throws Exception;
    }

    /**
     * Per job (or thread): the (seq, value) of each metric event, packed as {@code seq << 20 | value} so
     * that sorting by seq is sorting longs.
     */
    static final class Metrics {
        final long[] packed;
        int count;
        long started = -1;
        long ended = -1;
        String endKind;

        Metrics(int capacity) {
            packed = new long[capacity];
        }

        void add(long seq, long value) {
            assertTrue(value >= 0 && value < (1 << 20), "value " + value);
            if (count == packed.length) {
                throw new AssertionError("more metric events than calls (" + count + ")");
            }
            packed[count++] = seq << 20 | value;
        }

        /** The values in seq order are exactly 0, 1, ..., {@code calls - 1}: each call once, in order. */
        void assertExactlyOnceInOrder(String who, int calls) {
            long[] sorted = Arrays.copyOf(packed, count);
            Arrays.sort(sorted);
            if (count != calls) {
                throw new AssertionError(who + ": " + count + " metric events written for " + calls
                        + " calls that returned; " + missing(sorted, calls));
            }
            for (int i = 0; i < count; i++) {
                long value = sorted[i] & ((1 << 20) - 1);
                if (value != i) {
                    throw new AssertionError(who + ": in seq order, metric " + i + " has value " + value);
                }
            }
            // seq follows emit order within a thread only (ARCHITECTURE.md), so this holds
            // where one thread started, fed and ended the job.
            if (count > 0 && started >= 0) {
                assertTrue(started < (sorted[0] >>> 20),
                        who + ": started (seq " + started + ") before its metrics (first seq " + (sorted[0] >>> 20) + ")");
                assertTrue(ended > (sorted[count - 1] >>> 20),
                        who + ": ended (seq " + ended + ") after its metrics (last seq " + (sorted[count - 1] >>> 20) + ")");
            }
        }
    }

    /** Which values are missing, as a first and a last one (a lost chunk is a run of them). */
    static String missing(long[] sorted, int calls) {
        boolean[] seen = new boolean[calls];
        for (long p : sorted) {
            int value = (int) (p & ((1 << 20) - 1));
            if (value < calls) {
                seen[value] = true;
            }
        }
        int first = -1;
        int last = -1;
        int n = 0;
        for (int i = 0; i < calls; i++) {
            if (!seen[i]) {
                n++;
                last = i;
                if (first < 0) {
                    first = i;
                }
            }
        }
        return n + " values missing, from " + first + " to " + last;
    }

    /** Every id once: the ids as two longs each, sorted, with no two equal. */
    static final class Ids {
        private long[] high = new long[1024];
        private long[] low = new long[1024];
        private int count;

        void add(String id) {
            UUID uuid = UUID.fromString(id);
            if (count == high.length) {
                high = Arrays.copyOf(high, 2 * count);
                low = Arrays.copyOf(low, 2 * count);
            }
            high[count] = uuid.getMostSignificantBits();
            low[count] = uuid.getLeastSignificantBits();
            count++;
        }

        void assertUnique() {
            Integer[] order = new Integer[count];
            for (int i = 0; i < count; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> {
                int c = Long.compare(high[a], high[b]);
                return c != 0 ? c : Long.compare(low[a], low[b]);
            });
            for (int i = 1; i < count; i++) {
                int a = order[i - 1];
                int b = order[i];
                if (high[a] == high[b] && low[a] == low[b]) {
                    throw new AssertionError("event id written twice: " + new UUID(high[a], low[a]));
                }
            }
        }
    }

    @Test
    void eightThreadsOfAHundredThousandEventsLandExactlyOnceInEachThreadsOrder() throws Exception {
        String[] jobIds = new String[THREADS];
        Stats stats;
        try (Client client = new Client(Events.filesConfig(dir))) {
            onThreads(THREADS, k -> {
                try (Job job = client.job("thread-" + k).root().start()) {
                    jobIds[k] = job.id();
                    for (int i = 0; i < EVENTS_PER_THREAD; i++) {
                        job.metric("n", i);
                    }
                    job.finish();
                }
            });
            stats = client.close(Duration.ofMinutes(2));
        }
        long total = (long) THREADS * (EVENTS_PER_THREAD + 2);

        Map<String, Metrics> byJob = new HashMap<>();
        for (String id : jobIds) {
            assertNotNull(id);
            byJob.put(id, new Metrics(EVENTS_PER_THREAD));
        }
        Ids ids = new Ids();
        AtomicLong read = new AtomicLong();
        long[] lastSeq = {-1};
        Events.forEach(dir, e -> {
            read.incrementAndGet();
            ids.add(e.get("id").asText());
            Metrics job = byJob.get(e.at("/entity/id").asText());
            assertNotNull(job, "an event of no thread's job: " + e);
            long seq = e.get("seq").asLong();
            lastSeq[0] = Math.max(lastSeq[0], seq);
            switch (e.get("kind").asText()) {
                case "started":
                    job.started = seq;
                    break;
                case "metric":
                    job.add(seq, e.at("/metrics/n").asLong());
                    break;
                default:
                    assertEquals(-1, job.ended, "one ending");
                    job.ended = seq;
                    job.endKind = e.get("kind").asText();
            }
        });
        for (int k = 0; k < THREADS; k++) {
            Metrics job = byJob.get(jobIds[k]);
            job.assertExactlyOnceInOrder("thread-" + k, EVENTS_PER_THREAD);
            assertEquals("finished", job.endKind);
        }
        assertEquals(total, read.get(), "events written");
        ids.assertUnique();
        assertEquals(total, stats.emitted(), stats.toString());
        assertEquals(0, stats.dropped(), stats.toString());
        assertEquals(0, stats.pending(), stats.toString());
        Stats.Backend files = stats.backends().get(0);
        assertEquals(0, files.dropped(), stats.toString());
        assertEquals(0, files.failed(), stats.toString());
        assertEquals(total, files.sent(), stats.toString());
    }

    /** One job, four threads calling it at once: every call is recorded, each thread's in its order. */
    @Test
    void aJobSharedByFourThreadsRecordsEveryCall() throws Exception {
        int calls = 20_000;
        String jobId;
        try (Client client = new Client(Events.filesConfig(dir))) {
            try (Job shared = client.job("shared").start()) {
                jobId = shared.id();
                onThreads(4, k -> {
                    for (int i = 0; i < calls; i++) {
                        shared.metric("t" + k, i);
                        if (i % 1000 == 0) {
                            shared.log(Level.INFO, "thread " + k + " at " + i);
                            shared.progress(100.0 * i / calls, "thread " + k);
                            shared.heartbeat();
                        }
                        if (i % 5000 == 0) {
                            assertEquals(jobId, shared.id());
                            Job child = shared.subjob("child-" + k + "-" + i).start();
                            child.finish();
                        }
                    }
                });
                shared.finish();
            }
            Stats stats = client.close(Duration.ofMinutes(1));
            assertEquals(0, stats.dropped(), stats.toString());
            assertEquals(0, stats.pending(), stats.toString());
        }
        Metrics[] perThread = new Metrics[4];
        for (int k = 0; k < 4; k++) {
            perThread[k] = new Metrics(calls);
        }
        int[] other = new int[4]; // log, progress, heartbeat, child endings
        long[] ending = {-1, -1};
        Events.forEach(dir, e -> {
            long seq = e.get("seq").asLong();
            boolean ofShared = jobId.equals(e.at("/entity/id").asText());
            switch (e.get("kind").asText()) {
                case "metric": {
                    String name = e.get("metrics").fieldNames().next();
                    int k = name.charAt(1) - '0';
                    perThread[k].add(seq, e.at("/metrics/" + name).asLong());
                    break;
                }
                case "log":
                    other[0]++;
                    break;
                case "progress":
                    other[1]++;
                    break;
                case "heartbeat":
                    other[2]++;
                    break;
                case "started":
                    if (ofShared) {
                        ending[0] = seq;
                    }
                    break;
                case "finished":
                    if (ofShared) {
                        ending[1] = seq;
                    } else {
                        assertEquals(jobId, e.at("/entity/parent").asText());
                        other[3]++;
                    }
                    break;
                default:
                    throw new AssertionError("unexpected " + e);
            }
        });
        assertTrue(ending[0] >= 0 && ending[1] >= 0, "the shared job's started and finished");
        for (int k = 0; k < 4; k++) {
            perThread[k].assertExactlyOnceInOrder("thread " + k, calls);
        }
        assertEquals(4 * calls / 1000, other[0], "logs");
        assertEquals(4 * calls / 1000, other[1], "progress");
        assertEquals(4 * calls / 1000, other[2], "heartbeats");
        assertEquals(4 * calls / 5000, other[3], "subjobs");
    }

    /**
     * Four threads keep calling a job while three others end it at once (finish, cancel,
     * close): exactly one ending is recorded, every call that returned before it is recorded,
     * and every later call throws ClosedException. Nothing crashes.
     */
    @Test
    void endingAJobWhileOtherThreadsUseItRecordsOneEndingAndEveryCallThatReturned() throws Exception {
        int[] recordedCalls = new int[4];
        String jobId;
        int[] endingsThatWon = new int[1];
        try (Client client = new Client(Events.filesConfig(dir))) {
            Job job = client.job("raced").start();
            jobId = job.id();
            CountDownLatch warmedUp = new CountDownLatch(4);
            CountDownLatch ended = new CountDownLatch(1);
            Thread enders = new Thread(() -> {
                try {
                    warmedUp.await();
                    onThreads(3, k -> {
                        try {
                            if (k == 0) {
                                job.finish();
                            } else if (k == 1) {
                                job.cancel("race");
                            } else {
                                job.close();
                                return;
                            }
                            synchronized (endingsThatWon) {
                                endingsThatWon[0]++;
                            }
                        } catch (ClosedException lost) {
                            // Another ending came first.
                        }
                    });
                } catch (Exception e) {
                    throw new RuntimeException(e);
                } finally {
                    ended.countDown();
                }
            });
            enders.start();
            onThreads(4, k -> {
                int i = 0;
                try {
                    while (true) {
                        job.metric("t" + k, i);
                        i++;
                        if (i == 1000) {
                            warmedUp.countDown();
                        }
                    }
                } catch (ClosedException after) {
                    assertTrue(after.getMessage().contains("raced"), after.getMessage());
                    recordedCalls[k] = i;
                }
                // Ended means ended for every thread from now on.
                ended.await();
                try {
                    job.metric("t" + k, -1);
                    throw new AssertionError("a call after the ending was accepted");
                } catch (ClosedException expected) {
                    // As documented.
                }
            });
            enders.join();
            assertTrue(job.isEnded(), "the Job knows it ended");
            Stats stats = client.close(Duration.ofMinutes(1));
            assertEquals(0, stats.dropped(), stats.toString());
        }
        assertTrue(endingsThatWon[0] <= 1, "at most one of finish and cancel succeeded");
        Metrics[] perThread = new Metrics[4];
        for (int k = 0; k < 4; k++) {
            perThread[k] = new Metrics(recordedCalls[k] + 1);
        }
        List<JsonNode> endings = new ArrayList<>();
        long[] started = {-1};
        Events.forEach(dir, e -> {
            assertEquals(jobId, e.at("/entity/id").asText());
            switch (e.get("kind").asText()) {
                case "metric": {
                    String name = e.get("metrics").fieldNames().next();
                    perThread[name.charAt(1) - '0'].add(e.get("seq").asLong(), e.at("/metrics/" + name).asLong());
                    break;
                }
                case "started":
                    started[0] = e.get("seq").asLong();
                    break;
                default:
                    endings.add(e);
            }
        });
        assertEquals(1, endings.size(), "exactly one ending: " + endings);
        JsonNode end = endings.get(0);
        if (endingsThatWon[0] == 0) {
            assertEquals(Job.CLOSED_OPEN, end.get("message").asText(), "close() was the ending: " + end);
        }
        assertTrue(started[0] >= 0);
        for (int k = 0; k < 4; k++) {
            perThread[k].assertExactlyOnceInOrder("thread " + k, recordedCalls[k]);
        }
    }

    /**
     * Closing the client while four threads emit: a call either returns (and its event is
     * written, exactly once and in its thread's order) or throws ClosedException; nothing
     * accepted is lost.
     */
    @Test
    void closingTheClientWhileThreadsEmitLosesNothingItAccepted() throws Exception {
        int[] returned = new int[4];
        String[] jobIds = new String[4];
        Client client = new Client(Events.filesConfig(dir));
        Job[] jobs = new Job[4];
        for (int k = 0; k < 4; k++) {
            jobs[k] = client.job("busy-" + k).start();
            jobIds[k] = jobs[k].id();
        }
        CountDownLatch warmedUp = new CountDownLatch(4);
        AtomicReference<Stats> closed = new AtomicReference<>();
        Thread closer = new Thread(() -> {
            try {
                warmedUp.await();
                closed.set(client.close(Duration.ofMinutes(1)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        closer.start();
        onThreads(4, k -> {
            int i = 0;
            try {
                while (true) {
                    jobs[k].metric("n", i);
                    i++;
                    if (i == 1000) {
                        warmedUp.countDown();
                    }
                }
            } catch (ClosedException after) {
                returned[k] = i;
            }
        });
        closer.join();
        Stats stats = closed.get();
        assertNotNull(stats);
        assertEquals(0, stats.dropped(), stats.toString());
        assertEquals(0, stats.pending(), stats.toString());
        Map<String, Metrics> byJob = new HashMap<>();
        for (int k = 0; k < 4; k++) {
            byJob.put(jobIds[k], new Metrics(returned[k] + 1));
        }
        Events.forEach(dir, e -> {
            if (e.get("kind").asText().equals("metric")) {
                byJob.get(e.at("/entity/id").asText()).add(e.get("seq").asLong(), e.at("/metrics/n").asLong());
            }
        });
        for (int k = 0; k < 4; k++) {
            byJob.get(jobIds[k]).assertExactlyOnceInOrder("busy-" + k, returned[k]);
        }
    }
}
