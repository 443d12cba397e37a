package io.wafermon;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * The one table from the core's error kinds ({@code core/conformance/error_kinds.json}) to
 * Java exceptions. Invalid input is an {@link IllegalArgumentException}, a closed client or
 * ended job an {@link IllegalStateException}, local I/O an {@link java.io.UncheckedIOException};
 * each also implements {@link WafermonError}. The native library throws what {@link
 * #fromCore} makes; the test suite checks the table covers exactly the core's kinds.
 */
public final class Errors {
    static final Map<String, BiFunction<String, String, RuntimeException>> TABLE;

    static {
        Map<String, BiFunction<String, String, RuntimeException>> t = new LinkedHashMap<>();
        t.put("invalid_argument", InvalidArgumentException::new);
        t.put("invalid_config", InvalidConfigException::new);
        t.put("invalid_event", InvalidEventException::new);
        t.put("closed", ClosedException::new);
        t.put("timeout", WafermonTimeoutException::new);
        t.put("io", WafermonIOException::new);
        t.put("backend", BackendException::new);
        TABLE = Collections.unmodifiableMap(t);
    }

    private Errors() {}

    /** The kinds this table maps, in the core's order. */
    public static java.util.Set<String> kinds() {
        return TABLE.keySet();
    }

    /** Called by the native library: the exception for a core error. */
    static RuntimeException fromCore(String kind, String message, String path) {
        BiFunction<String, String, RuntimeException> make = TABLE.get(kind);
        if (make == null) {
            return new WafermonException(message + " (error kind " + kind + ")");
        }
        return make.apply(message, path);
    }
}
