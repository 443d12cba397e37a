package io.wafermon.examples;

import io.wafermon.Client;
import io.wafermon.Config;
import io.wafermon.Job;
import io.wafermon.Level;
import io.wafermon.Stats;
import io.wafermon.logging.WafermonHandler;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Inspects one lot of wafers on a fixed thread pool, monitored by wafermon.
 *
 * <p>The lot is the parent job ({@code client.run}); each wafer is a subjob started on a pool
 * thread with {@code lot.subjob(...)} (the current job is per thread, so the pool threads are
 * handed the lot), with progress, a defect metric and log lines. The lot reports its progress
 * as wafers complete. Wafer 13 has a scratch: its subjob ends {@code failed} with the
 * exception's class and message, and the lot goes on and finishes.
 *
 * <pre>
 * java -jar target/lot-inspection-0.1.0.jar [WAFERS [LOT-KEY]]   # JSONL under ./wafermon-data
 * WAFERMON_MODE=sidecar WAFERMON_SIDECAR_URL=http://127.0.0.1:17000 java -jar ...
 * </pre>
 *
 * <p>The configuration is {@link Config#fromEnv()}: with no {@code WAFERMON_*} variables the
 * events go to JSONL files under {@code ./wafermon-data}.
 */
public final class LotInspection {
    static final int WAFERS = 20;
    static final int THREADS = 4;
    /** The wafer that fails inspection. */
    static final int SCRATCHED = 13;

    private static final Logger LOG = Logger.getLogger("lot-inspection");

    private LotInspection() {}

    public static void main(String[] args) throws Exception {
        int wafers = args.length > 0 ? Integer.parseInt(args[0]) : WAFERS;
        String lotKey = args.length > 1 ? args[1] : "LOT-4711";

        Stats stats;
        try (Client client = new Client(Config.fromEnv())) {
            // java.util.logging records inside a job become log events of that job.
            WafermonHandler handler = new WafermonHandler(client);
            LOG.addHandler(handler);
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                int failed = client.call(
                        client.job("lot-inspection").kind("lot").key(lotKey).attr("recipe", "INSP-7")
                                .attr("wafers", wafers),
                        lot -> inspectLot(client, lot, lotKey, wafers, pool));
                System.out.printf("lot %s: %d wafers inspected, %d failed%n", lotKey, wafers, failed);
            } finally {
                pool.shutdown();
                pool.awaitTermination(1, TimeUnit.MINUTES);
                LOG.removeHandler(handler);
            }
            stats = client.close(Duration.ofSeconds(10));
        }
        System.out.println("wafermon: " + stats);
        if (stats.pending() != 0 || stats.dropped() != 0) {
            System.err.println("wafermon: not everything was delivered");
            System.exit(1);
        }
    }

    /** The lot's body: every wafer on the pool, the lot's progress as they complete. */
    static int inspectLot(Client client, Job lot, String lotKey, int wafers, ExecutorService pool)
            throws InterruptedException {
        lot.progress(0, "dispatching " + wafers + " wafers");
        List<Future<Integer>> results = new ArrayList<>();
        for (int slot = 1; slot <= wafers; slot++) {
            int s = slot;
            results.add(pool.submit(() -> inspectWafer(client, lot, lotKey, s)));
        }
        int done = 0;
        int failed = 0;
        int defects = 0;
        for (Future<Integer> result : results) {
            try {
                defects += result.get();
            } catch (ExecutionException e) {
                // client.call already recorded the wafer as failed; the lot goes on.
                failed++;
            }
            done++;
            lot.progress(100.0 * done / wafers, done + " of " + wafers + " wafers");
        }
        lot.metric("defects_total", defects);
        lot.metric("wafers_failed", failed);
        if (failed > 0) {
            lot.log(Level.WARNING, failed + " wafer(s) failed inspection");
        }
        return failed;
    }

    /** On a pool thread: one subjob of the lot, handed the lot explicitly. */
    static int inspectWafer(Client client, Job lot, String lotKey, int slot) throws ScratchedWaferException {
        String key = String.format("%s.W%02d", lotKey, slot);
        return client.call(lot.subjob("inspect-wafer").kind("wafer").key(key).attr("slot", slot), wafer -> {
            wafer.progress(0, "aligning");
            byte[] image = scan(slot);
            wafer.progress(50, "scanning");
            int defects = (image[0] & 0xff) % 7;
            wafer.metric("defects", defects);
            if (slot == SCRATCHED) {
                LOG.severe("scratch across the wafer at slot " + slot);
                throw new ScratchedWaferException("scratch on " + key);
            }
            if (defects > 4) {
                LOG.warning(key + ": " + defects + " defects");
            }
            wafer.progress(100, "done");
            return defects;
        });
    }

    /** Stands for taking and analysing the wafer's image. */
    private static byte[] scan(int slot) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] image = sha.digest(("wafer-" + slot).getBytes(StandardCharsets.UTF_8));
            for (int i = 0; i < 20_000; i++) {
                image = sha.digest(image);
            }
            return image;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
