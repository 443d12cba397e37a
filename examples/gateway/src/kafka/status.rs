//! What `/v1/health` says about the Kafka ingest: the topic and groups, the partitions this
//! gateway holds, the lag of each, and the last error. The consumer threads write it; health
//! reads it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct Status {
    pub topic: String,
    pub group: String,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Partitions of the store group this gateway holds.
    assigned: Vec<i32>,
    /// Messages after the committed offset, per assigned partition.
    lag: BTreeMap<i32, i64>,
    last_error: Option<String>,
    /// The live view's own group and the partitions it reads (all of them once joined).
    live_group: Option<String>,
    live_assigned: Vec<i32>,
    /// When each recent error message was last logged.
    logged: HashMap<String, Instant>,
}

/// How long a repeated error message stays out of the log.
const LOG_AGAIN_AFTER: Duration = Duration::from_secs(30);
/// Distinct messages remembered for that at most.
const LOGGED_KEPT: usize = 64;

impl Status {
    pub fn new(topic: &str, group: &str) -> Status {
        Status {
            topic: topic.to_string(),
            group: group.to_string(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panicking writer leaves plain data behind: still worth showing.
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner)
    }

    pub fn set_assigned(&self, mut partitions: Vec<i32>) {
        partitions.sort_unstable();
        self.with(|s| s.assigned = partitions);
    }

    pub fn assigned(&self) -> Vec<i32> {
        self.with(|s| s.assigned.clone())
    }

    pub fn set_lag(&self, lag: BTreeMap<i32, i64>) {
        self.with(|s| s.lag = lag);
    }

    /// The partitions the lag was last measured for.
    pub fn lagged(&self) -> Vec<i32> {
        self.with(|s| s.lag.keys().copied().collect())
    }

    /// Record an error, and log it unless the same message was logged less than
    /// `LOG_AGAIN_AFTER` ago (brokers that are down fail every poll of every consumer).
    pub fn error(&self, message: String) {
        self.with(|s| {
            let now = Instant::now();
            let recent = s
                .logged
                .get(&message)
                .is_some_and(|at| now.duration_since(*at) < LOG_AGAIN_AFTER);
            if !recent {
                eprintln!("wafermon-gateway: kafka: {message}");
                if s.logged.len() >= LOGGED_KEPT {
                    s.logged.clear();
                }
                s.logged.insert(message.clone(), now);
            }
            s.last_error = Some(message);
        });
    }

    pub fn set_live(&self, group: &str, assigned: Vec<i32>) {
        self.with(|s| {
            s.live_group = Some(group.to_string());
            s.live_assigned = assigned;
        });
    }

    /// The health answer's `kafka` object; the last error only for `trusted` callers (it may
    /// name hosts).
    pub fn to_json(&self, trusted: bool) -> Value {
        self.with(|s| {
            let lag: serde_json::Map<String, Value> = s
                .lag
                .iter()
                .map(|(p, lag)| (p.to_string(), json!(lag)))
                .collect();
            let mut out = json!({
                "topic": self.topic,
                "group": self.group,
                "assigned": s.assigned,
                "lag": lag,
                "total_lag": s.lag.values().sum::<i64>(),
                "live": {"group": s.live_group, "assigned": s.live_assigned},
            });
            if trusted {
                out["last_error"] = json!(s.last_error);
            }
            out
        })
    }
}
