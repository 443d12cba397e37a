//! The current state of one entity, folded from its events. `merge` is commutative and
//! associative, so the state does not depend on the order events arrive in: a late `started`
//! or `progress` never turns a finished job back to running. Each event is folded in once
//! (the events table deduplicates by id before anything reaches here).

use wafermon::event::{Event, Kind, Status};

/// One row of the `jobs` table. Times are microseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    pub site: String,
    pub entity_id: String,
    pub app: String,
    pub entity_kind: String,
    pub name: Option<String>,
    pub key: Option<String>,
    pub parent: Option<String>,
    pub started_at: Option<i64>,
    pub end: Option<Ending>,
    pub max_rss_bytes: Option<f64>,
    pub progress: Option<f64>,
    pub progress_at: Option<i64>,
    pub first_event_at: i64,
    pub last_event_at: i64,
    pub event_count: i64,
}

/// How an entity ended: the first terminal event wins, because a job ends once and whatever
/// arrives later for it (a cancel after a failure) is noise.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub status: Status,
    pub at: i64,
    pub duration_s: Option<f64>,
    pub cpu_s: Option<f64>,
    pub message: Option<String>,
}

impl Ending {
    /// The ending a stored jobs row describes: a terminal status with its time, or `None`
    /// for an entity still running.
    pub fn from_stored(
        status: &str,
        at: Option<i64>,
        duration_s: Option<f64>,
        cpu_s: Option<f64>,
        message: Option<String>,
    ) -> Option<Ending> {
        match (Status::parse(status), at) {
            (Ok(status), Some(at)) if status != Status::Running => Some(Ending {
                status,
                at,
                duration_s,
                cpu_s,
                message,
            }),
            _ => None,
        }
    }

    /// Strictly earlier, with ties broken by a fixed status order so both sides agree.
    fn precedes(&self, other: &Ending) -> bool {
        (self.at, status_rank(self.status)) < (other.at, status_rank(other.status))
    }
}

fn status_rank(status: Status) -> u8 {
    match status {
        Status::Failed => 0,
        Status::Canceled => 1,
        Status::Succeeded => 2,
        Status::Running => 3,
    }
}

impl JobState {
    /// The state one event implies on its own.
    pub fn from_event(event: &Event) -> JobState {
        let at = event.time.unix_micros();
        let end = event.kind.is_terminal().then(|| Ending {
            status: event.status,
            at,
            duration_s: event.metrics.get("duration_s").copied(),
            cpu_s: cpu_seconds(event),
            message: event.message.clone(),
        });
        JobState {
            site: event.site.clone(),
            entity_id: event.entity.id.clone(),
            app: event.app.name.clone(),
            entity_kind: event.entity.kind.clone(),
            name: event.entity.name.clone(),
            key: event.entity.key.clone(),
            parent: event.entity.parent.clone(),
            started_at: (event.kind == Kind::Started).then_some(at),
            end,
            max_rss_bytes: event.metrics.get("max_rss_bytes").copied(),
            progress: event.progress,
            progress_at: event.progress.map(|_| at),
            first_event_at: at,
            last_event_at: at,
            event_count: 1,
        }
    }

    /// Fold `other` in. Descriptive fields keep the first value seen by event time, so a
    /// renamed entity shows the same name whatever order its events came in.
    pub fn merge(&mut self, other: &JobState) {
        let other_first = other.first_event_at < self.first_event_at;
        for (mine, theirs) in [
            (&mut self.name, &other.name),
            (&mut self.key, &other.key),
            (&mut self.parent, &other.parent),
        ] {
            if theirs.is_some() && (mine.is_none() || other_first) {
                mine.clone_from(theirs);
            }
        }
        if other_first {
            self.app.clone_from(&other.app);
            self.entity_kind.clone_from(&other.entity_kind);
        }
        self.started_at = min_opt(self.started_at, other.started_at);
        if let Some(theirs) = &other.end {
            if self.end.as_ref().is_none_or(|mine| theirs.precedes(mine)) {
                self.end = Some(theirs.clone());
            }
        }
        self.max_rss_bytes = match (self.max_rss_bytes, other.max_rss_bytes) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        // The latest progress report wins; equal times keep the larger value.
        let newer = match (self.progress_at, other.progress_at) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(a), Some(b)) => {
                b > a || (b == a && other.progress.unwrap_or(0.0) > self.progress.unwrap_or(0.0))
            }
        };
        if newer {
            self.progress = other.progress;
            self.progress_at = other.progress_at;
        }
        self.first_event_at = self.first_event_at.min(other.first_event_at);
        self.last_event_at = self.last_event_at.max(other.last_event_at);
        self.event_count += other.event_count;
    }

    /// Running until an ending arrives.
    pub fn status(&self) -> Status {
        self.end.as_ref().map_or(Status::Running, |e| e.status)
    }

    pub fn ended_at(&self) -> Option<i64> {
        self.end.as_ref().map(|e| e.at)
    }

    /// The measured duration when the ending carried one, else the span between start and end.
    pub fn duration_s(&self) -> Option<f64> {
        let end = self.end.as_ref()?;
        end.duration_s.or_else(|| {
            self.started_at
                .map(|start| (end.at - start).max(0) as f64 / 1e6)
        })
    }

    /// Progress as people read it: a succeeded job is complete whatever it last reported.
    pub fn shown_progress(&self) -> Option<f64> {
        if self.status() == Status::Succeeded {
            Some(100.0)
        } else {
            self.progress
        }
    }
}

