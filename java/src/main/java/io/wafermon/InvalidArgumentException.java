package io.wafermon;

/** An argument that is not part of an event cannot be used: a job that never started, a handle that is no longer live, an unusable option. */
public class InvalidArgumentException extends IllegalArgumentException implements WafermonError {
    private static final long serialVersionUID = 1L;
    private final String path;

    public InvalidArgumentException(String message, String path) {
        super(message);
        this.path = path;
    }

    @Override
    public String kind() {
        return "invalid_argument";
    }

    @Override
    public String path() {
        return path;
    }
}
