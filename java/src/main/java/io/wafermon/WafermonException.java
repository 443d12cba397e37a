package io.wafermon;

/** The base of wafermon's exceptions that have no closer JDK counterpart. */
public class WafermonException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public WafermonException(String message) {
        super(message);
    }
}
