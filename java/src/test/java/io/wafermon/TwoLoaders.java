package io.wafermon;

import java.lang.ref.WeakReference;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * The io.wafermon classes loaded once more, by a class loader of their own over the jar's
 * classes (as an application server loads each application's copy), and used through
 * reflection: that copy loads its own copy of the native library.
 *
 * <p>{@link #main}: for ClassLoaderTest's child JVMs: two such copies write events, then both
 * loaders are dropped, and the JVM must still be alive and usable.
 */
public final class TwoLoaders {
    private TwoLoaders() {}

    static URLClassLoader loader(Path classes) throws Exception {
        return new URLClassLoader(new URL[] {classes.toUri().toURL()}, ClassLoader.getPlatformClassLoader());
    }

    /**
     * With the loader's own io.wafermon: a client writing JSONL under {@code dir/data}, one
     * job {@code name} with a metric, finished, and the client closed. Returns the final stats'
     * {@code toString()}.
     */
    static String writeEvents(ClassLoader loader, Path dir, String name) throws Exception {
        Class<?> nativeClass = Class.forName("io.wafermon.Native", true, loader);
        Method scenarioConfig = nativeClass.getDeclaredMethod("conformanceConfig", String.class, String.class);
        scenarioConfig.setAccessible(true);
        String json = (String) scenarioConfig.invoke(null, dir.toString(), "{}");
        Class<?> configClass = loader.loadClass("io.wafermon.Config");
        Method exactly = configClass.getDeclaredMethod("exactly", String.class);
        exactly.setAccessible(true);
        Object config = exactly.invoke(null, json);
        Class<?> clientClass = loader.loadClass("io.wafermon.Client");
        Constructor<?> newClient = clientClass.getConstructor(configClass);
        Object client = newClient.newInstance(config);
        Object builder = clientClass.getMethod("job", String.class).invoke(client, name);
        Object job = builder.getClass().getMethod("start").invoke(builder);
        job.getClass().getMethod("metric", String.class, double.class).invoke(job, "n", 1.0);
        job.getClass().getMethod("finish").invoke(job);
        Object stats = clientClass.getMethod("close", Duration.class).invoke(client, Duration.ofSeconds(10));
        return stats.toString();
    }

    /**
     * Args: {@code [--unpin]}, the jar's classes folder, then one output folder per class
     * loader. Prints per loader its final stats or {@code failed:} and the exception, then
     * {@code loaders collected} or {@code loaders still reachable}, then how this JVM's own
     * class loader fares ({@code own:} or {@code own failed:}), then {@code alive}.
     *
     * <p>Two things keep a loader that ran a job reachable for the JVM's life, so its native
     * library is never unloaded: the JVM shutdown hook of its {@code ShutdownHook} class, and
     * the UTF-8 buffer its {@code Utf8} keeps in each thread that made a hot call. {@code
     * --unpin} removes both (the work runs on a thread that then ends; the hook is taken out
     * of {@code java.lang.ApplicationShutdownHooks}, which needs {@code --add-opens
     * java.base/java.lang=ALL-UNNAMED}) so that the loaders are collected and their libraries
     * unloaded, to show that unloading a library whose client ran jobs does not crash.
     */
    public static void main(String[] args) throws Exception {
        boolean unpin = args[0].equals("--unpin");
        int first = unpin ? 1 : 0;
        Path classes = Paths.get(args[first]);
        List<WeakReference<ClassLoader>> loaders = new ArrayList<>();
        for (int i = first + 1; i < args.length; i++) {
            Path dir = Paths.get(args[i]);
            String name = "loader-" + (i - first);
            if (unpin) {
                AtomicReference<Object> used = new AtomicReference<>();
                Thread worker = new Thread(() -> {
                    try {
                        used.set(new WeakReference<>(useAndClose(classes, dir, name)));
                    } catch (Exception e) {
                        used.set(e);
                    }
                });
                worker.start();
                worker.join();
                if (used.get() instanceof Exception) {
                    throw (Exception) used.get();
                }
                @SuppressWarnings("unchecked")
                WeakReference<ClassLoader> loader = (WeakReference<ClassLoader>) used.get();
                loaders.add(loader);
            } else {
                loaders.add(new WeakReference<>(useAndClose(classes, dir, name)));
            }
        }
        if (unpin) {
            removeWafermonShutdownHooks();
        }
        // Collecting an unreachable loader unloads its native library. Only the unpinned
        // loaders are waited for (the deadline is a guard, not a measurement).
        long deadline = System.nanoTime() + Duration.ofSeconds(unpin ? 120 : 2).toNanos();
        boolean collected = false;
        while (!collected && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(50);
            collected = loaders.stream().allMatch(l -> l.get() == null);
        }
        System.out.println(collected ? "loaders collected" : "loaders still reachable");
        // The JVM unloads a collected loader's libraries from a Cleaner: wait for that (the
        // deadline is a guard), then go on using wafermon through this JVM's own class loader.
        while (collected && mappedLibraries() > 0 && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(50);
        }
        System.out.println("wafermon libraries mapped: " + mappedLibraries());
        try (Client own = new Client(Config.exactly(Native.conformanceConfig(args[args.length - 1], "{}")))) {
            own.job("after-unloading").start().finish();
            System.out.println("own: core " + Wafermon.coreVersion());
        } catch (Throwable e) {
            System.out.println("own failed: " + e);
        }
        System.out.println("alive");
    }

    /** How many copies of libwafermon_jni this process has mapped (Linux). */
    static long mappedLibraries() throws IOException {
        try (Stream<String> maps = Files.lines(Paths.get("/proc/self/maps"))) {
            return maps.filter(l -> l.contains("libwafermon_jni"))
                    .map(l -> l.substring(l.indexOf('/')))
                    .distinct()
                    .count();
        }
    }

    private static void removeWafermonShutdownHooks() throws Exception {
        Class<?> hooks = Class.forName("java.lang.ApplicationShutdownHooks");
        Field field = hooks.getDeclaredField("hooks");
        field.setAccessible(true);
        synchronized (hooks) {
            Map<?, ?> map = (Map<?, ?>) field.get(null);
            map.keySet().removeIf(t -> ((Thread) t).getName().equals("wafermon-shutdown"));
        }
    }

    private static ClassLoader useAndClose(Path classes, Path dir, String name) throws Exception {
        URLClassLoader loader = loader(classes);
        try {
            System.out.println(name + ": " + writeEvents(loader, dir, name));
        } catch (InvocationTargetException e) {
            System.out.println(name + " failed: " + e.getCause());
        } catch (Throwable e) {
            System.out.println(name + " failed: " + e);
        }
        System.out.println("wafermon libraries mapped: " + mappedLibraries());
        loader.close();
        return loader;
    }
}
