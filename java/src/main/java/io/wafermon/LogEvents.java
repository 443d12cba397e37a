package io.wafermon;

import java.util.Locale;

/**
 * The JSON of a log event outside any job, as the logging integrations ({@link
 * io.wafermon.logging.WafermonHandler}, the Logback appender) send it.
 */
public final class LogEvents {
    private LogEvents() {}

    /** A {@code log} event of the entity {@code {"kind": "logger", "id": logger}}. */
    public static String outsideJob(Level level, String message, String logger) {
        StringBuilder out = new StringBuilder(80 + message.length());
        out.append("{\"kind\":\"log\",\"level\":\"").append(level.name().toLowerCase(Locale.ROOT));
        out.append("\",\"message\":");
        Json.quote(out, message);
        out.append(",\"entity\":{\"kind\":\"logger\",\"id\":");
        Json.quote(out, logger);
        out.append("}}");
        return out.toString();
    }
}
