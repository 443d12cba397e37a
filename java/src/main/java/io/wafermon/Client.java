package io.wafermon;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.time.Duration;
import java.util.Objects;

/**
 * A wafermon client: a pipeline of the core that batches, routes and delivers the events of
 * its jobs. Thread-safe; one per application is usual ({@link Wafermon#init}), more are fine.
 *
 * <pre>{@code
 * try (Client client = new Client(Config.fromEnv())) {
 *     client.run(client.job("lot-dispatch").kind("lot").key("LOT-1"), lot -> {
 *         lot.progress(50, "half way");
 *     });
 * }
 * }</pre>
 *
 * <p>Sending never blocks on a backend and never throws because one is down: undelivered
 * events wait in the spool. {@link #close} delivers within its timeout; the JVM's shutdown
 * hook closes every client still open, waiting up to its config's {@link
 * Config#shutdownTimeout()}.
 */
public final class Client implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    final long ptr;
    private final Duration shutdownTimeout;
    private final Cleaner.Cleanable cleanable;

    public Client(Config config) {
        Objects.requireNonNull(config, "config");
        this.ptr = Native.clientNew(config.source, config.json, ProgramName.detect());
        this.shutdownTimeout = config.shutdownTimeout;
        long p = ptr;
        // Frees the native client once this object is unreachable (dropping it closes the
        // pipeline if close() was never called).
        this.cleanable = CLEANER.register(this, () -> Native.clientFree(p));
        ShutdownHook.install(shutdownTimeout);
    }

    /** A job of this client, not started yet: describe it, then {@link JobBuilder#start()}. */
    public JobBuilder job(String name) {
        return new JobBuilder(this, name, null);
    }

    /**
     * Start {@code spec}, run {@code body} with the job as {@link Job#current()} on this thread,
     * and finish it. If the body throws, the job is recorded as failed with the exception's
     * class and message, and the exception is rethrown. A job the body ended itself is left
     * as it ended.
     */
    public <E extends Exception> void run(JobBuilder spec, JobRunnable<E> body) throws E {
        call(spec, job -> {
            body.run(job);
            return null;
        });
    }

    /** {@link #run}, returning the body's value. */
    public <T, E extends Exception> T call(JobBuilder spec, JobCallable<T, E> body) throws E {
        Objects.requireNonNull(body, "body");
        try (Job job = Objects.requireNonNull(spec, "spec").start()) {
            T value;
            job.enter();
            try {
                value = body.call(job);
            } catch (Throwable t) {
                job.failIfRunning(t);
                throw t;
            } finally {
                job.leave();
            }
            job.finishIfRunning();
            return value;
        }
    }

    /** Queue one schema-v1 event given as JSON text (jobs cover most needs). */
    public void emitJson(String event) {
        try {
            Native.clientEmitJson(ptr, Objects.requireNonNull(event, "event"));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Wait until everything emitted so far is delivered or spooled; false if {@code timeout}
     * passed first (nothing is lost: the rest stays queued).
     */
    public boolean flush(Duration timeout) {
        try {
            return Native.clientFlush(ptr, millis(timeout));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Stop accepting events, deliver for up to {@code timeout}, keep the rest in the spool for
     * the next run, and return the final counters. Closing again returns the counters at once.
     */
    public Stats close(Duration timeout) {
        try {
            return Stats.fromNative(Native.clientClose(ptr, millis(timeout)));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** {@link #close(Duration)} with the config's shutdown timeout. */
    @Override
    public void close() {
        close(shutdownTimeout);
    }

    public boolean isClosed() {
        try {
            return Native.clientIsClosed(ptr);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    public Stats stats() {
        try {
            return Stats.fromNative(Native.clientStats(ptr));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    static long millis(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            return 0;
        }
        try {
            return timeout.toMillis();
        } catch (ArithmeticException tooLong) {
            return Long.MAX_VALUE;
        }
    }
}
