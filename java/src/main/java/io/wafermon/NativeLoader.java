package io.wafermon;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Locale;

/**
 * Loads {@code libwafermon_jni} once per class loader.
 *
 * <ol>
 *   <li>{@code -Dwafermon.jni.path=/abs/path/libwafermon_jni.so}: exactly that file;
 *   <li>otherwise the jar's {@code /native/<os>-<arch>/<library>}, copied to a private temp
 *       file (owner-only permissions), loaded, and deleted (the loaded library stays mapped).
 * </ol>
 *
 * <p>The jar holds one folder per platform ({@code linux-x86_64} today), so builds for more
 * platforms can be added to the same jar, as sqlite-jdbc and zstd-jni do. A platform without
 * one fails with a message saying what there is and how to proceed.
 */
final class NativeLoader {
    static final String PATH_PROPERTY = "wafermon.jni.path";

    private NativeLoader() {}

    static synchronized void load() {
        String override = System.getProperty(PATH_PROPERTY);
        if (override != null && !override.isEmpty()) {
            Path path = Paths.get(override).toAbsolutePath();
            if (!Files.isRegularFile(path)) {
                throw new UnsatisfiedLinkError(
                        "-D" + PATH_PROPERTY + " names " + path + ", which is not a file");
            }
            System.load(path.toString());
            return;
        }
        String platform = platform();
        String library = System.mapLibraryName("wafermon_jni");
        String resource = "/native/" + platform + "/" + library;
        try (InputStream in = NativeLoader.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new UnsatisfiedLinkError(
                        "wafermon has no native library for "
                                + platform
                                + " in this jar (it has linux-x86_64); build java/native for this"
                                + " platform and pass -D"
                                + PATH_PROPERTY
                                + "=/path/to/"
                                + library);
            }
            Path file = privateTempFile(library);
            try {
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                System.load(file.toString());
            } finally {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            UnsatisfiedLinkError error =
                    new UnsatisfiedLinkError("could not extract " + resource + ": " + e);
            error.initCause(e);
            throw error;
        }
    }

    private static Path privateTempFile(String library) throws IOException {
        int dot = library.lastIndexOf('.');
        String prefix = library.substring(0, dot) + "-";
        String suffix = library.substring(dot);
        try {
            return Files.createTempFile(
                    prefix,
                    suffix,
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException notPosix) {
            return Files.createTempFile(prefix, suffix);
        }
    }

    /** {@code linux-x86_64}, {@code linux-aarch64}, {@code mac-aarch64}, ... */
    static String platform() {
        return os(System.getProperty("os.name", "")) + "-" + arch(System.getProperty("os.arch", ""));
    }

    static String os(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        if (n.startsWith("linux")) {
            return "linux";
        }
        if (n.startsWith("mac") || n.startsWith("darwin")) {
            return "mac";
        }
        if (n.startsWith("windows")) {
            return "windows";
        }
        return n.replaceAll("[^a-z0-9]+", "");
    }

    static String arch(String name) {
        String a = name.toLowerCase(Locale.ROOT);
        switch (a) {
            case "amd64":
            case "x86_64":
            case "x64":
                return "x86_64";
            case "aarch64":
            case "arm64":
                return "aarch64";
            default:
                return a.replaceAll("[^a-z0-9_]+", "");
        }
    }
}
