package io.wafermon;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * Text for the hot native calls: UTF-8 written into a buffer this thread reuses, so a call
 * allocates nothing. ASCII (metric names, most messages) is copied char by char; anything
 * else goes through the JDK's encoder.
 */
final class Utf8 {
    private static final ThreadLocal<Utf8> BUFFER = ThreadLocal.withInitial(Utf8::new);

    byte[] bytes = new byte[128];
    int length;

    private Utf8() {}

    /** {@code text} encoded into this thread's buffer; {@code what} names it if null. */
    static Utf8 encode(String text, String what) {
        Objects.requireNonNull(text, what);
        Utf8 buffer = BUFFER.get();
        buffer.set(text);
        return buffer;
    }

    private void set(String text) {
        int n = text.length();
        if (n > bytes.length) {
            bytes = new byte[Math.max(n, 2 * bytes.length)];
        }
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (c >= 0x80) {
                byte[] encoded = text.getBytes(StandardCharsets.UTF_8);
                if (encoded.length > bytes.length) {
                    bytes = new byte[encoded.length];
                }
                System.arraycopy(encoded, 0, bytes, 0, encoded.length);
                length = encoded.length;
                return;
            }
            bytes[i] = (byte) c;
        }
        length = n;
    }

    static byte[] ensure(byte[] out, int size) {
        if (size <= out.length) {
            return out;
        }
        byte[] bigger = new byte[Math.max(size, 2 * out.length)];
        System.arraycopy(out, 0, bigger, 0, out.length);
        return bigger;
    }

    static int putInt(byte[] out, int at, int v) {
        out[at] = (byte) (v >>> 24);
        out[at + 1] = (byte) (v >>> 16);
        out[at + 2] = (byte) (v >>> 8);
        out[at + 3] = (byte) v;
        return at + 4;
    }

    static int putLong(byte[] out, int at, long v) {
        putInt(out, at, (int) (v >>> 32));
        return putInt(out, at + 4, (int) v);
    }
}
