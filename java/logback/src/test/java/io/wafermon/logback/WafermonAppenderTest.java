package io.wafermon.logback;

import static io.wafermon.logback.Jsonl.describeAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.PatternLayout;
import ch.qos.logback.core.status.Status;
import io.wafermon.Client;
import io.wafermon.Job;
import io.wafermon.Wafermon;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** The appender set up in code, read back from the JSONL files its client wrote. */
class WafermonAppenderTest {
    @TempDir Path dir;
    private final LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    private Logger logger;
    private WafermonAppender appender;

    @BeforeEach
    void freshLogger() {
        logger = context.getLogger("prog.litho-" + UUID.randomUUID());
        logger.setAdditive(false);
        logger.setLevel(Level.TRACE);
    }

    @AfterEach
    void detach() {
        if (appender != null) {
            appender.stop();
        }
        logger.detachAndStopAllAppenders();
    }

    /** A started appender on {@code target} sending outside jobs to {@code client}. */
    private WafermonAppender attach(Logger target, WafermonAppender fresh) {
        fresh.setContext(context);
        fresh.setName("wafermon-" + target.getName());
        fresh.start();
        target.addAppender(fresh);
        appender = fresh;
        return fresh;
    }

    /** The ERROR statuses the appender reported to Logback. */
    private List<String> errors() {
        return context.getStatusManager().getCopyOfStatusList().stream()
                .filter(s -> s.getOrigin() == appender && s.getLevel() == Status.ERROR)
                .map(s -> s.getMessage() + ": " + s.getThrowable())
                .collect(Collectors.toList());
    }

    @Test
    void eventsInsideRunBelongToTheCurrentJobOfThatThread() {
        String[] ids = new String[2];
        try (Client client = new Client(Jsonl.filesConfig(dir))) {
            attach(logger, new WafermonAppender(client));
            client.run(client.job("expose").kind("lot").key("LOT-1"), lot -> {
                ids[0] = lot.id();
                logger.warn("pump slow to settle");
                client.run(lot.subjob("wafer-1").kind("wafer"), wafer -> {
                    ids[1] = wafer.id();
                    logger.info("aligned");
                });
                logger.info("lot {} at {}", "LOT-1", "etch");
            });
            client.close(Duration.ofSeconds(10));
        }
        assertEquals(Arrays.asList(
                "lot/" + ids[0] + " warning: pump slow to settle",
                "wafer/" + ids[1] + " info: aligned",
                "lot/" + ids[0] + " info: lot LOT-1 at etch"), describeAll(Jsonl.logs(dir)));
        assertEquals(Collections.emptyList(), errors());
    }

    @Test
    void eventsOutsideJobsBelongToALoggerEntityNamedAfterTheLogger() throws InterruptedException {
        try (Client client = new Client(Jsonl.filesConfig(dir))) {
            attach(logger, new WafermonAppender(client));
            logger.info("tool T7 online");
            logger.error("chamber fault", new IllegalStateException("door open"));
            // Another thread has no current job even while this one runs one.
            client.run(client.job("etch"), job -> {
                Thread other = new Thread(() -> logger.info("from a pool thread"));
                other.start();
                other.join();
            });
            client.close(Duration.ofSeconds(10));
        }
        String self = "logger/" + logger.getName();
        assertEquals(Arrays.asList(
                self + " info: tool T7 online",
                self + " error: chamber fault (java.lang.IllegalStateException: door open)",
                self + " info: from a pool thread"), describeAll(Jsonl.logs(dir)));
        assertEquals(Collections.emptyList(), errors());
    }

    @Test
    void outsideJobsFalseSendsOnlyTheEventsOfJobs() {
        String jobId;
        try (Client client = new Client(Jsonl.filesConfig(dir))) {
            WafermonAppender jobsOnly = new WafermonAppender(client);
            jobsOnly.setOutsideJobs(false);
            attach(logger, jobsOnly);
            logger.info("not sent");
            jobId = client.call(client.job("etch"), job -> {
                logger.info("sent");
                return job.id();
            });
            logger.error("not sent either");
            client.close(Duration.ofSeconds(10));
        }
        assertEquals(Collections.singletonList("job/" + jobId + " info: sent"), describeAll(Jsonl.logs(dir)));
    }

