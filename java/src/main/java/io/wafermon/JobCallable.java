package io.wafermon;

/** The body of {@link Client#call}: code that returns a value, and may throw. */
@FunctionalInterface
public interface JobCallable<T, E extends Exception> {
    T call(Job job) throws E;
}
