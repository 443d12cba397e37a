package io.wafermon.benchmarks;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;

/**
 * Native methods that do nothing (src/main/c/noop.c, built with {@code cc} when this class
 * loads): the JNI cost under wafermon's hot calls, without the core.
 */
final class NoOp {
    static {
        load();
    }

    private NoOp() {}

    static native void primitive(long handle);

    /** {@code Native.jobProgress}'s shape: GetArrayLength + GetByteArrayRegion onto the stack. */
    static native void progress(long handle, double percent, byte[] message, int len);

    private static void load() {
        try {
            Path dir = Files.createTempDirectory("wafermon-noop");
            Path source = dir.resolve("noop.c");
            try (InputStream in = NoOp.class.getResourceAsStream("/noop.c")) {
                if (in == null) {
                    throw new IllegalStateException("noop.c is not in the benchmarks jar");
                }
                Files.copy(in, source, StandardCopyOption.REPLACE_EXISTING);
            }
            Path javaHome = Paths.get(System.getProperty("java.home"));
            Path library = dir.resolve("libnoop.so");
            Process cc = new ProcessBuilder("cc", "-O2", "-shared", "-fPIC",
                    "-I" + javaHome.resolve("include"), "-I" + javaHome.resolve("include/linux"),
                    "-o", library.toString(), source.toString()).inheritIO().start();
            if (cc.waitFor() != 0) {
                throw new IllegalStateException("cc could not build " + source + " (a C compiler and the JDK's headers are needed)");
            }
            System.load(library.toString());
            library.toFile().deleteOnExit();
            source.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