    @Test
    void levelsMapToWafermonLevels() {
        try (Client client = new Client(Jsonl.filesConfig(dir))) {
            attach(logger, new WafermonAppender(client));
            client.run(client.job("levels"), job -> {
                logger.trace("TRACE");
                logger.debug("DEBUG");
                logger.info("INFO");
                logger.warn("WARN");
                logger.error("ERROR");
            });
            client.close(Duration.ofSeconds(10));
        }
        List<String> levels = Jsonl.logs(dir).stream()
                .map(e -> e.get("message").asText() + "=" + e.get("level").asText())
                .collect(Collectors.toList());
        assertEquals(Arrays.asList("TRACE=debug", "DEBUG=debug", "INFO=info", "WARN=warning", "ERROR=error"), levels);
    }

    @Test
    void aLayoutWritesTheMessage() {
        try (Client client = new Client(Jsonl.filesConfig(dir))) {
            PatternLayout layout = new PatternLayout();
            layout.setContext(context);
            layout.setPattern("%level|%msg");
            layout.start();
            WafermonAppender formatted = new WafermonAppender(client);
            formatted.setLayout(layout);
            attach(logger, formatted);
            logger.warn("pump {}", "P2");
            client.close(Duration.ofSeconds(10));
        }
        assertEquals(Collections.singletonList("logger/" + logger.getName() + " warning: WARN|pump P2"),
                describeAll(Jsonl.logs(dir)));
    }

    @Test
    void withoutAClientTheProcessWideOneReceivesTheEvents() {
        Wafermon.init(Jsonl.filesConfig(dir));
        try {
            attach(logger, new WafermonAppender());
            logger.info("to the process-wide client");
        } finally {
            Wafermon.shutdown(Duration.ofSeconds(10));
        }
        assertEquals(Collections.singletonList("logger/" + logger.getName() + " info: to the process-wide client"),
                describeAll(Jsonl.logs(dir)));
    }

    @Test
    void loggingAfterTheClientClosedNeverThrowsAndReportsNothing() {
        Client client = new Client(Jsonl.filesConfig(dir));
        attach(logger, new WafermonAppender(client));
        client.run(client.job("open-at-close"), job -> {
            logger.info("before close");
            client.close(Duration.ofSeconds(10));
            // Inside the job that is still current: dropped quietly.
            logger.info("inside a job after close");
        });
        logger.error("outside jobs after close");
        assertEquals(Collections.singletonList("before close"),
                Jsonl.logs(dir).stream().map(e -> e.get("message").asText()).collect(Collectors.toList()));
        assertEquals(Collections.emptyList(), errors());
    }

    @Test
    void anEventTheCoreRefusesBecomesALogbackErrorNotAnException() {
        // An entity id is at most 256 characters: a longer logger name makes an invalid event.
        char[] longName = new char[300];
        Arrays.fill(longName, 'x');
        Logger tooLong = context.getLogger(new String(longName));
        tooLong.setAdditive(false);
        tooLong.setLevel(Level.INFO);
        try (Client client = new Client(Jsonl.filesConfig(dir))) {
            attach(tooLong, new WafermonAppender(client));
            try {
                tooLong.info("refused");
            } finally {
                tooLong.detachAndStopAllAppenders();
            }
            client.close(Duration.ofSeconds(10));
        }
        List<String> errors = errors();
        assertEquals(1, errors.size(), errors.toString());
        assertTrue(errors.get(0).startsWith("wafermon could not record a logging event of xxx"), errors.toString());
        assertTrue(errors.get(0).contains("InvalidEventException"), errors.toString());
        assertEquals(0, Jsonl.logs(dir).size());
    }

    @Test
    void noJobIsCurrentOutsideRun() {
        // The appender's choice rests on this: a job started without run is not current.
        try (Client client = new Client(Jsonl.filesConfig(dir))) {
            attach(logger, new WafermonAppender(client));
            try (Job job = client.job("not-current").start()) {
                logger.info("outside");
                job.finish();
            }
            client.close(Duration.ofSeconds(10));
        }
        assertEquals(Collections.singletonList("logger/" + logger.getName() + " info: outside"),
                describeAll(Jsonl.logs(dir)));
    }
}
