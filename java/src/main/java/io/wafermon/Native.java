package io.wafermon;

/**
 * The native half of the package ({@code java/native}, loaded from the jar by {@link NativeLoader}).
 * Package-private: the public API is the classes around it.
 *
 * <p>Text on the hot calls is UTF-8 in a {@code byte[]} with its length (see {@link Utf8}),
 * which costs less than half of what a {@code java.lang.String} costs to cross JNI. Every
 * method throws the exception {@link Errors} maps the core's error to; none lets a Rust panic
 * through (it becomes a {@code RuntimeException} naming it a bug).
 */
final class Native {
    static {
        NativeLoader.load();
    }

    private Native() {}

    // Library.
    static native String coreVersion();

    static native String[] errorKinds();

    // Configuration: source 0 = JSON over the environment, 1 = environment only, 2 = exactly
    // this JSON over the defaults.
    static native void checkConfig(int source, String text);

    // Clients: a pointer that only clientFree releases.
    static native long clientNew(int source, String text, String program);

    static native void clientFree(long client);

    static native boolean clientFlush(long client, long timeoutMillis);

    static native Object[] clientClose(long client, long timeoutMillis);

    static native Object[] clientStats(long client);

    static native boolean clientIsClosed(long client);

    static native void clientEmitJson(long client, String event);

    static native void closeAll(long timeoutMillis);

    // Jobs: handles of the core's job table (stale handles are errors, never a crash).
    static native long jobStart(long client, long parentJob, byte[] spec, int len);

    static native void jobProgress(long job, double percent, byte[] message, int len);

    static native void jobMetric(long job, byte[] name, int len, double value);

    static native void jobLog(long job, int level, byte[] message, int len);

    static native void jobHeartbeat(long job);

    static native void jobEnd(long job, int how, byte[] message, int len);

    /** The core's release (a running job records "dropped without finish"): the vectors' drop. */
    static native boolean jobRelease(long job);

    static native void jobAbandon(long job);

    static native String jobId(long job);

    // The core's checker of the shared conformance vectors (used by the test suite).
    static native String conformanceConfig(String dir, String scenarioConfigJson);

    static native void conformanceCheckError(String kind, String message, String expectedJson);

    static native void conformanceCheckEvents(
            String dataDir, String expectJson, String[] aliases, String[] ids);

    static native String convertLegacy(String legacyJson, String defaultsJson);
}
