package io.wafermon;

import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * A child JVM's main (ShutdownHookTest): an application that never closes its client. It
 * starts and ends jobs and then leaves main (or calls System.exit); the JVM's shutdown hook
 * must deliver everything. Events are held back for an hour (flush interval, batch size), so
 * only a close can write them.
 *
 * <p>Args: {@code client|global|exit|halt}, the output folder, the number of jobs.
 */
public final class ExitMain {
    /** Keeps the client reachable, so that its Cleaner cannot be what closes it. */
    static Client kept;

    private ExitMain() {}

    static final String HOLD_BACK = "{\"batch\": {\"flush_interval\": 3600, \"max_events\": 1000000}}";

    public static void main(String[] args) {
        String mode = args[0];
        Path dir = Paths.get(args[1]);
        int jobs = Integer.parseInt(args[2]);
        Config config = Config.exactly(Native.conformanceConfig(dir.toString(), HOLD_BACK));
        Client client;
        if (mode.equals("global")) {
            Wafermon.init(config);
            client = Wafermon.client();
            if (client != Wafermon.client()) {
                throw new AssertionError("Wafermon.client() is not the one client");
            }
        } else {
            client = new Client(config);
        }
        kept = client;
        for (int i = 0; i < jobs; i++) {
            JobBuilder spec = mode.equals("global") ? Wafermon.job("job-" + i) : client.job("job-" + i);
            Job job = spec.key("K-" + i).start();
            job.metric("i", i);
            if (i % 2 == 0) {
                job.finish();
            } else {
                job.fail("odd");
            }
        }
        System.out.println("emitted " + client.stats().emitted());
        if (mode.equals("exit")) {
            System.exit(3);
        }
        if (mode.equals("halt")) {
            // The control case: a halt runs no shutdown hook.
            Runtime.getRuntime().halt(4);
        }
    }
}
