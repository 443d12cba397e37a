//! The hourly rollup behind `/v1/stats`: per (hour, site, app, entity kind) the ended
//! entities' counts by status, CPU sum and count, peak RSS and every duration, sorted. The
//! durations are kept whole so a percentile over any set of hours is exactly what
//! `percentile_cont` over the raw rows gives.
//!
//! Ingest marks the hours whose ended entities it changed as dirty, in the same transaction
//! as the jobs fold; a background refresh recomputes dirty hours from `jobs`. A stats read
//! takes clean whole hours from the rollup and reads the raw rows of the rest (dirty hours,
//! the window's partial edges, or every row when buckets are finer than an hour), all in one
//! snapshot, so the answer never depends on whether the refresh has run.

use std::collections::BTreeMap;

use super::{AppSummary, EndedJobs, HourStats, JobState, Stats, StatsQuery};

pub const HOUR: i64 = 3_600_000_000;

/// Start of the hour holding `micros` (floor, also before 1970).
pub fn hour_of(micros: i64) -> i64 {
    micros.div_euclid(HOUR) * HOUR
}

/// The hours a fold changes in the rollup: where the entity ended before (if it did) and
/// where it ends now, when anything the rollup keeps about it differs.
pub fn changed_hours(before: Option<&JobState>, after: &JobState) -> Vec<i64> {
    let rolled = |s: &JobState| {
        s.end.as_ref().map(|e| {
            (
                e.at,
                s.status().as_str(),
                s.app.clone(),
                s.entity_kind.clone(),
                s.duration_s().map(f64::to_bits),
                e.cpu_s.map(f64::to_bits),
                s.max_rss_bytes.map(f64::to_bits),
            )
        })
    };
    let old = before.and_then(rolled);
    let new = rolled(after);
    if old == new {
        return Vec::new();
    }
    let mut hours: Vec<i64> = [old.map(|o| o.0), new.map(|n| n.0)]
        .into_iter()
        .flatten()
        .map(hour_of)
        .collect();
    hours.dedup();
    hours
}

/// One rollup row.
#[derive(Debug, Clone, Default)]
pub struct HourGroup {
    pub hour: i64,
    pub site: String,
    pub app: String,
    pub entity_kind: String,
    /// succeeded, failed, canceled
    pub counts: [i64; 3],
    pub cpu_sum: f64,
    pub cpu_count: i64,
    pub peak_rss: Option<f64>,
    /// Sorted ascending; entities without a duration are counted but not here.
    pub durations: Vec<f64>,
}

impl HourGroup {
    pub fn add(&mut self, status: &str, duration: Option<f64>, cpu: Option<f64>, rss: Option<f64>) {
        self.counts[status_index(status)] += 1;
        self.durations.extend(duration);
        if let Some(cpu) = cpu {
            self.cpu_sum += cpu;
            self.cpu_count += 1;
        }
        self.peak_rss = max_opt(self.peak_rss, rss);
    }
}

/// Group ended jobs rows (site, app, kind, status, duration, cpu, rss) of one hour.
pub fn group_hour(
    hour: i64,
    rows: impl IntoIterator<
        Item = (
            String,
            String,
            String,
            String,
            Option<f64>,
            Option<f64>,
            Option<f64>,
        ),
    >,
) -> Vec<HourGroup> {
    let mut groups: BTreeMap<(String, String, String), HourGroup> = BTreeMap::new();
    for (site, app, kind, status, duration, cpu, rss) in rows {
        let key = (site, app, kind);
        let group = groups.entry(key.clone()).or_insert_with(|| HourGroup {
            hour,
            site: key.0,
            app: key.1,
            entity_kind: key.2,
            ..HourGroup::default()
        });
        group.add(&status, duration, cpu, rss);
    }
    groups
        .into_values()
        .map(|mut g| {
            g.durations.sort_by(f64::total_cmp);
            g
        })
        .collect()
}

/// Durations as big-endian f64s, the bytes PostgreSQL's `float8send` gives: a blob both
/// stores keep and read back without per-element work (a `float8[]` costs PostgreSQL a
/// conversion per element on the way out).
pub fn encode_durations(durations: &[f64]) -> Vec<u8> {
    durations.iter().flat_map(|d| d.to_be_bytes()).collect()
}

