package io.wafermon.logback;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.core.Layout;
import ch.qos.logback.core.UnsynchronizedAppenderBase;
import io.wafermon.Client;
import io.wafermon.ClosedException;
import io.wafermon.Level;
import io.wafermon.LogEvents;

/**
 * A Logback appender that sends each logging event as a wafermon {@code log} event.
 *
 * <pre>{@code
 * <appender name="WAFERMON" class="io.wafermon.logback.WafermonAppender">
 *   <outsideJobs>true</outsideJobs>   <!-- optional, true by default -->
 *   <layout class="ch.qos.logback.classic.PatternLayout">   <!-- optional -->
 *     <pattern>%msg</pattern>
 *   </layout>
 * </appender>
 * <root level="INFO"><appender-ref ref="WAFERMON"/></root>
 * }</pre>
 *
 * <p>Inside {@link Client#run} or {@link Client#call} (on that thread) the event belongs to
 * the current job ({@link Job#current()}). Outside any job it belongs to an entity of kind
 * {@code logger} named after the logger, unless {@code outsideJobs} is false. Levels: TRACE
 * and DEBUG are {@code debug}, INFO {@code info}, WARN {@code warning}, ERROR {@code error}.
 * The message is the layout's text when one is set, otherwise the formatted message with the
 * exception's class and message in brackets.
 *
 * <p>Events outside jobs go to the client given to {@link #setClient} or, without one, to the
 * process-wide client ({@link Wafermon#client()}), looked up per event so that {@link
 * Wafermon#init} may come after Logback's configuration.
 *
 * <p>Appending never blocks on a backend (the client queues) and never throws into the
 * logging call: problems go to Logback's status messages, and events logged after the client
 * closed are dropped. Do not wrap it in an {@code AsyncAppender}: the current job is per
 * thread, and the async worker's thread has none.
 */
public class WafermonAppender extends UnsynchronizedAppenderBase<ILoggingEvent> {
    private volatile Client client;
    private volatile boolean outsideJobs = true;
    private volatile Layout<ILoggingEvent> layout;

    /** Events outside jobs go to the process-wide client (or one given to {@link #setClient}). */
    public WafermonAppender() {}

    public WafermonAppender(Client client) {
        this.client = client;
    }

    /** The client for events outside jobs (null: the process-wide one). */
    public void setClient(Client client) {
        this.client = client;
    }

    public Client getClient() {
        return client;
    }

    /** Whether events logged outside any job are sent (as entity kind {@code logger}). */
    public void setOutsideJobs(boolean send) {
        this.outsideJobs = send;
    }

    public boolean isOutsideJobs() {
        return outsideJobs;
    }

    /** How the message is written (null: the formatted message, as above). */
    public void setLayout(Layout<ILoggingEvent> layout) {
        this.layout = layout;
    }

    public Layout<ILoggingEvent> getLayout() {
        return layout;
    }

    @Override
    protected void append(ILoggingEvent event) {
        if (event == null) {
            return;
        }
        try {
            LogEvents.send(client, outsideJobs, level(event.getLevel()), text(event), event.getLoggerName());
        } catch (ClosedException closed) {
            // After the client closed (at shutdown): nothing left to send to.
        } catch (RuntimeException e) {
            addError("wafermon could not record a logging event of " + event.getLoggerName(), e);
        }
    }

    /** TRACE and DEBUG: debug; INFO: info; WARN: warning; ERROR: error. */
    static Level level(ch.qos.logback.classic.Level level) {
        switch (level.toInt()) {
            case ch.qos.logback.classic.Level.ERROR_INT:
                return Level.ERROR;
            case ch.qos.logback.classic.Level.WARN_INT:
                return Level.WARNING;
            case ch.qos.logback.classic.Level.INFO_INT:
                return Level.INFO;
            default:
                return Level.DEBUG;
        }
    }

    private String text(ILoggingEvent event) {
        Layout<ILoggingEvent> format = layout;
        if (format != null) {
            return format.doLayout(event);
        }
        String message = event.getFormattedMessage();
        if (message == null) {
            message = "";
        }
        IThrowableProxy thrown = event.getThrowableProxy();
        if (thrown == null) {
            return message;
        }
        String about = thrown.getMessage() == null
                ? thrown.getClassName()
                : thrown.getClassName() + ": " + thrown.getMessage();
        return message + " (" + about + ")";
    }
}
