package io.wafermon;

/** The body of {@link Client#run}: any code, which may throw. */
@FunctionalInterface
public interface JobRunnable<E extends Exception> {
    void run(Job job) throws E;
}
