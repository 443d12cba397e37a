package io.wafermon.logback;

import static io.wafermon.logback.Jsonl.describeAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.PatternLayout;
import ch.qos.logback.core.status.Status;
import io.wafermon.Client;
import io.wafermon.Wafermon;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The appender as src/test/resources/logback-test.xml configures it, used through SLF4J. */
class WafermonAppenderXmlTest {
    @TempDir Path dir;

    @Test
    void theXmlConfigurationStartsBothAppendersWithTheirSettings() {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        WafermonAppender plain = (WafermonAppender) context.getLogger("xml.plain").getAppender("WAFERMON");
        WafermonAppender jobsOnly =
                (WafermonAppender) context.getLogger("xml.jobsonly").getAppender("WAFERMON_JOBS_ONLY");
        // What configuring reported (other tests' appenders of their own report to this context too).
        List<String> problems = context.getStatusManager().getCopyOfStatusList().stream()
                .filter(s -> s.getEffectiveLevel() >= Status.WARN)
                .filter(s -> !(s.getOrigin() instanceof WafermonAppender) || s.getOrigin() == plain
                        || s.getOrigin() == jobsOnly)
                .map(Status::toString)
                .collect(Collectors.toList());
        assertEquals(Collections.emptyList(), problems);

        assertNotNull(plain, "logback-test.xml was not read");
        assertTrue(plain.isStarted());
        assertTrue(plain.isOutsideJobs());
        assertEquals(null, plain.getClient());
        assertEquals(null, plain.getLayout());

        assertTrue(jobsOnly.isStarted());
        assertFalse(jobsOnly.isOutsideJobs());
        assertEquals("[%level] %msg", ((PatternLayout) jobsOnly.getLayout()).getPattern());
        assertTrue(jobsOnly.getLayout().isStarted());
    }

    @Test
    void eventsThroughSlf4jReachTheProcessWideClient() {
        Logger plain = LoggerFactory.getLogger("xml.plain");
        Logger jobsOnly = LoggerFactory.getLogger("xml.jobsonly");
        String jobId;
        Client client = Wafermon.init(Jsonl.filesConfig(dir));
        try {
            plain.trace("tracing");
            plain.info("outside");
            jobsOnly.info("outside, not sent");
            jobId = client.call(client.job("etch"), job -> {
                plain.warn("inside");
                jobsOnly.error("in job {}", "etch");
                jobsOnly.debug("below the logger's level");
                return job.id();
            });
        } finally {
            Wafermon.shutdown(Duration.ofSeconds(10));
        }
        assertEquals(Arrays.asList(
                "logger/xml.plain debug: tracing",
                "logger/xml.plain info: outside",
                "job/" + jobId + " warning: inside",
                "job/" + jobId + " error: [ERROR] in job etch"), describeAll(Jsonl.logs(dir)));
    }
}
