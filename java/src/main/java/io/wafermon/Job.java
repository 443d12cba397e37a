package io.wafermon;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.util.ArrayDeque;
import java.util.Objects;
import java.util.Optional;

/**
 * A running job (or subjob): its progress, metrics and logs, then one ending: {@link
 * #finish()}, {@link #fail}, or {@link #cancel}. Safe to use from any thread.
 *
 * <pre>{@code
 * try (Job lot = client.job("lot-dispatch").kind("lot").key("LOT-1").start()) {
 *     lot.progress(30, "coat");
 *     lot.metric("thickness_nm", 101.2);
 *     lot.finish();
 * }
 * }</pre>
 *
 * <p><b>Endings.</b> The first ending counts; any call after it throws {@link
 * ClosedException} (an {@link IllegalStateException}) naming the job. {@link #close()} on a
 * job that has not ended records {@code canceled} with the message {@value #CLOSED_OPEN}:
 * a try-with-resources block cannot tell an exception from a forgotten {@code finish()}, and
 * neither is a success. {@link Client#run} and {@link Client#call} end the job themselves
 * ({@code finished}, or {@code failed} with the exception). A job that becomes unreachable
 * without {@code close()} or an ending is recorded by a {@link Cleaner} as {@code canceled},
 * {@value #NEVER_CLOSED}.
 *
 * <p><b>Closing</b> lets go of the job's native handle at once (a job that is only ended
 * holds it until the {@code Job} is collected). After {@code close()} every call throws
 * {@link ClosedException}; {@link #id()} still answers if it was read before.
 *
 * <p>The core fills {@code cpu_user_s}, {@code cpu_system_s}, {@code max_rss_bytes} and
 * {@code duration_s} on the ending.
 */
public final class Job implements AutoCloseable {
    /** What {@link #close()} records for a job that has not ended. */
    public static final String CLOSED_OPEN = "closed without finish";
    /** What the Cleaner records for a job collected while still running. */
    public static final String NEVER_CLOSED = "never closed";

    private static final Cleaner CLEANER = Cleaner.create();
    private static final ThreadLocal<ArrayDeque<Job>> CURRENT = ThreadLocal.withInitial(ArrayDeque::new);

    private static final int FINISH = 0;
    private static final int FAIL = 1;
    private static final int CANCEL = 2;

    final long handle;
    /** Kept for subjobs, and so the client outlives its jobs. */
    final Client client;
    /** For the errors of calls after {@link #close()}, which the core can no longer name. */
    private final String name;
    private final Cleaner.Cleanable abandon;
    private volatile boolean ended;
    /** Set before the handle is released, so a call that finds it released knows why. */
    private volatile boolean closed;
    private volatile String id;

    Job(Client client, long handle, String name) {
        this.client = client;
        this.handle = handle;
        this.name = name;
        // Only the handle is captured: the action must not keep the job reachable.
        this.abandon = CLEANER.register(this, new Abandon(handle));
    }

    private static final class Abandon implements Runnable {
        private final long handle;

        Abandon(long handle) {
            this.handle = handle;
        }

        @Override
        public void run() {
            Native.jobAbandon(handle);
        }
    }

    /** The job {@link Client#run} or {@link Client#call} has open on this thread, if any. */
    public static Optional<Job> current() {
        return Optional.ofNullable(currentOrNull());
    }

    static Job currentOrNull() {
        return CURRENT.get().peekFirst();
    }

    void enter() {
        CURRENT.get().push(this);
    }

    void leave() {
        ArrayDeque<Job> stack = CURRENT.get();
        stack.removeFirstOccurrence(this);
        if (stack.isEmpty()) {
            CURRENT.remove();
        }
    }

    /** The entity id (children point to it). After {@link #close()}, only if read before. */
    public String id() {
        String known = id;
        if (known == null) {
            try {
                known = Native.jobId(handle);
            } catch (InvalidArgumentException e) {
                throw closedOr(e);
            } finally {
                Reference.reachabilityFence(this);
            }
            id = known;
        }
        return known;
    }

    boolean isClosed() {
        return closed;
    }

