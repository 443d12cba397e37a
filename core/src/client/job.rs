//! Jobs and subjobs as guards: `started` on start, `finished` / `failed` / `canceled` at the
//! end with resource metrics, and `canceled` (or `failed` while panicking) when a guard is
//! dropped without an ending.

use uuid::Uuid;

use super::usage::Usage;
use super::Client;
use crate::error::Result;
use crate::event::{self, limits, new_v7, Entity, Kind, Level, Scalar, Status, Timestamp};
use crate::pipeline::{Attrs, Fields, Metrics};

/// Options of a job before it starts.
#[must_use = "a job only starts with .start()"]
pub struct JobBuilder {
    client: Client,
    /// Its kind stays empty until `kind` or `start` (which writes `default_kind`), so a
    /// kind that is given replaces no string made for nothing.
    entity: Entity,
    default_kind: Option<&'static str>,
    attrs: Vec<(String, Scalar)>,
}

impl JobBuilder {
    pub(crate) fn new(
        client: Client,
        kind: &'static str,
        name: &str,
        parent: Option<String>,
    ) -> Self {
        let mut entity = Entity::new(String::new(), String::new());
        entity.name = Some(name.to_string());
        entity.parent = parent;
        JobBuilder {
            client,
            entity,
            default_kind: Some(kind),
            attrs: Vec::new(),
        }
    }

    /// Entity kind (default "job", or "subjob" for `Job::subjob`): lot, wafer, step, ...
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.set_kind(kind);
        self
    }

    /// Entity id; by default a new UUIDv7, unique per run.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.set_id(id);
        self
    }

    /// Business key, e.g. the lot number.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.set_key(key);
        self
    }

    /// Id of the parent entity (set for you by `Job::subjob`).
    pub fn parent(mut self, parent: impl Into<String>) -> Self {
        self.set_parent(parent);
        self
    }

    /// An attribute carried by the `started` event.
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<Scalar>) -> Self {
        self.push_attr(name, value);
        self
    }

    // The setters in place, for the handle table (which keeps a builder in its slot and
    // would otherwise move it out and back for every call).

    pub(crate) fn set_kind(&mut self, kind: impl Into<String>) {
        self.entity.kind = kind.into();
        self.default_kind = None;
    }

    pub(crate) fn set_id(&mut self, id: impl Into<String>) {
        self.entity.id = id.into();
    }

    pub(crate) fn set_key(&mut self, key: impl Into<String>) {
        self.entity.key = Some(key.into());
    }

    pub(crate) fn set_parent(&mut self, parent: impl Into<String>) {
        self.entity.parent = Some(parent.into());
    }

    pub(crate) fn push_attr(&mut self, name: impl Into<String>, value: impl Into<Scalar>) {
        self.attrs.push((name.into(), value.into()));
    }

    /// The job's name.
    pub(crate) fn name(&self) -> &str {
        self.entity.name.as_deref().unwrap_or_default()
    }

    /// Emit `started` and return the guard.
    pub fn start(mut self) -> Result<Job> {
        let usage = self.send_started()?;
        Ok(Job {
            client: self.client,
            entity: self.entity,
            usage,
            ended: false,
        })
    }

    /// `start` that leaves the builder as it was when it fails (the handle table keeps a
    /// job that failed to start prepared, without copying the builder first).
    pub(crate) fn start_in_place(&mut self) -> Result<Job> {
        let usage = self.send_started()?;
        Ok(Job {
            client: self.client.clone(),
            entity: std::mem::replace(&mut self.entity, Entity::new(String::new(), String::new())),
            usage,
            ended: false,
        })
    }

    /// Validate and queue `started`, measuring the usage the ending is counted from. The
    /// entity and attributes are only borrowed, so a failure leaves them as they were (a
    /// generated id is taken back).
    fn send_started(&mut self) -> Result<Usage> {
        if let Some(kind) = self.default_kind.take() {
            self.entity.kind = kind.to_string();
        }
        let time = Timestamp::now();
        let id = new_v7(time.unix_millis());
        let generated_id = self.entity.id.is_empty();
        if generated_id {
            self.entity.id =
                String::from(&*id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        }
        let usage = Usage::now();
        let sent = event::check_started(&self.entity, &self.attrs).and_then(|()| {
            self.client.submit(&Fields {
                id,
                seq: 0,
                time,
                site: None,
                app: None,
                entity: (&self.entity).into(),
                kind: Kind::Started,
                status: Status::Running,
                progress: None,
                level: None,
                message: None,
                metrics: Metrics::None,
                attrs: Attrs::List(&self.attrs),
            })
        });
        if let Err(e) = sent {
            if generated_id {
                self.entity.id.clear();
            }
            return Err(e);
        }
        Ok(usage)
    }
}

