package io.wafermon;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a main class of the test sources in a new JVM: the same java, the test classpath, and
 * the JVM options of this test JVM that matter to a native library ({@code -Xcheck:jni}, JDK
 * 24+'s {@code --enable-native-access}). For what must happen in a JVM of its own: its exit,
 * its startup properties, or something that could crash it.
 */
final class ChildJvm {
    /** Not a timing assertion: only a guard so that a hung child fails the test instead of the build. */
    private static final long HANG_GUARD_MINUTES = 5;

    private ChildJvm() {}

    static final class Result {
        final int exit;
        final String out;
        final String err;

        Result(int exit, String out, String err) {
            this.exit = exit;
            this.out = out;
            this.err = err;
        }

        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    static Path java() {
        return Paths.get(System.getProperty("java.home"), "bin", "java");
    }

    /** This JVM's options that a child must share. */
    static List<String> inheritedOptions() {
        List<String> out = new ArrayList<>();
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.equals("-Xcheck:jni") || arg.startsWith("--enable-native-access")) {
                out.add(arg);
            }
        }
        return out;
    }

    static Result run(Path workDir, List<String> options, Class<?> main, String... args)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(java().toString());
        command.addAll(inheritedOptions());
        command.addAll(options);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(Arrays.asList(args));
        Files.createDirectories(workDir);
        File out = workDir.resolve("child.out").toFile();
        File err = workDir.resolve("child.err").toFile();
        ProcessBuilder builder = new ProcessBuilder(command)
                .directory(workDir.toFile())
                .redirectOutput(out)
                .redirectError(err);
        // A child must not pick up a wafermon configuration from the environment.
        builder.environment().keySet().removeIf(k -> k.startsWith("WAFERMON_"));
        Process process = builder.start();
        if (!process.waitFor(HANG_GUARD_MINUTES, TimeUnit.MINUTES)) {
            process.destroyForcibly().waitFor();
            throw new AssertionError("the child JVM hung: " + command + "\n" + read(out) + read(err));
        }
        Result result = new Result(process.exitValue(), read(out), read(err));
        // -Xcheck:jni reports a misuse of JNI on stderr and goes on: that is a failure too.
        if (result.err.contains("in native method")) {
            throw new AssertionError("the JVM's JNI check complained: " + command + "\n" + result);
        }
        return result;
    }

    private static String read(File file) throws IOException {
        return new String(Files.readAllBytes(file.toPath()), StandardCharsets.UTF_8);
    }
}
