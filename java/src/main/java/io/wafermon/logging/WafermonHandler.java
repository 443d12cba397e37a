package io.wafermon.logging;

import io.wafermon.Client;
import io.wafermon.ClosedException;
import io.wafermon.Level;
import io.wafermon.LogEvents;
import java.util.logging.ErrorManager;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.SimpleFormatter;

/**
 * A {@code java.util.logging} handler that sends each record as a wafermon {@code log} event.
 *
 * <pre>{@code
 * Logger.getLogger("").addHandler(new WafermonHandler());
 * client.run(client.job("etch"), job -> log.warning("pump slow to settle")); // a log event of etch
 * }</pre>
 *
 * <p>Inside {@link io.wafermon.Client#run} (on that thread) the event belongs to the current
 * job. Outside any job it belongs to an entity of kind {@code logger} named after the logger,
 * unless {@link #outsideJobs(boolean)} turned that off. The message is the formatted record
 * (without a formatter: the message with its parameters). Never throws into the logging call:
 * problems go to the {@link ErrorManager}, and records logged after the client closed are
 * dropped.
 */
public class WafermonHandler extends Handler {
    /** Only its {@code formatMessage} is used, which keeps no state. */
    private static final Formatter MESSAGE = new SimpleFormatter();

    private final Client client;
    private volatile boolean outsideJobs = true;

    /** Records outside jobs go to the process-wide client ({@link Wafermon#client()}). */
    public WafermonHandler() {
        this(null);
    }

    public WafermonHandler(Client client) {
        this.client = client;
    }

    /** Whether records logged outside any job are sent (as entity kind {@code logger}). */
    public WafermonHandler outsideJobs(boolean send) {
        this.outsideJobs = send;
        return this;
    }

    @Override
    public void publish(LogRecord record) {
        if (record == null || !isLoggable(record)) {
            return;
        }
        try {
            LogEvents.send(client, outsideJobs, Level.of(record.getLevel()), text(record), record.getLoggerName());
        } catch (ClosedException closed) {
            // After the client closed (at shutdown): nothing left to send to.
        } catch (RuntimeException e) {
            reportError("wafermon could not record a log record", e, ErrorManager.WRITE_FAILURE);
        }
    }

    private String text(LogRecord record) {
        Formatter formatter = getFormatter();
        if (formatter != null) {
            return formatter.format(record);
        }
        String message = MESSAGE.formatMessage(record);
        Throwable thrown = record.getThrown();
        return thrown == null ? message : message + " (" + thrown + ")";
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
}