/// A running job. End it with `finish`, `fail` or `cancel`; dropping it unended records
/// `canceled`, or `failed` when the thread is panicking.
pub struct Job {
    client: Client,
    entity: Entity,
    usage: Usage,
    ended: bool,
}

struct Extra<'a> {
    progress: Option<f64>,
    level: Option<Level>,
    message: Option<&'a str>,
    metrics: Metrics<'a>,
}

const NONE: Extra<'static> = Extra {
    progress: None,
    level: None,
    message: None,
    metrics: Metrics::None,
};

impl Job {
    /// The entity id children point to.
    pub fn id(&self) -> &str {
        &self.entity.id
    }

    pub fn entity(&self) -> &Entity {
        &self.entity
    }

    /// A child job (entity kind "subjob"), linked to this one.
    pub fn subjob(&self, name: &str) -> JobBuilder {
        JobBuilder::new(
            self.client.clone(),
            "subjob",
            name,
            Some(self.entity.id.clone()),
        )
    }

    fn send(&self, kind: Kind, extra: Extra<'_>) -> Result<()> {
        let time = Timestamp::now();
        self.client.submit(&Fields {
            id: new_v7(time.unix_millis()),
            seq: 0,
            time,
            site: None,
            app: None,
            entity: (&self.entity).into(),
            kind,
            status: kind.implied_status().unwrap_or(Status::Running),
            progress: extra.progress,
            level: extra.level,
            message: extra.message,
            metrics: extra.metrics,
            attrs: Attrs::None,
        })
    }

    /// Report progress in percent (0 to 100).
    pub fn progress(&self, percent: f64) -> Result<()> {
        event::check_progress(percent)?;
        self.send(
            Kind::Progress,
            Extra {
                progress: Some(percent),
                ..NONE
            },
        )
    }

    /// Progress with a message ("slot 12 of 25").
    pub fn progress_with(&self, percent: f64, message: &str) -> Result<()> {
        event::check_progress(percent)?;
        event::check_text("message", message, limits::MAX_MESSAGE)?;
        self.send(
            Kind::Progress,
            Extra {
                progress: Some(percent),
                message: Some(message),
                ..NONE
            },
        )
    }

    /// One named measurement.
    pub fn metric(&self, name: &str, value: f64) -> Result<()> {
        event::check_metric(name, value)?;
        self.send(
            Kind::Metric,
            Extra {
                metrics: Metrics::One(name, value),
                ..NONE
            },
        )
    }

    pub fn log(&self, level: Level, message: &str) -> Result<()> {
        event::check_text("message", message, limits::MAX_MESSAGE)?;
        self.send(
            Kind::Log,
            Extra {
                level: Some(level),
                message: Some(message),
                ..NONE
            },
        )
    }

    pub fn heartbeat(&self) -> Result<()> {
        self.send(Kind::Heartbeat, NONE)
    }

    /// Ending never fails on the message: a job must not lose its ending because the
    /// reason was too long, so an over-long message is cut at the limit.
    fn end(&mut self, kind: Kind, message: Option<&str>) -> Result<()> {
        let message = message.map(|m| match m.char_indices().nth(limits::MAX_MESSAGE) {
            Some((cut, _)) => &m[..cut],
            None => m,
        });
        self.ended = true;
        let usage = Usage::since(&self.usage);
        self.send(
            kind,
            Extra {
                message,
                metrics: Metrics::Pairs(&usage),
                ..NONE
            },
        )
    }

    /// End it and hand back its name and id, which the handle table keeps for an ended
    /// job (its messages and `id`) instead of copies made at the start.
    pub(crate) fn end_into_names(
        mut self,
        kind: Kind,
        message: Option<&str>,
    ) -> (Result<()>, String, String) {
        let sent = self.end(kind, message);
        let name = self.entity.name.take().unwrap_or_default();
        (sent, name, std::mem::take(&mut self.entity.id))
    }

    /// Let go without an ending: nothing is recorded (a job a forked child inherited,
    /// which its parent process ends).
    pub(crate) fn disown(mut self) {
        self.ended = true;
    }

    /// End successfully.
    pub fn finish(mut self) -> Result<()> {
        self.end(Kind::Finished, None)
    }

    /// End as failed, saying why.
    pub fn fail(mut self, message: &str) -> Result<()> {
        self.end(Kind::Failed, Some(message))
    }

    /// End as canceled, saying why.
    pub fn cancel(mut self, message: &str) -> Result<()> {
        self.end(Kind::Canceled, Some(message))
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("entity", &self.entity)
            .field("ended", &self.ended)
            .finish()
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let _ = if std::thread::panicking() {
            self.end(Kind::Failed, Some("panicked"))
        } else {
            self.end(Kind::Canceled, Some("dropped without finish"))
        };
    }
}
