//! What a binding pays for the handle API (`wafermon::skin::JobHandle`, what a JNI or XS
//! call goes through) beside the `Job` guard API it wraps, in one run, on one client.
//!
//! Run: `cargo bench -p wafermon --bench skin`
//!
//! Each function times bursts of 1,000 calls while the consumer is idle (the pipeline is
//! flushed between bursts, outside the timed region), like the `*_burst` rows of the emit
//! bench. Rows: `metric` and `progress` on an open job, `log` with a 40-character message,
//! and a whole job (prepare/start with a kind, a key and 4 attributes, then finish; the
//! handle rows also release: `handle` one call per field, `handle_spec` one call through
//! `JobHandle::start_spec`, as the JNI binding does). Nothing here asserts a timing.
//!
//! Instructions per whole job (repeatable on a noisy machine; the syscalls of the resource
//! metrics count as a few instructions each, their time shows only in the criterion rows):
//!
//! ```sh
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/skin.cg \
//!     target/release/deps/skin-<hash> --bench job_start_finish --profile-time 2
//! callgrind_annotate --inclusive=yes /tmp/skin.cg | grep -E '_job '
//! ```
//!
//! divided by the calls of `guard_job`, `handle_job`, `handle_spec_job`
//! (`callgrind_annotate --tree=caller`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::json;
use wafermon::event::ScalarRef;
use wafermon::skin::{JobAttrs, JobHandle, JobSpec, Parent};
use wafermon::{Client, Config, Level};

const BURST: u64 = 1_000;
const MESSAGE: &str = "slot 12 of 25: chamber pressure settled";

fn client(dir: &std::path::Path) -> Client {
    let config = json!({
        "app": {"name": "bench", "site_id": "fab-b"},
        "direct_backends": [{"type": "filesystem", "path": dir.join("data")}],
        "spool": {"path": dir.join("spool")},
        "batch": {"flush_interval": 0.05},
    });
    Client::new(Config::from_value(config).unwrap()).unwrap()
}

/// Time `iters` calls of `call` in bursts, flushing between bursts.
fn bursts(client: &Client, iters: u64, mut call: impl FnMut(u64)) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = BURST.min(iters - done);
        let start = Instant::now();
        for i in 0..n {
            call(done + i);
        }
        total += start.elapsed();
        done += n;
        client.flush(Duration::from_secs(30)).unwrap();
    }
    total
}

/// One whole job on the guard API. Not inlined, so callgrind reports its instructions per
/// call (see the module comment).
#[inline(never)]
fn guard_job(client: &Client) {
    client
        .job("lot-dispatch")
        .kind("lot")
        .key("LOT-1")
        .attr("recipe", "R7")
        .attr("slots", 25i64)
        .attr("temp_c", 21.5)
        .attr("rework", false)
        .start()
        .unwrap()
        .finish()
        .unwrap()
}

/// The same job through the handle API, as a JNI binding makes it (one call per line).
#[inline(never)]
fn handle_job(client: &Client) {
    let h = JobHandle::prepare(client, "lot-dispatch", Parent::Root).unwrap();
    h.set_kind("lot").unwrap();
    h.set_key("LOT-1").unwrap();
    h.attr("recipe", "R7").unwrap();
    h.attr("slots", 25i64).unwrap();
    h.attr("temp_c", 21.5).unwrap();
    h.attr("rework", false).unwrap();
    h.start().unwrap();
    h.finish().unwrap();
    h.release();
}

/// The same job started in one call from borrowed parts (`JobHandle::start_spec`, as the JNI
/// binding starts a job from the bytes Java sends, reusing one `JobAttrs`), then finished
/// and released.
#[inline(never)]
fn handle_spec_job(client: &Client, attrs: &mut JobAttrs) {
    attrs.clear();
    attrs.push("recipe", ScalarRef::Str("R7"));
    attrs.push("slots", ScalarRef::Int(25));
    attrs.push("temp_c", ScalarRef::Float(21.5));
    attrs.push("rework", ScalarRef::Bool(false));
    let spec = JobSpec {
        name: "lot-dispatch",
        kind: Some("lot"),
        id: None,
        key: Some("LOT-1"),
        attrs,
    };
    let h = JobHandle::start_spec(client, Parent::Root, &spec).unwrap();
    h.finish().unwrap();
    h.release();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let client = client(dir.path());
    let job = client.job("bench-guard").start().unwrap();
    let handle = JobHandle::prepare(&client, "bench-handle", Parent::Root).unwrap();
    handle.start().unwrap();

    let mut group = c.benchmark_group("metric");
    group.bench_function("guard", |b| {
        b.iter_custom(|n| {
            bursts(&client, n, |i| {
                job.metric("thickness_nm", black_box(i as f64)).unwrap()
            })
        })
    });
    group.bench_function("handle", |b| {
        b.iter_custom(|n| {
            bursts(&client, n, |i| {
                handle.metric("thickness_nm", black_box(i as f64)).unwrap()
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("progress");
    group.bench_function("guard", |b| {
        b.iter_custom(|n| {
            bursts(&client, n, |i| {
                job.progress(black_box((i % 100) as f64)).unwrap()
            })
        })
    });
    group.bench_function("handle", |b| {
        b.iter_custom(|n| {
            bursts(&client, n, |i| {
                handle.progress(black_box((i % 100) as f64), None).unwrap()
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("log_40_chars");
    group.bench_function("guard", |b| {
        b.iter_custom(|n| {
            bursts(&client, n, |_| {
                job.log(Level::Info, black_box(MESSAGE)).unwrap()
            })
        })
    });
    group.bench_function("handle", |b| {
        b.iter_custom(|n| {
            bursts(&client, n, |_| {
                handle.log(Level::Info, black_box(MESSAGE)).unwrap()
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("job_start_finish_4_attrs");
    group.bench_function("guard", |b| {
        b.iter_custom(|n| bursts(&client, n, |_| guard_job(&client)))
    });
    group.bench_function("handle", |b| {
        b.iter_custom(|n| bursts(&client, n, |_| handle_job(&client)))
    });
    let mut attrs = JobAttrs::new();
    group.bench_function("handle_spec", |b| {
        b.iter_custom(|n| bursts(&client, n, |_| handle_spec_job(&client, &mut attrs)))
    });
    group.finish();

    job.finish().unwrap();
    handle.finish().unwrap();
    handle.release();
    let stats = client.close(Duration::from_secs(30));
    println!(
        "stats: emitted {} dropped {} spilled {} sent {}",
        stats.emitted, stats.dropped, stats.spilled, stats.backends[0].sent
    );
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    bench(&mut c);
    c.final_summary();
}