pub fn decode_durations(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

fn status_index(status: &str) -> usize {
    match status {
        "succeeded" => 0,
        "failed" => 1,
        _ => 2,
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Which part of a stats window the rollup answers and which needs raw rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Whole hours [start, end) the rollup may answer (minus the dirty ones), if any.
    pub rolled: Option<(i64, i64)>,
}

impl Plan {
    pub fn of(q: &StatsQuery) -> Plan {
        let whole_start = hour_of(q.start + HOUR - 1);
        let whole_end = hour_of(q.end);
        // Buckets of whole hours only: a 90-minute bucket splits an hour.
        let hourly = q.bucket_s.is_multiple_of(3600);
        Plan {
            rolled: (hourly && whole_start < whole_end).then_some((whole_start, whole_end)),
        }
    }

    /// The ranges whose raw rows must be read: everything outside the rolled hours, and
    /// each dirty hour in them; adjacent ranges merged.
    pub fn raw_ranges(&self, q: &StatsQuery, dirty: &[i64]) -> Vec<(i64, i64)> {
        let Some((a, b)) = self.rolled else {
            return vec![(q.start, q.end)];
        };
        let mut ranges = vec![(q.start, a)];
        let mut dirty: Vec<i64> = dirty
            .iter()
            .copied()
            .filter(|h| *h >= a && *h < b)
            .collect();
        dirty.sort_unstable();
        dirty.dedup();
        ranges.extend(dirty.into_iter().map(|h| (h, h + HOUR)));
        ranges.push((b, q.end));
        let mut merged: Vec<(i64, i64)> = Vec::new();
        for (s, e) in ranges.into_iter().filter(|(s, e)| s < e) {
            match merged.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

/// Finished entities of one answer group, gathered from rollup rows and raw rows alike.
#[derive(Default)]
struct Ended {
    counts: [i64; 3],
    durations: Vec<f64>,
    cpu_total: f64,
    cpu_count: i64,
    peak_rss: Option<f64>,
}

impl Ended {
    fn add_group(&mut self, g: &HourGroup) {
        for (mine, theirs) in self.counts.iter_mut().zip(g.counts) {
            *mine += theirs;
        }
        self.durations.extend_from_slice(&g.durations);
        self.cpu_total += g.cpu_sum;
        self.cpu_count += g.cpu_count;
        self.peak_rss = max_opt(self.peak_rss, g.peak_rss);
    }

    fn jobs(&mut self) -> EndedJobs {
        EndedJobs {
            count: self.counts.iter().sum(),
            succeeded: self.counts[0],
            failed: self.counts[1],
            canceled: self.counts[2],
            p50_duration_s: percentile_of_unsorted(&mut self.durations, 0.5),
            p95_duration_s: percentile_of_unsorted(&mut self.durations, 0.95),
        }
    }
}

/// `percentile_cont`'s interpolation between the closest ranks, without sorting: the two closest ranks by selection (linear time), then
/// the same interpolation. Reorders `values`.
fn percentile_of_unsorted(values: &mut [f64], fraction: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = fraction * (values.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    let (_, &mut at_low, above) = values.select_nth_unstable_by(low, f64::total_cmp);
    let at_high = if high == low {
        at_low
    } else {
        above
            .iter()
            .copied()
            .min_by(f64::total_cmp)
            .unwrap_or(at_low)
    };
    Some(at_low + (at_high - at_low) * (rank - low as f64))
}

/// Builds a stats answer from rollup rows and raw rows.
pub struct Answer {
    bucket: i64,
    hours: BTreeMap<(i64, String), Ended>,
    apps: BTreeMap<String, Ended>,
}

impl Answer {
    pub fn new(q: &StatsQuery) -> Answer {
        Answer {
            bucket: i64::from(q.bucket_s) * 1_000_000,
            hours: BTreeMap::new(),
            apps: BTreeMap::new(),
        }
    }

    /// A rollup row, or one raw row as a group of one (its `hour` is its ended_at).
    pub fn add(&mut self, g: &HourGroup) {
        let bucket = g.hour.div_euclid(self.bucket) * self.bucket;
        self.hours
            .entry((bucket, g.app.clone()))
            .or_default()
            .add_group(g);
        self.apps.entry(g.app.clone()).or_default().add_group(g);
    }

    pub fn add_raw(
        &mut self,
        app: String,
        ended_at: i64,
        status: &str,
        duration: Option<f64>,
        cpu: Option<f64>,
        rss: Option<f64>,
    ) {
        let mut one = HourGroup {
            hour: ended_at,
            app,
            ..HourGroup::default()
        };
        one.add(status, duration, cpu, rss);
        self.add(&one);
    }

    pub fn finish(self, running: i64) -> Stats {
        let hours = self
            .hours
            .into_iter()
            .map(|((hour, app), mut ended)| HourStats {
                app,
                hour,
                jobs: ended.jobs(),
            })
            .collect();
        let apps = self
            .apps
            .into_iter()
            .map(|(app, mut ended)| AppSummary {
                app,
                jobs: ended.jobs(),
                mean_cpu_s: (ended.cpu_count > 0).then(|| ended.cpu_total / ended.cpu_count as f64),
                peak_rss_bytes: ended.peak_rss,
            })
            .collect();
        Stats {
            running,
            hours,
            apps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::percentile;
    use super::*;

    fn query(start: i64, end: i64, bucket_s: u32) -> StatsQuery {
        StatsQuery {
            site: None,
            app: None,
            entity_kind: None,
            start,
            end,
            bucket_s,
        }
    }

    #[test]
    fn edges_and_dirty_hours_are_read_raw() {
        let q = query(10 * HOUR + 5, 14 * HOUR + 7, 3600);
        let plan = Plan::of(&q);
        assert_eq!(plan.rolled, Some((11 * HOUR, 14 * HOUR)));
        assert_eq!(
            plan.raw_ranges(&q, &[11 * HOUR, 13 * HOUR, 20 * HOUR]),
            vec![(10 * HOUR + 5, 12 * HOUR), (13 * HOUR, 14 * HOUR + 7)]
        );
        let aligned = query(10 * HOUR, 12 * HOUR, 7200);
        assert_eq!(Plan::of(&aligned).raw_ranges(&aligned, &[]), vec![]);
        let fine = query(10 * HOUR, 12 * HOUR, 600);
        assert_eq!(Plan::of(&fine).rolled, None);
        assert_eq!(
            Plan::of(&fine).raw_ranges(&fine, &[]),
            vec![(10 * HOUR, 12 * HOUR)]
        );
    }

    #[test]
    fn selection_gives_the_sorted_percentiles() {
        let mut seed = 7u64;
        for n in [1usize, 2, 3, 10, 101, 1000] {
            let mut values: Vec<f64> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    ((seed >> 40) % 50) as f64 / 4.0
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            for fraction in [0.5, 0.95] {
                assert_eq!(
                    percentile_of_unsorted(&mut values, fraction),
                    percentile(&sorted, fraction),
                    "n {n}, fraction {fraction}"
                );
            }
        }
    }

    #[test]
    fn hours_before_1970_floor() {
        assert_eq!(hour_of(-1), -HOUR);
        assert_eq!(hour_of(HOUR), HOUR);
    }

    #[test]
    fn merged_hours_give_the_percentiles_of_all_rows() {
        let rows = |values: &[f64]| {
            let mut g = HourGroup::default();
            for v in values {
                g.add("succeeded", Some(*v), None, None);
            }
            g.durations.sort_by(f64::total_cmp);
            g
        };
        let mut answer = Answer::new(&query(0, 2 * HOUR, 86_400));
        answer.add(&rows(&[5.0, 1.0, 9.0]));
        answer.add(&rows(&[2.0, 3.0]));
        let stats = answer.finish(0);
        assert_eq!(stats.apps[0].jobs.p50_duration_s, Some(3.0));
        assert_eq!(
            stats.apps[0].jobs.p95_duration_s,
            percentile(&[1.0, 2.0, 3.0, 5.0, 9.0], 0.95)
        );
        assert_eq!(
            decode_durations(&encode_durations(&[1.5, -0.25])),
            vec![1.5, -0.25]
        );
    }
}
