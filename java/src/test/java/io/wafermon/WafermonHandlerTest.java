package io.wafermon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.wafermon.logging.WafermonHandler;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.logging.ErrorManager;
import java.util.logging.Formatter;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code java.util.logging} handler, read back from the JSONL files a client wrote. */
class WafermonHandlerTest {
    @TempDir Path dir;
    private Logger logger;
    private final List<String> errors = Collections.synchronizedList(new ArrayList<>());
    private final List<Runnable> detachers = new ArrayList<>();

    @BeforeEach
    void freshLogger() {
        // A logger of its own per test (JUL keeps loggers by name), not passing records upward.
        logger = Logger.getLogger("io.wafermon.test.litho-" + UUID.randomUUID());
        logger.setUseParentHandlers(false);
        logger.setLevel(java.util.logging.Level.ALL);
    }

    @AfterEach
    void detach() {
        detachers.forEach(Runnable::run);
    }

    private WafermonHandler attach(WafermonHandler handler) {
        return attach(logger, handler);
    }

    /** Attach {@code handler} to {@code target}, its errors collected in {@link #errors}. */
    private WafermonHandler attach(Logger target, WafermonHandler handler) {
        handler.setErrorManager(new ErrorManager() {
            @Override
            public synchronized void error(String msg, Exception ex, int code) {
                errors.add(msg + ": " + ex);
            }
        });
        target.addHandler(handler);
        detachers.add(() -> target.removeHandler(handler));
        return handler;
    }

    @Test
    void recordsInsideRunBelongToTheCurrentJobOfThatThread() {
        String lotId;
        String waferId;
        try (Client client = new Client(Events.filesConfig(dir))) {
            attach(new WafermonHandler(client));
            String[] ids = new String[2];
            client.run(client.job("expose").kind("lot").key("LOT-1"), lot -> {
                ids[0] = lot.id();
                logger.warning("pump slow to settle");
                client.run(lot.subjob("wafer-1").kind("wafer"), wafer -> {
                    ids[1] = wafer.id();
                    logger.info("aligned");
                });
                logger.log(java.util.logging.Level.INFO, "lot {0} at {1}", new Object[] {"LOT-1", "etch"});
            });
            lotId = ids[0];
            waferId = ids[1];
            client.close(Duration.ofSeconds(10));
        }
        List<JsonNode> logs = Events.ofKind(Events.read(dir), "log");
        assertEquals(3, logs.size(), logs.toString());
        assertLog(logs.get(0), lotId, "lot", "warning", "pump slow to settle");
        assertLog(logs.get(1), waferId, "wafer", "info", "aligned");
        assertLog(logs.get(2), lotId, "lot", "info", "lot LOT-1 at etch");
        assertEquals(Collections.emptyList(), errors);
    }

    @Test
    void recordsOutsideJobsBelongToALoggerEntityNamedAfterTheLogger() throws InterruptedException {
        try (Client client = new Client(Events.filesConfig(dir))) {
            attach(new WafermonHandler(client));
            logger.info("tool T7 online");
            logger.log(java.util.logging.Level.SEVERE, "chamber fault", new IllegalStateException("door open"));
            // Another thread has no current job even while this one runs one.
            client.run(client.job("etch"), job -> {
                Thread other = new Thread(() -> logger.info("from a pool thread"));
                other.start();
                other.join();
            });
            client.close(Duration.ofSeconds(10));
        }
        List<JsonNode> logs = Events.ofKind(Events.read(dir), "log");
        assertEquals(3, logs.size(), logs.toString());
        assertLog(logs.get(0), logger.getName(), "logger", "info", "tool T7 online");
        assertLog(logs.get(1), logger.getName(), "logger", "error",
                "chamber fault (java.lang.IllegalStateException: door open)");
        assertLog(logs.get(2), logger.getName(), "logger", "info", "from a pool thread");
        assertEquals(Collections.emptyList(), errors);
    }

    @Test
    void aRecordWithoutALoggerNameBelongsToTheRootLoggerEntity() {
        Logger anonymous = Logger.getAnonymousLogger();
        anonymous.setUseParentHandlers(false);
        try (Client client = new Client(Events.filesConfig(dir))) {
            attach(anonymous, new WafermonHandler(client));
            anonymous.info("no name");
            client.close(Duration.ofSeconds(10));
        }
        List<JsonNode> logs = Events.ofKind(Events.read(dir), "log");
        assertEquals(1, logs.size(), logs.toString());
        assertLog(logs.get(0), "root", "logger", "info", "no name");
    }

    @Test
    void outsideJobsFalseSendsOnlyTheRecordsOfJobs() {
        String jobId;
        try (Client client = new Client(Events.filesConfig(dir))) {
            attach(new WafermonHandler(client).outsideJobs(false));
            logger.info("not sent");
            jobId = client.call(client.job("etch"), job -> {
                logger.info("sent");
                return job.id();
            });
            logger.severe("not sent either");
            client.close(Duration.ofSeconds(10));
        }
        List<JsonNode> logs = Events.ofKind(Events.read(dir), "log");
        assertEquals(1, logs.size(), logs.toString());
        assertLog(logs.get(0), jobId, "job", "info", "sent");
    }

