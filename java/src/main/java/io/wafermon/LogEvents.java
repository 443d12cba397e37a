package io.wafermon;

import java.util.Locale;
import java.util.Optional;

/**
 * The JSON of a log event outside any job, as the logging integrations ({@link
 * io.wafermon.logging.WafermonHandler}, the Logback appender) send it.
 */
public final class LogEvents {
    private LogEvents() {}

    /**
     * Where a logging integration's record goes: a {@code log} event of the current job (see
     * {@link Job#current()}), or else, when {@code outsideJobs}, a {@code log} event of the
     * logger (named {@code root} when it has no name) on {@code client} (null: the
     * process-wide one). A {@link ClosedException} means the client has closed.
     */
    public static void send(Client client, boolean outsideJobs, Level level, String message, String logger) {
        Optional<Job> job = Job.current();
        if (job.isPresent() && !job.get().isEnded()) {
            job.get().log(level, message);
        } else if (outsideJobs) {
            Client target = client != null ? client : Wafermon.client();
            String name = logger == null || logger.isEmpty() ? "root" : logger;
            target.emitJson(outsideJob(level, message, name));
        }
    }

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
