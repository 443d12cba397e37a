package io.wafermon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Java -> wafermon-sidecar -> wafermon-gateway (its embedded SQLite store), read back through
 * the gateway's API: the real binaries of the workspace, with tokens on every hop. A missing
 * binary fails the test (with the command that builds it); it is never skipped.
 */
class HostsRoundTripTest {
    /** How long a host may take to start or to show what it was sent (a deadline, not a measure). */
    private static final Duration PATIENCE = Duration.ofSeconds(60);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @TempDir Path dir;
    private final List<Host> hosts = new ArrayList<>();
    private final String site = "java-" + UUID.randomUUID().toString().substring(0, 8);
    private final String sidecarToken = "sidecar-" + UUID.randomUUID();
    private final String ingestToken = "ingest-" + UUID.randomUUID();
    private final String readToken = "read-" + UUID.randomUUID();

    @AfterEach
    void stopHosts() {
        List<Host> started = new ArrayList<>(hosts);
        Collections.reverse(started);
        for (Host host : started) {
            host.stop();
        }
    }

    @Test
    void aLotWithWaferSubjobsGoesThroughTheSidecarToTheGatewayWithItsLinksAndStatuses() throws Exception {
        Host gateway = startGateway();
        assertTrue(gateway.rest.contains("sqlite"), "the gateway's default store: " + gateway.rest);
        assertTrue(Files.exists(dir.resolve("gateway/wafermon-data/gateway.sqlite3")),
                "the embedded store lives under the gateway's working folder");
        Host sidecar = startSidecar(gateway.url, "127.0.0.1:0");

        String lotId;
        Map<String, String> waferIds = new LinkedHashMap<>();
        String failedLotId;
        Stats stats;
        try (Client client = new Client(appConfig(sidecar.url))) {
            lotId = client.call(client.job("lot-inspection").kind("lot").key("LOT-7").attr("recipe", "R7"), lot -> {
                for (int n = 1; n <= 5; n++) {
                    int wafer = n;
                    try {
                        client.run(lot.subjob("wafer-" + wafer).kind("wafer").key("LOT-7.W" + wafer), w -> {
                            waferIds.put(w.id(), "wafer-" + wafer);
                            w.progress(50, "inspect");
                            w.metric("defects", wafer);
                            if (wafer == 4) {
                                throw new IllegalStateException("reticle misaligned");
                            }
                        });
                    } catch (IllegalStateException expected) {
                        // Recorded as the wafer's failure; the lot goes on.
                    }
                }
                // Started inside run on this thread: a subjob of the lot without naming it.
                Job held = client.job("wafer-6").kind("wafer").key("LOT-7.W6").start();
                waferIds.put(held.id(), "wafer-6");
                held.cancel("lot on hold");
                lot.progress(100, "inspected");
                return lot.id();
            });
            String[] failed = new String[1];
            java.io.IOException thrown = assertThrows(java.io.IOException.class,
                    () -> client.run(client.job("lot-inspection").kind("lot").key("LOT-8"), lot -> {
                        failed[0] = lot.id();
                        throw new java.io.IOException("tool offline");
                    }));
            assertEquals("tool offline", thrown.getMessage());
            failedLotId = failed[0];
            stats = client.close(Duration.ofSeconds(30));
        }
        // started + 5 x (started, progress, metric, ending) + (started, canceled) + progress + finished,
        // then LOT-8's started and failed.
        assertEquals(27, stats.emitted(), stats.toString());
        assertEquals(0, stats.pending(), stats.toString());
        assertEquals(0, stats.dropped(), stats.toString());
        Stats.Backend toSidecar = stats.backends().get(0);
        assertEquals("sidecar", toSidecar.kind());
        assertEquals(27, toSidecar.sent(), stats.toString());

        List<JsonNode> lots = await(gateway, "/v1/jobs?kind=lot&site=" + site,
                jobs -> jobs.size() == 2 && jobs.stream().allMatch(j -> !j.get("status").asText().equals("running")));
        Map<String, JsonNode> lotsById = byId(lots);
        assertEquals("succeeded", lotsById.get(lotId).get("status").asText());
        assertEquals("LOT-7", lotsById.get(lotId).get("key").asText());
        assertEquals("java-litho", lotsById.get(lotId).get("app").asText());
        assertTrue(lotsById.get(lotId).get("parent").isNull());
        assertEquals("failed", lotsById.get(failedLotId).get("status").asText());
        assertEquals("java.io.IOException: tool offline", lotsById.get(failedLotId).get("message").asText());

        List<JsonNode> wafers = await(gateway, "/v1/jobs?site=" + site + "&parent=" + lotId,
                jobs -> jobs.size() == 6 && jobs.stream().allMatch(j -> !j.get("status").asText().equals("running")));
        assertEquals(waferIds.keySet(), byId(wafers).keySet());
        for (JsonNode wafer : wafers) {
            String name = waferIds.get(wafer.get("id").asText());
            assertEquals(name, wafer.get("name").asText());
            assertEquals("wafer", wafer.get("kind").asText());
            assertEquals(lotId, wafer.get("parent").asText());
            switch (name) {
                case "wafer-4":
                    assertEquals("failed", wafer.get("status").asText());
                    assertEquals("java.lang.IllegalStateException: reticle misaligned", wafer.get("message").asText());
                    break;
                case "wafer-6":
                    assertEquals("canceled", wafer.get("status").asText());
                    assertEquals("lot on hold", wafer.get("message").asText());
                    break;
                default:
                    assertEquals("succeeded", wafer.get("status").asText(), wafer.toString());
                    assertEquals(4, wafer.get("event_count").asInt(), wafer.toString());
            }
        }

        JsonNode detail = get(gateway, "/v1/jobs/" + lotId + "?site=" + site);
        assertEquals(6, detail.get("subtree").size());
        List<String> kinds = new ArrayList<>();
        for (JsonNode event : detail.get("events")) {
            kinds.add(event.get("kind").asText());
            assertEquals(site, event.get("site").asText());
            assertEquals("java-litho", event.at("/app/name").asText());
            assertEquals("LOT-7", event.at("/entity/key").asText());
        }
        assertEquals(Arrays.asList("started", "progress", "finished"), kinds);
        assertEquals("R7", detail.get("events").get(0).at("/attrs/recipe").asText());
    }

