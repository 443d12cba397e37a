package io.wafermon;

/** The client is closed, or the job has already ended: nothing more is accepted. */
public class ClosedException extends IllegalStateException implements WafermonError {
    private static final long serialVersionUID = 1L;
    private final String path;

    public ClosedException(String message, String path) {
        super(message);
        this.path = path;
    }

    @Override
    public String kind() {
        return "closed";
    }

    @Override
    public String path() {
        return path;
    }
}
