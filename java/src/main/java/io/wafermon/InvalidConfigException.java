package io.wafermon;

/** A configuration value is missing, of the wrong type or out of range; the message and {@link #path()} name its JSON path ({@code invalid config at batch.max_events: ...}). */
public class InvalidConfigException extends IllegalArgumentException implements WafermonError {
    private static final long serialVersionUID = 1L;
    private final String path;

    public InvalidConfigException(String message, String path) {
        super(message);
        this.path = path;
    }

    @Override
    public String kind() {
        return "invalid_config";
    }

    @Override
    public String path() {
        return path;
    }
}
