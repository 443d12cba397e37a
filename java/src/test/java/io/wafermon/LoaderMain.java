package io.wafermon;

/**
 * A child JVM's main (NativeLoaderTest): the first use of wafermon loads the native library.
 * Prints {@code loaded <core version>} and exits 0, or prints what the application sees
 * (the throwable's class and message, then what a second use sees) and exits 2.
 */
public final class LoaderMain {
    private LoaderMain() {}

    public static void main(String[] args) {
        try {
            System.out.println("loaded " + Wafermon.coreVersion());
        } catch (Throwable first) {
            System.out.println("first: " + first.getClass().getName() + ": " + first.getMessage());
            try {
                Wafermon.coreVersion();
                System.out.println("second: loaded");
            } catch (Throwable second) {
                System.out.println("second: " + second.getClass().getName() + ": " + second.getMessage());
            }
            System.exit(2);
        }
    }
}
