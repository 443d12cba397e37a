package io.wafermon;

/**
 * The name to report when nothing configures one: the main class's simple name, or the jar's
 * name without {@code .jar} (the core would name the executable, which is "java" for every
 * Java application).
 */
final class ProgramName {
    private ProgramName() {}

    static String detect() {
        String command = System.getProperty("sun.java.command", "").trim();
        if (command.isEmpty()) {
            return null;
        }
        String first = command.split("\\s+", 2)[0];
        String file = first.substring(first.lastIndexOf('/') + 1);
        if (file.endsWith(".jar")) {
            return file.substring(0, file.length() - 4);
        }
        return file.substring(file.lastIndexOf('.') + 1);
    }
}