fn cpu_seconds(event: &Event) -> Option<f64> {
    let user = event.metrics.get("cpu_user_s");
    let system = event.metrics.get("cpu_system_s");
    match (user, system) {
        (None, None) => None,
        (u, s) => Some(u.copied().unwrap_or(0.0) + s.copied().unwrap_or(0.0)),
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, status: &str, micros: i64, extra: serde_json::Value) -> Event {
        let time = wafermon::event::Timestamp::from_unix_micros(1_800_000_000_000_000 + micros);
        let mut value = json!({
            "v": 1, "id": wafermon::event::new_v7(time.unix_millis()).to_string(), "seq": micros,
            "time": time.to_string(), "site": "fab1", "app": {"name": "etch"},
            "entity": {"kind": "job", "id": "J1", "name": "etch-lot"},
            "kind": kind, "status": status,
        });
        if let (Some(obj), Some(more)) = (value.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        wafermon::event::parse_complete_event(&value).unwrap()
    }

    fn fold(events: &[&Event]) -> JobState {
        let mut state = JobState::from_event(events[0]);
        for e in &events[1..] {
            state.merge(&JobState::from_event(e));
        }
        state
    }

    fn lifecycle() -> Vec<Event> {
        vec![
            event("started", "running", 0, json!({})),
            event("progress", "running", 10, json!({"progress": 40})),
            event("progress", "running", 20, json!({"progress": 80})),
            event(
                "finished",
                "succeeded",
                30,
                json!({"metrics": {"duration_s": 2.5, "cpu_user_s": 1.0, "cpu_system_s": 0.5, "max_rss_bytes": 4096}}),
            ),
            event(
                "canceled",
                "canceled",
                40,
                json!({"message": "late cancel"}),
            ),
        ]
    }

    #[test]
    fn every_arrival_order_gives_the_same_state() {
        let events = lifecycle();
        let expected = fold(&events.iter().collect::<Vec<_>>());
        assert_eq!(expected.status(), Status::Succeeded);
        assert_eq!(expected.duration_s(), Some(2.5));
        assert_eq!(expected.end.as_ref().and_then(|e| e.cpu_s), Some(1.5));
        assert_eq!(expected.progress, Some(80.0));
        assert_eq!(expected.event_count, 5);
        // All 120 permutations of five events.
        let mut order: Vec<usize> = (0..events.len()).collect();
        let mut count = 0;
        permute(&mut order, 0, &mut |perm| {
            let refs: Vec<&Event> = perm.iter().map(|&i| &events[i]).collect();
            assert_eq!(fold(&refs), expected, "order {perm:?}");
            count += 1;
        });
        assert_eq!(count, 120);
    }

    fn permute(items: &mut Vec<usize>, k: usize, visit: &mut dyn FnMut(&[usize])) {
        if k == items.len() {
            visit(items);
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permute(items, k + 1, visit);
            items.swap(k, i);
        }
    }

    #[test]
    fn a_late_start_does_not_reopen_a_finished_job() {
        let end = event("failed", "failed", 50, json!({"message": "chamber fault"}));
        let start = event("started", "running", 0, json!({}));
        let mut state = JobState::from_event(&end);
        state.merge(&JobState::from_event(&start));
        assert_eq!(state.status(), Status::Failed);
        assert_eq!(state.started_at, Some(1_800_000_000_000_000));
        // No measured duration: the span between start and end.
        assert_eq!(state.duration_s(), Some(0.00005));
        assert_eq!(
            state.end.and_then(|e| e.message).as_deref(),
            Some("chamber fault")
        );
    }

    #[test]
    fn succeeded_shows_complete() {
        let events = lifecycle();
        let state = fold(&[&events[1], &events[3]]);
        assert_eq!(state.progress, Some(40.0));
        assert_eq!(state.shown_progress(), Some(100.0));
    }
}
