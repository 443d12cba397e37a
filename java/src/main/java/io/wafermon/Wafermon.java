package io.wafermon;

import java.time.Duration;
import java.util.Objects;

/**
 * The process-wide client, for applications that want one without passing it around.
 *
 * <pre>{@code
 * Wafermon.init(Config.fromEnv());
 * try (Job job = Wafermon.job("etch").key("LOT42").start()) {
 *     job.finish();
 * }
 * }</pre>
 *
 * <p>Without {@link #init}, the first {@link #client()} builds one from the environment
 * ({@link Config#fromEnv()}). The JVM's shutdown hook closes it.
 */
public final class Wafermon {
    private static Client client;

    private Wafermon() {}

    /**
     * Make a client from {@code config} the process-wide one. A previous one is closed (its
     * events are delivered within its shutdown timeout) and returned stats are dropped.
     */
    public static Client init(Config config) {
        Client fresh = new Client(Objects.requireNonNull(config, "config"));
        Client previous;
        synchronized (Wafermon.class) {
            previous = client;
            client = fresh;
        }
        if (previous != null) {
            previous.close();
        }
        return fresh;
    }

    /** The process-wide client ({@link #init}, or else one from the environment). */
    public static synchronized Client client() {
        if (client == null) {
            client = new Client(Config.fromEnv());
        }
        return client;
    }

    /** {@code client().job(name)}. */
    public static JobBuilder job(String name) {
        return client().job(name);
    }

    /** Close the process-wide client (a later {@link #client()} makes a new one). */
    public static Stats shutdown(Duration timeout) {
        Client c;
        synchronized (Wafermon.class) {
            c = client;
            client = null;
        }
        return c == null ? null : c.close(timeout);
    }

    /** The version of the native core in use. */
    public static String coreVersion() {
        return Native.coreVersion();
    }
}