    @Test
    void theReadApiRefusesARequestWithoutItsToken() throws Exception {
        Host gateway = startGateway();
        HttpResponse<String> anonymous = HTTP.send(
                HttpRequest.newBuilder(URI.create(gateway.url + "/v1/jobs")).timeout(PATIENCE).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(401, anonymous.statusCode(), anonymous.body());
    }

    @Test
    void whatARunSpooledWhileTheSidecarWasDownReachesTheGatewayFromTheNextRun() throws Exception {
        Host gateway = startGateway();
        int port = freePort();
        String sidecarUrl = "http://127.0.0.1:" + port;
        // The first run is a process of its own, as a restarted application is: its spool slot
        // is free for the next run once it has exited.
        String firstRun = runJava(FirstRun.class, site, sidecarUrl, sidecarToken, dir.resolve("app-spool").toString());
        String lotId = firstRun.trim().split(" ")[0];
        assertEquals(lotId + " emitted=4 sent=0 dropped=0", firstRun.trim(), "nothing listens yet");

        startSidecar(gateway.url, "127.0.0.1:" + port);
        // The next run adopts the spool the first one left and delivers it too.
        try (Client client = new Client(appConfig(site, sidecarUrl, sidecarToken, dir.resolve("app-spool")))) {
            client.run(client.job("lot-inspection").kind("lot").key("LOT-10"), lot -> lot.progress(100));
            Stats stats = client.close(Duration.ofSeconds(30));
            assertEquals(0, stats.pending(), stats.toString());
        }
        List<JsonNode> lots = await(gateway, "/v1/jobs?kind=lot&site=" + site,
                jobs -> jobs.size() == 2 && jobs.stream().allMatch(j -> j.get("status").asText().equals("succeeded")));
        assertEquals("LOT-9", byId(lots).get(lotId).get("key").asText(), lots.toString());
        List<JsonNode> wafers = await(gateway, "/v1/jobs?site=" + site + "&parent=" + lotId,
                jobs -> jobs.size() == 1 && jobs.get(0).get("status").asText().equals("succeeded"));
        assertEquals("wafer-1", wafers.get(0).get("name").asText());
    }

    /** The first run of the test above: a lot sent to a sidecar that is not there yet. */
    static final class FirstRun {
        public static void main(String[] args) {
            Client client = new Client(appConfig(args[0], args[1], args[2], Paths.get(args[3])));
            String lotId = client.call(client.job("lot-inspection").kind("lot").key("LOT-9"), lot -> {
                lot.subjob("wafer-1").kind("wafer").start().finish();
                return lot.id();
            });
            Stats stats = client.close(Duration.ofSeconds(1));
            System.out.println(lotId + " emitted=" + stats.emitted() + " sent=" + stats.backends().get(0).sent()
                    + " dropped=" + stats.dropped());
        }
    }

    /** Run {@code main} in a JVM of its own with this test's class path; its standard output. */
    private String runJava(Class<?> main, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        if (Runtime.version().feature() >= 24) {
            command.add("--enable-native-access=ALL-UNNAMED");
        }
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(Arrays.asList(args));
        Path out = dir.resolve(main.getSimpleName() + ".out");
        Path err = dir.resolve(main.getSimpleName() + ".err");
        ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile());
        builder.environment().keySet().removeIf(k -> k.startsWith("WAFERMON_"));
        Process process = builder.start();
        if (!process.waitFor(PATIENCE.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly().waitFor();
            fail(main.getSimpleName() + " did not end within " + PATIENCE);
        }
        String stderr = new String(Files.readAllBytes(err), StandardCharsets.UTF_8);
        assertEquals(0, process.exitValue(), main.getSimpleName() + " failed:\n" + stderr);
        return new String(Files.readAllBytes(out), StandardCharsets.UTF_8);
    }

    // -----------------------------------------------------------------------------------
    // The hosts

    private Host startGateway() throws IOException {
        Path cwd = Files.createDirectories(dir.resolve("gateway"));
        Map<String, String> env = new HashMap<>();
        env.put("WAFERMON_GATEWAY_INGEST_TOKEN", ingestToken);
        env.put("WAFERMON_GATEWAY_READ_TOKEN", readToken);
        // No --database-url: the embedded SQLite store under ./wafermon-data.
        return start("wafermon-gateway", Arrays.asList("--listen", "127.0.0.1:0"), cwd, env);
    }

    private Host startSidecar(String gatewayUrl, String listen) throws IOException {
        Path cwd = Files.createDirectories(dir.resolve("sidecar"));
        Map<String, Object> toGateway = new LinkedHashMap<>();
        toGateway.put("type", "managed_api");
        toGateway.put("name", "gateway");
        toGateway.put("url", gatewayUrl);
        toGateway.put("token", ingestToken);
        toGateway.put("timeout", 5);
        toGateway.put("retries", 1);
        Map<String, Object> ingest = new LinkedHashMap<>();
        ingest.put("token", sidecarToken);
        ingest.put("flush_interval", 0.05);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("ingest", ingest);
        config.put("backends", Collections.singletonList(toGateway));
        config.put("spool", Collections.singletonMap("path", cwd.resolve("spool").toString()));
        config.put("app", Collections.singletonMap("name", "wafermon-sidecar"));
        Path file = cwd.resolve("sidecar.json");
        Files.write(file, Json.write(config).getBytes(StandardCharsets.UTF_8));
        return start("wafermon-sidecar", Arrays.asList("--config", file.toString(), "--listen", listen), cwd,
                Collections.emptyMap());
    }

    private Config appConfig(String sidecarUrl) {
        return appConfig(site, sidecarUrl, sidecarToken, dir.resolve("app-spool"));
    }

    /** The application's config: sidecar mode with the sidecar's token, a spool of its own. */
    static Config appConfig(String site, String sidecarUrl, String sidecarToken, Path spool) {
        return Config.builder()
                .app("java-litho")
                .appVersion("3.0")
                .site(site)
                .instance("java-1")
                .sidecar(sidecarUrl)
                .set("sidecar.token", sidecarToken)
                .spool(spool)
                .set("batch.flush_interval", 0.05)
                .build();
    }

    private Host start(String name, List<String> args, Path cwd, Map<String, String> env) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(binary(name).toString());
        command.addAll(args);
        Host host = new Host(name, command, cwd, env);
        hosts.add(host);
        host.awaitListening();
        return host;
    }

