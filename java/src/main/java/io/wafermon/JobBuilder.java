package io.wafermon;

import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * A job not started yet: {@code client.job("lot-dispatch").kind("lot").key("LOT-1")
 * .attr("recipe", "R7").start()}. Without {@link #parent} or {@link #root()}, a job started
 * inside {@link Client#run} (on the same thread) is a subjob of that job. Nothing is recorded
 * until {@link #start()}; the builder may start several jobs alike.
 *
 * <p>The description is encoded as it is given into one byte array, so that starting the job
 * is a single native call (the format is {@code java/native/src/spec.rs}'s).
 */
public final class JobBuilder {
    private final Client client;
    private final String name;
    private Job parent;
    /** Set by {@link #root()} and {@link #parent(String)}: the current job is not the parent. */
    private boolean notUnderCurrent;
    private byte[] spec = new byte[128];
    private int length;

    JobBuilder(Client client, String name, Job parent) {
        this.client = client;
        this.name = Objects.requireNonNull(name, "name");
        this.parent = parent;
        text('N', name);
    }

    /** The entity kind: lot, wafer, step, tool, ... (default job, or subjob under a parent). */
    public JobBuilder kind(String kind) {
        return text('K', Objects.requireNonNull(kind, "kind"));
    }

    /** The business key, for example the lot number. */
    public JobBuilder key(String key) {
        return text('Y', Objects.requireNonNull(key, "key"));
    }

    /** The entity id (default: a new UUIDv7). */
    public JobBuilder id(String id) {
        return text('I', Objects.requireNonNull(id, "id"));
    }

    /** Attach to {@code parent} (a started job) instead of the current job. */
    public JobBuilder parent(Job parent) {
        this.parent = Objects.requireNonNull(parent, "parent");
        this.notUnderCurrent = false;
        return this;
    }

    /** Attach to the job with this entity id (one started elsewhere, say another process). */
    public JobBuilder parent(String parentId) {
        this.parent = null;
        this.notUnderCurrent = true;
        return text('P', Objects.requireNonNull(parentId, "parentId"));
    }

    /** No parent, even inside another job's {@code run}. */
    public JobBuilder root() {
        this.parent = null;
        this.notUnderCurrent = true;
        return this;
    }

    public JobBuilder attr(String name, String value) {
        name('S', name);
        return textBody(Objects.requireNonNull(value, "value"));
    }

    public JobBuilder attr(String name, long value) {
        name('L', name);
        ensure(8);
        length = Utf8.putLong(spec, length, value);
        return this;
    }

    public JobBuilder attr(String name, double value) {
        name('D', name);
        ensure(8);
        length = Utf8.putLong(spec, length, Double.doubleToRawLongBits(value));
        return this;
    }

    public JobBuilder attr(String name, boolean value) {
        name('B', name);
        ensure(1);
        spec[length++] = (byte) (value ? 1 : 0);
        return this;
    }

    /** Record {@code started} and return the running job. */
    public Job start() {
        Job parentJob = parent;
        if (parentJob == null && !notUnderCurrent) {
            parentJob = Job.currentOrNull();
        }
        long parentHandle = parentJob == null ? 0 : parentJob.handle;
        try {
            long handle = Native.jobStart(client.ptr, parentHandle, spec, length);
            return new Job(client, handle, name);
        } catch (InvalidArgumentException e) {
            if (parentJob != null && parentJob.isClosed()) {
                throw new ClosedException("cannot start '" + name + "' under " + parentJob + ": it has been closed", null);
            }
            throw e;
        } finally {
            Reference.reachabilityFence(client);
            Reference.reachabilityFence(parentJob);
        }
    }

    private void name(char tag, String name) {
        text(tag, Objects.requireNonNull(name, "name"));
    }

    private JobBuilder text(char tag, String text) {
        ensure(1);
        spec[length++] = (byte) tag;
        return textBody(text);
    }

    private JobBuilder textBody(String text) {
        int n = text.length();
        ensure(4 + n);
        int at = length + 4;
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (c >= 0x80) {
                byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
                ensure(4 + utf8.length);
                System.arraycopy(utf8, 0, spec, length + 4, utf8.length);
                length = Utf8.putInt(spec, length, utf8.length) + utf8.length;
                return this;
            }
            spec[at++] = (byte) c;
        }
        length = Utf8.putInt(spec, length, n) + n;
        return this;
    }

    private void ensure(int more) {
        spec = Utf8.ensure(spec, length + more);
    }
}