    /**
     * What a native call that failed with {@code e} throws: a handle {@link #close()} has
     * released is "not a live job handle" to the core, which is this job being closed.
     */
    private RuntimeException closedOr(InvalidArgumentException e) {
        return closed ? new ClosedException("job '" + name + "' has been closed", null) : e;
    }

    /** A subjob of this job, not started yet (entity kind {@code subjob} unless given). */
    public JobBuilder subjob(String name) {
        return new JobBuilder(client, name, this);
    }

    /** Progress in percent (0 to 100), with a message (or null). */
    public void progress(double percent, String message) {
        try {
            if (message == null) {
                Native.jobProgress(handle, percent, null, 0);
            } else {
                Utf8 text = Utf8.encode(message, "message");
                Native.jobProgress(handle, percent, text.bytes, text.length);
            }
        } catch (InvalidArgumentException e) {
            throw closedOr(e);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Progress in percent (0 to 100). */
    public void progress(double percent) {
        progress(percent, null);
    }

    /** One named measurement. */
    public void metric(String name, double value) {
        Utf8 text = Utf8.encode(name, "name");
        try {
            Native.jobMetric(handle, text.bytes, text.length, value);
        } catch (InvalidArgumentException e) {
            throw closedOr(e);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** A log line of this job. */
    public void log(Level level, String message) {
        Objects.requireNonNull(level, "level");
        Utf8 text = Utf8.encode(message, "message");
        try {
            Native.jobLog(handle, level.ordinal(), text.bytes, text.length);
        } catch (InvalidArgumentException e) {
            throw closedOr(e);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** A sign of life, for long steps without progress. */
    public void heartbeat() {
        try {
            Native.jobHeartbeat(handle);
        } catch (InvalidArgumentException e) {
            throw closedOr(e);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** End successfully ({@code finished}). */
    public void finish() {
        end(FINISH, null);
    }

    /** End as failed, saying why. */
    public void fail(String message) {
        end(FAIL, Objects.requireNonNull(message, "message"));
    }

    /** End as failed with the exception's class and message ({@code java.io.IOException: disk full}). */
    public void fail(Throwable error) {
        end(FAIL, describe(Objects.requireNonNull(error, "error")));
    }

    /** End as canceled, saying why. */
    public void cancel(String message) {
        end(CANCEL, Objects.requireNonNull(message, "message"));
    }

    /** Whether this job has ended (through this object). */
    public boolean isEnded() {
        return ended;
    }

    /**
     * The end of a try-with-resources block: a job that has not ended is recorded as {@code
     * canceled} ({@value #CLOSED_OPEN}), never as a success; then the native handle is let go
     * (see the class comment). Closing again does nothing.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        try {
            if (!ended) {
                end(CANCEL, CLOSED_OPEN);
            }
        } catch (ClosedException endedElsewhere) {
            // Another thread ended it meanwhile: that ending stands.
        } finally {
            closed = true;
            // Runs the Cleaner's action now, once: the handle is released, the job no longer
            // waits for the garbage collector (at a million jobs a second, handles would run
            // out first).
            abandon.clean();
        }
    }

    void finishIfRunning() {
        if (!ended) {
            try {
                end(FINISH, null);
            } catch (ClosedException endedElsewhere) {
                // Ended by the body on another thread: that ending stands.
            }
        }
    }

    void failIfRunning(Throwable error) {
        if (!ended) {
            try {
                end(FAIL, describe(error));
            } catch (ClosedException endedElsewhere) {
                // As above.
            }
        }
    }

    private void end(int how, String message) {
        try {
            if (message == null) {
                Native.jobEnd(handle, how, null, 0);
            } else {
                Utf8 text = Utf8.encode(message, "message");
                Native.jobEnd(handle, how, text.bytes, text.length);
            }
            ended = true;
        } catch (InvalidArgumentException e) {
            throw closedOr(e);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    static String describe(Throwable error) {
        String message = error.getMessage();
        String name = error.getClass().getName();
        return message == null ? name : name + ": " + message;
    }

    @Override
    public String toString() {
        return "Job(" + (id != null ? id : "handle " + Long.toHexString(handle)) + (ended ? ", ended" : "") + ")";
    }
}
