package io.wafermon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The io.wafermon classes loaded twice, in two class loaders (an application server with two
 * applications that each bring the jar). What happens: each copy extracts and loads its own
 * copy of the native library (a separate temp file, so the JVM does not refuse it as "already
 * loaded in another classloader"), and each works on its own. A loader whose client ran jobs
 * stays reachable for the JVM's life (its shutdown hook, and its per-thread UTF-8 buffer in the
 * threads that used it), so its library stays loaded; once those are removed, the loaders are
 * collected, their libraries unloaded, and the JVM goes on. With -Dwafermon.jni.path all copies
 * name one file, which the JVM gives to the first class loader only; the others get the JVM's
 * UnsatisfiedLinkError saying it is loaded in another class loader.
 */
class ClassLoaderTest {
    @TempDir Path dir;

    static Path jarClasses() {
        String classes = System.getProperty("wafermon.jar.classes");
        assertTrue(classes != null, "surefire sets wafermon.jar.classes (pom.xml)");
        return Paths.get(classes);
    }

    @Test
    void twoClassLoadersEachLoadTheLibraryAndWriteTheirOwnEvents() throws Exception {
        // This class loader's copy first: with -Dwafermon.jni.path it has the one library.
        String version = Wafermon.coreVersion();
        boolean oneLibraryPath = System.getProperty(NativeLoader.PATH_PROPERTY) != null;
        try (URLClassLoader a = TwoLoaders.loader(jarClasses()); URLClassLoader b = TwoLoaders.loader(jarClasses())) {
            Class<?> clientA = a.loadClass("io.wafermon.Client");
            Class<?> clientB = b.loadClass("io.wafermon.Client");
            assertNotSame(clientA, clientB);
            assertNotSame(Client.class, clientA);
            if (oneLibraryPath) {
                // One file for every copy: the JVM lets one class loader have it and says so to the others.
                for (URLClassLoader other : Arrays.asList(a, b)) {
                    UnsatisfiedLinkError e = assertThrows(UnsatisfiedLinkError.class,
                            () -> TwoLoaders.writeEvents(other, dir.resolve("x"), "refused"));
                    assertTrue(e.getMessage().contains("already loaded in another classloader"), e.getMessage());
                }
            } else {
                String statsA = TwoLoaders.writeEvents(a, dir.resolve("a"), "in-loader-a");
                String statsB = TwoLoaders.writeEvents(b, dir.resolve("b"), "in-loader-b");
                assertTrue(statsA.contains("emitted=3"), statsA);
                assertTrue(statsB.contains("emitted=3"), statsB);
                assertOneJob(dir.resolve("a"), "in-loader-a");
                assertOneJob(dir.resolve("b"), "in-loader-b");
            }
            // And this class loader's copy still works alongside them.
            try (Client own = new Client(Events.filesConfig(dir.resolve("own")))) {
                own.job("in-test-loader").start().finish();
            }
            assertEquals(version, Wafermon.coreVersion());
        }
        assertEquals(2, Events.read(dir.resolve("own")).size());
    }

    /**
     * With -Dwafermon.jni.path every copy names the same file, and a JVM lets only one class
     * loader load a given library file: the first copy works, the second and this JVM's own
     * fail with the JVM's UnsatisfiedLinkError saying so. Nothing crashes.
     */
    @Test
    void withAJniPathOnlyTheFirstClassLoaderGetsTheLibraryAndTheOthersFailClearly() throws Exception {
        Path library = jarClasses().resolve("native/linux-x86_64/libwafermon_jni.so");
        ChildJvm.Result child = ChildJvm.run(dir.resolve("child"),
                Arrays.asList("-D" + NativeLoader.PATH_PROPERTY + "=" + library), TwoLoaders.class,
                jarClasses().toString(), dir.resolve("1").toString(), dir.resolve("2").toString());
        assertEquals(0, child.exit, child.toString());
        String refused = "java.lang.UnsatisfiedLinkError: Native Library " + library
                + " already loaded in another classloader";
        assertTrue(child.out.contains("loader-1: Stats("), child.toString());
        assertTrue(child.out.contains("loader-2 failed: " + refused), child.toString());
        assertTrue(child.out.contains("own failed: " + refused), child.toString());
        assertTrue(child.out.contains("alive"), child.toString());
        assertOneJob(dir.resolve("1"), "loader-1");
    }

    /**
     * Dropping both loaders in an ordinary program: they stay reachable (see {@link
     * TwoLoaders#main}: the shutdown hook and a thread's UTF-8 buffer hold them), nothing
     * crashes, and the JVM goes on using wafermon.
     */
    @Test
    void droppingBothClassLoadersLeavesTheJvmWorking() throws Exception {
        ChildJvm.Result child = ChildJvm.run(dir.resolve("child"), Collections.emptyList(), TwoLoaders.class,
                jarClasses().toString(), dir.resolve("1").toString(), dir.resolve("2").toString());
        assertEquals(0, child.exit, child.toString());
        assertTrue(child.out.contains("loader-1: Stats("), child.toString());
        assertTrue(child.out.contains("loader-2: Stats("), child.toString());
        assertTrue(child.out.contains("own: core "), child.toString());
        assertTrue(child.out.contains("alive"), child.toString());
        assertOneJob(dir.resolve("1"), "loader-1");
        assertEquals(5, Events.read(dir.resolve("2")).size(), "loader-2's job and the JVM's own after it");
    }

    /** Both loaders collected, so both native libraries unloaded after their clients ran jobs: no crash. */
    @Test
    void unloadingBothLibrariesNeverCrashesTheJvm() throws Exception {
        ChildJvm.Result child = ChildJvm.run(dir.resolve("child"),
                Arrays.asList("--add-opens", "java.base/java.lang=ALL-UNNAMED"), TwoLoaders.class,
                "--unpin", jarClasses().toString(), dir.resolve("1").toString(), dir.resolve("2").toString());
        assertEquals(0, child.exit, child.toString());
        assertTrue(child.out.contains("loaders collected\nwafermon libraries mapped: 0\n"), child.toString());
        assertTrue(child.out.contains("own: core "), child.toString());
        assertOneJob(dir.resolve("1"), "loader-1");
        assertEquals(5, Events.read(dir.resolve("2")).size(), "loader-2's job and the JVM's own after it");
    }

    static void assertOneJob(Path dir, String name) {
        List<JsonNode> events = Events.read(dir);
        assertEquals(3, events.size(), events.toString());
        for (JsonNode e : events) {
            assertEquals(name, e.at("/entity/name").asText());
        }
        assertEquals("finished", events.get(2).get("kind").asText());
    }
}
