package io.wafermon;

/**
 * What every exception wafermon throws has in common, whatever JDK exception it extends:
 * the core's error {@link #kind()} and, for invalid configuration or events, the JSON
 * {@link #path()} of the offending field. {@link Errors} lists which exception each kind is.
 */
public interface WafermonError {
    /** The core's error kind: {@code invalid_config}, {@code closed}, {@code timeout}, ... */
    String kind();

    /** The JSON path of the field at fault ({@code batch.max_events}), or null. */
    String path();
}
