package io.wafermon;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.dialect.Dialects;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.stream.Collectors;

/** The project's JSON Schemas (core/schema), the one oracle every language validates against. */
final class Schemas {
    private static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(Dialects.getDraft202012());
    static final Schema EVENT = load("event.v1.schema.json");
    static final Schema CONFIG = load("config.v1.schema.json");

    private Schemas() {}

    private static Schema load(String file) {
        try {
            byte[] text = Files.readAllBytes(Events.repo().resolve("core/schema").resolve(file));
            return REGISTRY.getSchema(new String(text, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Fail naming every violation of {@code schema} by {@code value}. */
    static void check(Schema schema, JsonNode value) {
        List<String> errors = schema.validate(value).stream().map(Object::toString).collect(Collectors.toList());
        if (!errors.isEmpty()) {
            throw new AssertionError(value + " breaks the schema: " + errors);
        }
    }
}