    /** Where the workspace's binaries are: WAFERMON_BIN_DIR (property or variable), else target/debug. */
    static Path binary(String name) {
        String given = System.getProperty("wafermon.bin.dir", System.getenv("WAFERMON_BIN_DIR"));
        Path binDir = given != null && !given.isEmpty()
                ? Paths.get(given)
                : Events.repo().resolve("target/debug");
        Path bin = binDir.toAbsolutePath().normalize().resolve(name);
        if (!Files.isExecutable(bin)) {
            fail(bin + " is missing: build the hosts at the repository root with"
                    + " `cargo build -p wafermon-sidecar -p wafermon-gateway`, or point WAFERMON_BIN_DIR at the"
                    + " folder that holds wafermon-sidecar and wafermon-gateway");
        }
        return bin;
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** A host process: ready once it printed "NAME listening on ADDR"; stopped by {@link #stop}. */
    static final class Host {
        final String name;
        final Process process;
        final Path stderr;
        final BlockingQueue<String> stdout = new LinkedBlockingQueue<>();
        String url;
        /** What follows the address on the listening line (the gateway's store). */
        String rest = "";

        Host(String name, List<String> command, Path cwd, Map<String, String> env) throws IOException {
            this.name = name;
            this.stderr = cwd.resolve(name + ".stderr");
            ProcessBuilder builder = new ProcessBuilder(command).directory(cwd.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Paths.get("/dev/null").toFile()))
                    .redirectError(stderr.toFile());
            // The runner's own WAFERMON_* settings (tokens, configs) would change what is tested.
            builder.environment().keySet().removeIf(k -> k.startsWith("WAFERMON_"));
            builder.environment().putAll(env);
            process = builder.start();
            Thread drain = new Thread(this::drain, name + "-stdout");
            drain.setDaemon(true);
            drain.start();
        }

        private void drain() {
            // Keeps reading to the end so the host never blocks on a full pipe.
            try (BufferedReader lines = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    stdout.add(line);
                }
            } catch (IOException closed) {
                // The process ended.
            }
        }

        void awaitListening() throws IOException {
            String prefix = name + " listening on ";
            String line = null;
            try {
                line = stdout.poll(PATIENCE.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (line == null || !line.startsWith(prefix)) {
                stop();
                fail(name + " did not start (first line " + line + "), stderr:\n" + stderrText());
            }
            String[] parts = line.substring(prefix.length()).split(" ", 2);
            url = "http://" + parts[0];
            rest = parts.length > 1 ? parts[1] : "";
        }

        String stderrText() {
            try {
                return new String(Files.readAllBytes(stderr), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "(no stderr: " + e + ")";
            }
        }

        void stop() {
            if (!process.isAlive()) {
                return;
            }
            process.destroy();
            try {
                if (!process.waitFor(15, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(15, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // The gateway's read API

    private JsonNode get(Host gateway, String pathAndQuery) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create(gateway.url + pathAndQuery))
                .header("Authorization", "Bearer " + readToken)
                .timeout(PATIENCE)
                .build();
        HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), pathAndQuery + ": " + response.body());
        return Events.JSON.readTree(response.body());
    }

    /** The jobs of one page of {@code /v1/jobs}, polled until {@code done} holds or the deadline passes. */
    private List<JsonNode> await(Host gateway, String pathAndQuery, Predicate<List<JsonNode>> done)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        List<JsonNode> jobs = new ArrayList<>();
        while (true) {
            jobs.clear();
            get(gateway, pathAndQuery).get("jobs").forEach(jobs::add);
            if (done.test(jobs)) {
                return jobs;
            }
            if (System.nanoTime() > deadline) {
                fail("the gateway did not show what was sent within " + PATIENCE + " (" + pathAndQuery
                        + "): " + jobs + "\nsidecar/gateway stderr under " + dir);
            }
            Thread.sleep(100);
        }
    }

    private static Map<String, JsonNode> byId(List<JsonNode> jobs) {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        for (JsonNode job : jobs) {
            out.put(job.get("id").asText(), job);
        }
        return out;
    }
}
