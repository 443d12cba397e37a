package io.wafermon.benchmarks;

import io.wafermon.Client;
import io.wafermon.Config;
import io.wafermon.Job;
import io.wafermon.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A plain loop of one wafermon call, for a profiler ({@code perf record}, JFR) to attach to:
 * rounds of calls, each timed, with a flush between rounds (not timed) so the backend's
 * backlog stays bounded. {@code java -cp benchmarks.jar io.wafermon.benchmarks.ProfileLoop
 * progress|metric|log|job [rounds] [calls per round] [dir]}: the events go to {@code dir}
 * (default a temp dir), which is deleted at the end only when it was a temp dir (so that a
 * profile of the loop does not include deleting gigabytes).
 */
public final class ProfileLoop {
    private ProfileLoop() {}

    /** This thread's voluntary and involuntary context switches so far (Linux). */
    private static long[] contextSwitches() throws java.io.IOException {
        long[] out = new long[2];
        for (String line : Files.readAllLines(Path.of("/proc/thread-self/status"))) {
            if (line.startsWith("voluntary_ctxt_switches:")) {
                out[0] = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
            } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
                out[1] = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
            }
        }
        return out;
    }

    public static void main(String[] args) throws Exception {
        String op = args.length > 0 ? args[0] : "progress";
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        int calls = args.length > 2 ? Integer.parseInt(args[2]) : 1_000_000;
        boolean temp = args.length < 4;
        Path dir = temp ? Files.createTempDirectory("wafermon-profile") : Path.of(args[3]);
        try (Client client = new Client(Config.builder().app("wafermon-profile").filesystem(dir.resolve("events"))
                .spool(dir.resolve("spool")).set("queue.capacity_bytes", WafermonSide.QUEUE_BYTES).build())) {
            Job job = client.job("lot-dispatch").kind("lot").root().start();
            java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
            for (int r = 0; r < rounds; r++) {
                long[] switchesBefore = contextSwitches();
                long cpuBefore = threads.getCurrentThreadCpuTime();
                long began = System.nanoTime();
                for (int i = 0; i < calls; i++) {
                    switch (op) {
                        case "progress":
                            job.progress(42.5, "coat");
                            break;
                        case "metric":
                            job.metric("thickness_nm", 101.2);
                            break;
                        case "log":
                            job.log(Level.INFO, HotPath.MESSAGE_40);
                            break;
                        case "job":
                            try (Job wafer = client.job("wafer").attr("recipe", "R7").attr("slot", 7L)
                                    .attr("temp_c", 21.5).attr("rework", false).start()) {
                                wafer.finish();
                            }
                            break;
                        default:
                            throw new IllegalArgumentException("op: progress, metric, log or job");
                    }
                }
                double ns = (System.nanoTime() - began) / (double) calls;
                double cpuNs = (threads.getCurrentThreadCpuTime() - cpuBefore) / (double) calls;
                long[] switches = contextSwitches();
                long flushBegan = System.nanoTime();
                client.flush(Duration.ofMinutes(5));
                System.out.printf("round %d: %.1f ns/call (%.1f ns of it on CPU; context switches: %d waiting on a"
                        + " lock or I/O, %d preempted), flush %.2f s%n", r, ns, cpuNs, switches[0] - switchesBefore[0],
                        switches[1] - switchesBefore[1], (System.nanoTime() - flushBegan) / 1e9);
            }
            job.finish();
            System.out.println(client.close(Duration.ofMinutes(5)));
        } finally {
            if (temp) {
                Delivery.deleteTree(dir);
            }
        }
    }
}
