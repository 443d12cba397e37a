package io.wafermon;

import java.time.Duration;

/**
 * One JVM shutdown hook for every client: it closes those still open (the core's {@code
 * skin::exit::close_all}), waiting up to the longest shutdown timeout among their configs, or
 * only briefly when every backend is down (the rest stays in the spool for the next run).
 */
final class ShutdownHook {
    private static boolean installed;
    private static long timeoutMillis;

    private ShutdownHook() {}

    static synchronized void install(Duration timeout) {
        timeoutMillis = Math.max(timeoutMillis, Client.millis(timeout));
        if (installed) {
            return;
        }
        installed = true;
        try {
            Runtime.getRuntime().addShutdownHook(new Thread(ShutdownHook::run, "wafermon-shutdown"));
        } catch (IllegalStateException alreadyShuttingDown) {
            // Nothing to add a hook to: the client is closed by whoever closes it.
        }
    }

    private static void run() {
        long wait;
        synchronized (ShutdownHook.class) {
            wait = timeoutMillis;
        }
        Native.closeAll(wait);
    }
}
