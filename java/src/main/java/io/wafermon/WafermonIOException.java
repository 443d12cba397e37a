package io.wafermon;

/** A local I/O operation (the spool, the file backend) failed. */
public class WafermonIOException extends java.io.UncheckedIOException implements WafermonError {
    private static final long serialVersionUID = 1L;
    private final String path;

    public WafermonIOException(String message, String path) {
        super(message, new java.io.IOException(message));
        this.path = path;
    }

    @Override
    public String kind() {
        return "io";
    }

    @Override
    public String path() {
        return path;
    }
}
