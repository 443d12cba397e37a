package io.wafermon;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/** A client's counters ({@link Client#stats()}, and what {@link Client#close} returns). */
public final class Stats {
    private final long emitted;
    private final long queued;
    private final long dropped;
    private final long spilled;
    private final long corrupt;
    private final List<Backend> backends;

    private Stats(long[] n, String[] texts) {
        emitted = n[0];
        queued = n[1];
        dropped = n[2];
        spilled = n[3];
        corrupt = n[4];
        List<Backend> list = new ArrayList<>();
        for (int b = 0; 5 + 7 * b < n.length; b++) {
            int at = 5 + 7 * b;
            list.add(new Backend(texts[3 * b], texts[3 * b + 1], texts[3 * b + 2], n, at));
        }
        backends = Collections.unmodifiableList(list);
    }

    static Stats fromNative(Object[] parts) {
        return new Stats((long[]) parts[0], (String[]) parts[1]);
    }

    /** Events accepted by emit and the job calls. */
    public long emitted() {
        return emitted;
    }

    /** Accepted and not yet routed to the backends (in memory or the ingress spool). */
    public long queued() {
        return queued;
    }

    /** Dropped because the queue was full ({@code on_full: drop_newest}) or spilling failed. */
    public long dropped() {
        return dropped;
    }

    /** Written to the ingress spool because the queue was full ({@code on_full: spill}). */
    public long spilled() {
        return spilled;
    }

    /** Records of the queue or spool that could not be decoded. */
    public long corrupt() {
        return corrupt;
    }

    public List<Backend> backends() {
        return backends;
    }

    /** Events accepted and not yet settled anywhere: queued plus every backend's queued. */
    public long pending() {
        long p = queued;
        for (Backend b : backends) {
            p += b.queued;
        }
        return p;
    }

    @Override
    public String toString() {
        return "Stats(emitted=" + emitted + ", queued=" + queued + ", dropped=" + dropped
                + ", spilled=" + spilled + ", corrupt=" + corrupt + ", backends=" + backends + ")";
    }

    /** One backend's counters: every event routed to it ends as sent, spooled, dropped or failed. */
    public static final class Backend {
        private final String name;
        private final String kind;
        private final String lastError;
        private final long queued;
        private final long sent;
        private final long retried;
        private final long spooled;
        private final long dropped;
        private final long failed;
        private final boolean healthy;

        Backend(String name, String kind, String lastError, long[] n, int at) {
            this.name = name;
            this.kind = kind;
            this.lastError = lastError;
            queued = n[at];
            sent = n[at + 1];
            retried = n[at + 2];
            spooled = n[at + 3];
            dropped = n[at + 4];
            failed = n[at + 5];
            healthy = n[at + 6] != 0;
        }

        public String name() {
            return name;
        }

        /** The backend type: {@code filesystem}, {@code sidecar}, {@code s3}, ... */
        public String kind() {
            return kind;
        }

        public long queued() {
            return queued;
        }

        public long sent() {
            return sent;
        }

        public long retried() {
            return retried;
        }

        public long spooled() {
            return spooled;
        }

        public long dropped() {
            return dropped;
        }

        public long failed() {
            return failed;
        }

        public boolean healthy() {
            return healthy;
        }

        public Optional<String> lastError() {
            return Optional.ofNullable(lastError);
        }

        @Override
        public String toString() {
            return name + "(" + kind + ": queued=" + queued + ", sent=" + sent + ", retried=" + retried
                    + ", spooled=" + spooled + ", dropped=" + dropped + ", failed=" + failed
                    + (healthy ? "" : ", unhealthy") + ")";
        }
    }
}
