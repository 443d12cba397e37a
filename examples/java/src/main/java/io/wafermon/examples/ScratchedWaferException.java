package io.wafermon.examples;

/** A wafer that fails inspection: recorded as its subjob's failure, with this class's name. */
public final class ScratchedWaferException extends Exception {
    private static final long serialVersionUID = 1L;

    public ScratchedWaferException(String message) {
        super(message);
    }
}
