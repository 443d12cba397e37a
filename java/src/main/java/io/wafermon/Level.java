package io.wafermon;

/** The level of a job's log event (the schema's {@code level}). */
public enum Level {
    DEBUG,
    INFO,
    WARNING,
    ERROR,
    CRITICAL;

    /** The closest level of a {@code java.util.logging} level (also used for SLF4J levels). */
    public static Level of(java.util.logging.Level level) {
        int v = level.intValue();
        if (v >= 1100) {
            return CRITICAL;
        }
        if (v >= java.util.logging.Level.SEVERE.intValue()) {
            return ERROR;
        }
        if (v >= java.util.logging.Level.WARNING.intValue()) {
            return WARNING;
        }
        if (v >= java.util.logging.Level.INFO.intValue()) {
            return INFO;
        }
        return DEBUG;
    }
}
