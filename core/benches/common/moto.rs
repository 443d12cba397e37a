//! What the benches against moto share: a private moto (what the runs leave in its memory
//! never slows the tests' shared one), a first plain run, then criterion's delivered events/s.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput};

use wafermon_testkit::servers;

/// `run(endpoint, spool, events)` delivers `events` events and returns the time it took;
/// `what` names them in the first run's line (e.g. "events (2000 segments)").
pub fn delivered_per_second(
    group: &str,
    function: &str,
    events: u64,
    what: &str,
    run: impl Fn(&str, &Path, u64) -> Duration,
) {
    let spool = tempfile::tempdir().unwrap();
    let moto = servers::PrivateServer::start("moto", &spool.path().join("moto"));
    let endpoint = moto.address.clone();
    let first = run(&endpoint, spool.path(), events);
    println!(
        "first run: {events} {what} in {:.3} s = {:.0} delivered events/s",
        first.as_secs_f64(),
        events as f64 / first.as_secs_f64()
    );
    let mut criterion = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .configure_from_args();
    let mut bench = criterion.benchmark_group(group);
    bench.throughput(Throughput::Elements(events));
    bench.bench_function(function, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| run(&endpoint, spool.path(), events))
                .sum()
        })
    });
    bench.finish();
    criterion.final_summary();
}