    @Test
    void levelsMapToTheClosestWafermonLevel() {
        try (Client client = new Client(Events.filesConfig(dir))) {
            attach(new WafermonHandler(client));
            client.run(client.job("levels"), job -> {
                for (java.util.logging.Level level : Arrays.asList(java.util.logging.Level.FINEST,
                        java.util.logging.Level.FINER, java.util.logging.Level.FINE, java.util.logging.Level.CONFIG,
                        java.util.logging.Level.INFO, java.util.logging.Level.WARNING,
                        java.util.logging.Level.SEVERE, new Fatal())) {
                    logger.log(level, level.getName());
                }
            });
            client.close(Duration.ofSeconds(10));
        }
        List<String> levels = Events.ofKind(Events.read(dir), "log").stream()
                .map(e -> e.get("message").asText() + "=" + e.get("level").asText())
                .collect(Collectors.toList());
        assertEquals(Arrays.asList("FINEST=debug", "FINER=debug", "FINE=debug", "CONFIG=debug", "INFO=info",
                "WARNING=warning", "SEVERE=error", "FATAL=critical"), levels);
    }

    @Test
    void theHandlersLevelAndFormatterApply() {
        try (Client client = new Client(Events.filesConfig(dir))) {
            WafermonHandler handler = attach(new WafermonHandler(client));
            handler.setLevel(java.util.logging.Level.WARNING);
            handler.setFormatter(new Formatter() {
                @Override
                public String format(LogRecord record) {
                    return "[" + record.getLevel() + "] " + formatMessage(record);
                }
            });
            logger.info("below the handler's level");
            logger.warning("formatted");
            client.close(Duration.ofSeconds(10));
        }
        List<JsonNode> logs = Events.ofKind(Events.read(dir), "log");
        assertEquals(1, logs.size(), logs.toString());
        assertEquals("[WARNING] formatted", logs.get(0).get("message").asText());
    }

    @Test
    void withoutAClientTheProcessWideOneReceivesTheRecords() {
        Wafermon.init(Events.filesConfig(dir));
        try {
            attach(new WafermonHandler());
            logger.info("to the process-wide client");
        } finally {
            Wafermon.shutdown(Duration.ofSeconds(10));
        }
        List<JsonNode> logs = Events.ofKind(Events.read(dir), "log");
        assertEquals(1, logs.size(), logs.toString());
        assertLog(logs.get(0), logger.getName(), "logger", "info", "to the process-wide client");
    }

    @Test
    void loggingAfterTheClientClosedNeverThrowsAndReportsNothing() {
        Client client = new Client(Events.filesConfig(dir));
        attach(new WafermonHandler(client));
        Job open = client.job("open-at-close").start();
        open.enter();
        try {
            logger.info("before close");
            client.close(Duration.ofSeconds(10));
            // Inside the job that is still current, then outside any job: both dropped quietly.
            logger.info("inside a job after close");
        } finally {
            open.leave();
        }
        logger.severe("outside jobs after close");
        List<JsonNode> logs = Events.ofKind(Events.read(dir), "log");
        assertEquals(1, logs.size(), logs.toString());
        assertEquals("before close", logs.get(0).get("message").asText());
        assertEquals(Collections.emptyList(), errors);
    }

    @Test
    void aRecordTheCoreRefusesGoesToTheErrorManagerNotToTheCaller() throws IOException {
        // An entity id is at most 256 characters: a longer logger name makes an invalid event.
        char[] longName = new char[300];
        Arrays.fill(longName, 'x');
        Logger tooLong = Logger.getLogger(new String(longName));
        tooLong.setUseParentHandlers(false);
        try (Client client = new Client(Events.filesConfig(dir))) {
            attach(tooLong, new WafermonHandler(client));
            tooLong.info("refused");
            client.close(Duration.ofSeconds(10));
        }
        assertEquals(1, errors.size(), errors.toString());
        assertTrue(errors.get(0).contains("wafermon could not record a log record"), errors.toString());
        assertTrue(errors.get(0).contains("InvalidEventException"), errors.toString());
        assertEquals(0, Events.ofKind(Events.read(dir), "log").size());
    }

    private static void assertLog(JsonNode event, String entityId, String entityKind, String level, String message) {
        assertEquals("log", event.get("kind").asText(), event.toString());
        assertEquals(entityId, event.at("/entity/id").asText(), event.toString());
        assertEquals(entityKind, event.at("/entity/kind").asText(), event.toString());
        assertEquals(level, event.get("level").asText(), event.toString());
        assertEquals(message, event.get("message").asText(), event.toString());
    }

    /** A level above SEVERE, as some applications define. */
    private static final class Fatal extends java.util.logging.Level {
        Fatal() {
            super("FATAL", 1100);
        }
    }
}
