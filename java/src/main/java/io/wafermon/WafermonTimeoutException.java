package io.wafermon;

/** A flush or close did not finish within its timeout (nothing is lost: what is left stays queued or spooled). */
public class WafermonTimeoutException extends WafermonException implements WafermonError {
    private static final long serialVersionUID = 1L;
    private final String path;

    public WafermonTimeoutException(String message, String path) {
        super(message);
        this.path = path;
    }

    @Override
    public String kind() {
        return "timeout";
    }

    @Override
    public String path() {
        return path;
    }
}
