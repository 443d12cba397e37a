//! A small fab job on the embedded default (JSONL files under ./wafermon-data, no server):
//! a lot runs three wafers through three process steps, one step fails and is retried, and
//! the program then shows what was written and where.
//!
//!     cargo run --release --example quickstart

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use wafermon::{Client, Config, Level};

const STEPS: [&str; 3] = ["litho", "etch", "clean"];

fn process_lot(client: &Client, lot: &str) -> wafermon::Result<()> {
    let job = client
        .job("process-lot")
        .key(lot)
        .attr("recipe", "R-193i")
        .attr("tool", "CLUSTER-3")
        .start()?;
    for (w, wafer) in ["W01", "W02", "W03"].iter().enumerate() {
        let wafer_job = job.subjob("wafer").kind("wafer").key(*wafer).start()?;
        for (s, step) in STEPS.iter().enumerate() {
            let step_job = wafer_job.subjob(step).kind("step").start()?;
            // Pretend work: a little CPU, and a measurement per step.
            let mut checksum = 0u64;
            for i in 0..200_000u64 {
                checksum = checksum.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(checksum);
            step_job.metric(
                "chamber_pressure_pa",
                12.0 + s as f64 * 0.5 + w as f64 * 0.1,
            )?;
            if *wafer == "W02" && *step == "etch" {
                step_job.log(Level::Warning, "endpoint not detected, retrying once")?;
                step_job.fail("endpoint detection timeout")?;
                let retry = wafer_job.subjob("etch-retry").kind("step").start()?;
                retry.finish()?;
            } else {
                step_job.finish()?;
            }
            wafer_job.progress(100.0 * (s + 1) as f64 / STEPS.len() as f64)?;
        }
        wafer_job.finish()?;
        job.progress_with(100.0 * (w + 1) as f64 / 3.0, &format!("{wafer} done"))?;
    }
    job.metric("wafers_processed", 3.0)?;
    job.finish()
}

fn summarize(root: &Path) {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && path.file_name().is_some_and(|n| n != ".spool") {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
        for line in text.lines() {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(line) {
                let kind = format!(
                    "{}/{}",
                    event["entity"]["kind"].as_str().unwrap_or("?"),
                    event["kind"].as_str().unwrap_or("?")
                );
                *by_kind.entry(kind).or_default() += 1;
            }
        }
        println!(
            "{} ({} events in total in this file)",
            file.display(),
            text.lines().count()
        );
        for (kind, n) in by_kind {
            println!("    {n:>4}  {kind}");
        }
    }
}

fn main() -> wafermon::Result<()> {
    let mut config = Config::from_env()?;
    config.app.name = "quickstart".into();
    config.app.site_id = "fab-demo".into();
    let client = Client::new(config)?;
    process_lot(&client, "LOT42")?;
    let stats = client.close(Duration::from_secs(10));
    println!("wafermon quickstart: one lot, three wafers, three steps each\n");
    println!("written under ./wafermon-data:");
    summarize(Path::new("wafermon-data"));
    println!("\nclient stats: {}", stats.to_json());
    if stats.pending() > 0 {
        println!(
            "{} events could not be delivered yet; they wait in the spool",
            stats.pending()
        );
    }
    Ok(())
}
