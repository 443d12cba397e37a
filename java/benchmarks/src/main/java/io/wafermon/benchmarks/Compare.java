package io.wafermon.benchmarks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs the benchmarks with JMH's usual command-line options, then prints each wafermon figure
 * beside its OpenTelemetry counterpart from the same run, with allocation per operation
 * ({@code -prof gc}) and what each side delivered of what it emitted.
 */
public final class Compare {
    private static final String ALLOC = "gc.alloc.rate.norm";

    private static final class Row {
        final String operation;
        final String ours;
        final String theirs;
        final double goalNs;

        Row(String operation, String ours, String theirs, double goalNs) {
            this.operation = operation;
            this.ours = ours;
            this.theirs = theirs;
            this.goalNs = goalNs;
        }
    }

    private static final Row[] ROWS = {
        new Row("job.progress(42.5, \"coat\")", "progress_wafermon", "logRecord40_otel", 150),
        new Row("job.metric(name, value)", "metric_wafermon", "logRecord40_otel", 150),
        new Row("job.log, 40 chars", "log40_wafermon", "logRecord40_otel", 200),
        new Row("job start+finish, 4 attrs", "jobStartFinish4Attrs_wafermon", "span4Attrs_otel", 400),
    };

    private Compare() {}

    public static void main(String[] args) throws CommandLineOptionException, RunnerException, IOException {
        CommandLineOptions given = new CommandLineOptions(args);
        Path delivery = Files.createTempFile("wafermon-bench-delivery", ".tsv");
        List<String> jvmArgs = new ArrayList<>(given.getJvmArgsAppend().orElse(List.of()));
        jvmArgs.add("-D" + Delivery.PROPERTY + "=" + delivery);
        Options options = new OptionsBuilder().parent(given)
                .jvmArgsAppend(jvmArgs.toArray(new String[0]))
                .build();
        Collection<RunResult> results = new Runner(options).run();

        Map<String, RunResult> byName = new HashMap<>();
        for (RunResult r : results) {
            byName.put(Delivery.label(r.getParams()), r);
        }
        List<String[]> deliveries = new ArrayList<>();
        Map<String, String> cpu = new HashMap<>();
        for (String line : Files.readAllLines(delivery, StandardCharsets.UTF_8)) {
            String[] f = line.split("\t", 6);
            deliveries.add(f);
            cpu.put(f[0], f[4]);
        }
        Files.delete(delivery);
        System.out.println();
        System.out.println("ns/op: JMH's score, mean ± 99.9% interval [fastest iteration]; cpu: CPU ns/op of the"
                + " benchmark thread alone; B/op: gc.alloc.rate.norm (-prof gc)");
        System.out.println("| operation | wafermon ns/op | cpu | B/op | goal | OpenTelemetry counterpart | OTel ns/op | cpu | B/op | verdict (ns/op) |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|");
        for (Row row : ROWS) {
            RunResult ours = byName.get(row.ours);
            RunResult theirs = byName.get(row.theirs);
            if (ours == null && theirs == null) {
                continue;
            }
            String verdict = "";
            if (ours != null) {
                double ns = ours.getPrimaryResult().getScore();
                verdict = (ns <= row.goalNs ? "goal met" : "goal MISSED");
                if (theirs != null) {
                    verdict += ns < theirs.getPrimaryResult().getScore() ? ", ahead of OTel" : ", BEHIND OTel";
                }
            }
            System.out.printf("| %s | %s | %s | %s | <= %.0f ns | %s | %s | %s | %s | %s |%n", row.operation, time(ours),
                    cpu.getOrDefault(row.ours, "-"), alloc(ours), row.goalNs, row.theirs, time(theirs),
                    cpu.getOrDefault(row.theirs, "-"), alloc(theirs), verdict);
        }

        System.out.println();
        System.out.println("| benchmark | emitted | delivered | lost | lost % | detail |");
        System.out.println("|---|---|---|---|---|---|");
        for (String[] f : deliveries) {
            long emitted = Long.parseLong(f[1]);
            long lost = Long.parseLong(f[3]);
            System.out.printf("| %s | %d | %s | %d | %.2f %% | %s |%n", f[0], emitted, f[2], lost,
                    emitted == 0 ? 0.0 : 100.0 * lost / emitted, f[5]);
        }
    }

    private static String time(RunResult r) {
        if (r == null) {
            return "-";
        }
        Result<?> p = r.getPrimaryResult();
        String best = String.format(" [%.0f]", p.getStatistics().getMin());
        return Double.isNaN(p.getScoreError())
                ? String.format("%.1f", p.getScore()) + best
                : String.format("%.1f ± %.1f", p.getScore(), p.getScoreError()) + best;
    }

    private static String alloc(RunResult r) {
        if (r == null) {
            return "-";
        }
        Result<?> a = r.getSecondaryResults().get(ALLOC);
        return a == null ? "(no -prof gc)" : String.format("%.0f", a.getScore());
    }
}
