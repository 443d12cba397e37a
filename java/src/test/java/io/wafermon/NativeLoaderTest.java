package io.wafermon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Collections;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How the native library is found: platform names, the jar's library, the {@code
 * -Dwafermon.jni.path} override, and the errors when neither fits. What changes the JVM's
 * properties or its loaded library runs in a child JVM ({@link LoaderMain}).
 */
class NativeLoaderTest {
    @TempDir Path dir;

    @Test
    void architecturesMapToTheJarsFolderNames() {
        assertEquals("x86_64", NativeLoader.arch("amd64"));
        assertEquals("x86_64", NativeLoader.arch("x86_64"));
        assertEquals("x86_64", NativeLoader.arch("X64"));
        assertEquals("aarch64", NativeLoader.arch("aarch64"));
        assertEquals("aarch64", NativeLoader.arch("arm64"));
        assertEquals("ppc64le", NativeLoader.arch("ppc64le"));
        assertEquals("linux", NativeLoader.os("Linux"));
        assertEquals("mac", NativeLoader.os("Mac OS X"));
        assertEquals("windows", NativeLoader.os("Windows 11"));
        assertEquals("freebsd", NativeLoader.os("FreeBSD"));
    }

    @Test
    void thisMachineIsLinuxX8664AndTheJarHasItsLibrary() {
        assertEquals("linux-x86_64", NativeLoader.platform());
        assertTrue(NativeLoader.class.getResource("/native/linux-x86_64/libwafermon_jni.so") != null);
        assertTrue(Wafermon.coreVersion().matches("\\d+\\.\\d+\\.\\d+.*"), Wafermon.coreVersion());
    }

    @Test
    void aChildJvmLoadsTheLibraryFromTheJar() throws Exception {
        Path tmp = Files.createDirectories(dir.resolve("tmp"));
        ChildJvm.Result child = ChildJvm.run(dir, Arrays.asList("-Djava.io.tmpdir=" + tmp), LoaderMain.class);
        assertEquals(0, child.exit, child.toString());
        assertEquals("loaded " + Wafermon.coreVersion(), child.out.trim(), child.toString());
        // Extracted to a private temp file, then deleted: nothing of it stays behind.
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(Collections.emptyList(), left.collect(Collectors.toList()));
        }
    }

    @Test
    void anUnsupportedPlatformSaysWhichAndWhatToDo() throws Exception {
        ChildJvm.Result child = ChildJvm.run(dir, Arrays.asList("-Dos.arch=sparcv9"), LoaderMain.class);
        assertEquals(2, child.exit, child.toString());
        String first = child.out.lines().filter(l -> l.startsWith("first: ")).findFirst().orElse("");
        assertTrue(first.startsWith("first: java.lang.UnsatisfiedLinkError: "), child.toString());
        assertTrue(first.contains("linux-sparcv9"), "names the platform: " + first);
        assertTrue(first.contains("linux-x86_64"), "says what the jar has: " + first);
        assertTrue(first.contains("-Dwafermon.jni.path="), "says what to do: " + first);
        // A later use fails too (the class stays unusable), and never crashes the JVM.
        assertTrue(child.out.contains("second: java.lang.NoClassDefFoundError"), child.toString());
    }

    @Test
    void aJniPathNamingAMissingFileSaysSo() throws Exception {
        Path missing = dir.resolve("no-such-lib.so");
        ChildJvm.Result child = ChildJvm.run(dir,
                Arrays.asList("-D" + NativeLoader.PATH_PROPERTY + "=" + missing), LoaderMain.class);
        assertEquals(2, child.exit, child.toString());
        assertTrue(child.out.contains("first: java.lang.UnsatisfiedLinkError: -Dwafermon.jni.path names "
                + missing + ", which is not a file"), child.toString());
    }

    @Test
    void aJniPathNamingTheLibraryLoadsIt() throws Exception {
        Path library = Paths.get(System.getProperty("wafermon.jar.classes"), "native", "linux-x86_64", "libwafermon_jni.so");
        assertTrue(Files.isRegularFile(library), library.toString());
        ChildJvm.Result child = ChildJvm.run(dir,
                Arrays.asList("-D" + NativeLoader.PATH_PROPERTY + "=" + library), LoaderMain.class);
        assertEquals(0, child.exit, child.toString());
        assertEquals("loaded " + Wafermon.coreVersion(), child.out.trim());
    }

    @Test
    void aJniPathNamingSomethingThatIsNotALibraryFailsWithTheLinkersReason() throws Exception {
        Path notALibrary = Files.write(dir.resolve("not-a-library.so"), "hello".getBytes());
        ChildJvm.Result child = ChildJvm.run(dir,
                Arrays.asList("-D" + NativeLoader.PATH_PROPERTY + "=" + notALibrary), LoaderMain.class);
        assertEquals(2, child.exit, child.toString());
        assertTrue(child.out.contains("first: java.lang.UnsatisfiedLinkError: "), child.toString());
        assertTrue(child.out.contains(notALibrary.toString()), child.toString());
    }
}
