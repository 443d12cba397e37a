package io.wafermon;

/** A backend rejected data or could not be reached. */
public class BackendException extends WafermonException implements WafermonError {
    private static final long serialVersionUID = 1L;
    private final String path;

    public BackendException(String message, String path) {
        super(message);
        this.path = path;
    }

    @Override
    public String kind() {
        return "backend";
    }

    @Override
    public String path() {
        return path;
    }
}
