package io.wafermon;

/** An event, or an argument that becomes part of one (a metric name, a progress value, an attribute), is invalid; the message and {@link #path()} name the field. */
public class InvalidEventException extends IllegalArgumentException implements WafermonError {
    private static final long serialVersionUID = 1L;
    private final String path;

    public InvalidEventException(String message, String path) {
        super(message);
        this.path = path;
    }

    @Override
    public String kind() {
        return "invalid_event";
    }

    @Override
    public String path() {
        return path;
    }
}
