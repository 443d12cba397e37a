package io.wafermon;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A client's configuration: the core's schema ({@code core/schema/config.v1.schema.json}),
 * with the core's precedence: what is given here, then the file named by {@code
 * WAFERMON_CONFIG}, then {@code WAFERMON_*} variables, then the defaults (direct to JSONL
 * files under {@code ./wafermon-data}). Every factory checks the result at once: a bad value
 * is an {@link InvalidConfigException} naming its JSON path.
 *
 * <pre>{@code
 * Config config = Config.builder().app("lot-dispatch").site("fab7").sidecar("http://127.0.0.1:17000").build();
 * Config same = Config.fromJson("{\"app\": {\"name\": \"lot-dispatch\", \"site_id\": \"fab7\"}, ...}");
 * }</pre>
 */
public final class Config {
    static final int OVER_ENVIRONMENT = 0;
    static final int ENVIRONMENT = 1;
    static final int EXACT = 2;

    /** How long the JVM's shutdown hook waits for delivery unless told otherwise. */
    public static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(5);

    final int source;
    final String json;
    final Duration shutdownTimeout;

    private Config(int source, String json, Duration shutdownTimeout) {
        this.source = source;
        this.json = json;
        this.shutdownTimeout = shutdownTimeout;
    }

    /** A configuration from this source, checked now. */
    private static Config checked(int source, String json, Duration shutdownTimeout) {
        Native.checkConfig(source, json);
        return new Config(source, json, shutdownTimeout);
    }

    /** A JSON object, over the {@code WAFERMON_CONFIG} file, the variables and the defaults. */
    public static Config fromJson(String json) {
        return checked(OVER_ENVIRONMENT, Objects.requireNonNull(json, "json"), DEFAULT_SHUTDOWN_TIMEOUT);
    }

    /** A JSON file, read now, over the environment like {@link #fromJson}. */
    public static Config fromFile(Path path) {
        Objects.requireNonNull(path, "path");
        String text;
        try {
            text = new String(Files.readAllBytes(path), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the wafermon config " + path, e);
        }
        return fromJson(text);
    }

    /** The {@code WAFERMON_CONFIG} file, the {@code WAFERMON_*} variables and the defaults. */
    public static Config fromEnv() {
        return checked(ENVIRONMENT, null, DEFAULT_SHUTDOWN_TIMEOUT);
    }

    /** Exactly this JSON over the defaults, ignoring the environment (for tests). */
    static Config exactly(String json) {
        return checked(EXACT, json, DEFAULT_SHUTDOWN_TIMEOUT);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** This configuration with another wait for the JVM's shutdown hook. */
    public Config withShutdownTimeout(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            throw new InvalidArgumentException("shutdown timeout must not be negative: " + timeout, null);
        }
        return new Config(source, json, timeout);
    }

    /** How long the JVM's shutdown hook waits for this client's delivery. */
    public Duration shutdownTimeout() {
        return shutdownTimeout;
    }

    /** Never shows the JSON: it may hold tokens. */
    @Override
    public String toString() {
        String from = source == ENVIRONMENT ? "environment" : "JSON of " + json.length() + " chars";
        return "Config(" + from + ", shutdown timeout " + shutdownTimeout + ")";
    }

    /**
     * Builds the JSON object of {@link #fromJson}. Setters for the common keys; {@link
     * #set(String, Object)} reaches any other by its dotted path.
     */
    public static final class Builder {
        private final Map<String, Object> root = new LinkedHashMap<>();
        private final List<Object> backends = new ArrayList<>();
        private Duration shutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT;

        private Builder() {}

        /** {@code app.name}: the application's name (default: the main class or jar). */
        public Builder app(String name) {
            return set("app.name", name);
        }

        public Builder appVersion(String version) {
            return set("app.version", version);
        }

        /** {@code app.site_id}: the fab or site. */
        public Builder site(String siteId) {
            return set("app.site_id", siteId);
        }

        public Builder instance(String instanceId) {
            return set("app.instance_id", instanceId);
        }

        /** Send to a local sidecar at {@code url} ({@code mode: sidecar}). */
        public Builder sidecar(String url) {
            set("mode", "sidecar");
            return set("sidecar.url", url);
        }

        /** Add a direct backend writing JSONL files under {@code dir} ({@code mode: direct}). */
        public Builder filesystem(Path dir) {
            Map<String, Object> backend = new LinkedHashMap<>();
            backend.put("type", "filesystem");
            backend.put("path", dir.toString());
            backends.add(backend);
            return set("mode", "direct");
        }

        /** Add a direct backend given as a JSON object ({@code {"type": "s3", ...}}). */
        public Builder backend(String json) {
            backends.add(new Json.RawJson(Objects.requireNonNull(json, "json")));
            return set("mode", "direct");
        }

        /** The spool folder (what is not delivered yet survives restarts there). */
        public Builder spool(Path dir) {
            return set("spool.path", dir.toString());
        }

        public Builder shutdownTimeout(Duration timeout) {
            this.shutdownTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /**
         * Any key by its dotted path ({@code "batch.max_events"}, {@code "queue.on_full"}); the
         * value is a String, Number, Boolean, List or Map, checked by the core at {@link #build}.
         */
        @SuppressWarnings("unchecked")
        public Builder set(String path, Object value) {
            Objects.requireNonNull(path, "path");
            String[] parts = path.split("\\.");
            Map<String, Object> at = root;
            for (int i = 0; i < parts.length - 1; i++) {
                Object next = at.get(parts[i]);
                if (!(next instanceof Map)) {
                    next = new LinkedHashMap<String, Object>();
                    at.put(parts[i], next);
                }
                at = (Map<String, Object>) next;
            }
            at.put(parts[parts.length - 1], value);
            return this;
        }

        /** The JSON object this builder describes. */
        public String toJson() {
            Map<String, Object> out = new LinkedHashMap<>(root);
            if (!backends.isEmpty()) {
                out.put("direct_backends", backends);
            }
            return Json.write(out);
        }

        public Config build() {
            return checked(OVER_ENVIRONMENT, toJson(), DEFAULT_SHUTDOWN_TIMEOUT)
                    .withShutdownTimeout(shutdownTimeout);
        }
    }
}
