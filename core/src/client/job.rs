//! Jobs and subjobs as guards: `started` on start, `finished` / `failed` / `canceled` at the
//! end with resource metrics, and `canceled` (or `failed` while panicking) when a guard is
//! dropped without an ending.

use super::attrs::JobAttrs;
use super::usage::Usage;
use super::Client;
use crate::error::Result;
use crate::event::{
    self, clock, limits, new_v7, Entity, EntityRef, Kind, Level, Scalar, ScalarRef, Status,
    Timestamp,
};
use crate::pipeline::{
    decode_entity, encode_entity, encoded_entity_len, Attrs, EntityFields, Fields, Metrics,
};

/// Options of a job before it starts.
#[must_use = "a job only starts with .start()"]
pub struct JobBuilder {
    client: Client,
    /// Its kind stays empty until `kind` is given; `default_kind` stands in for it until
    /// then, so a kind that is given replaces no string made for nothing.
    entity: Entity,
    default_kind: Option<&'static str>,
    attrs: JobAttrs,
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
            attrs: JobAttrs::default(),
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
    pub fn attr(mut self, name: impl AsRef<str>, value: impl Into<Scalar>) -> Self {
        self.push_attr(name.as_ref(), value.into().borrowed());
        self
    }

    // The setters in place, for the handle table and for bindings that describe a job
    // field by field (each chained call above moves the whole builder).

    pub fn set_kind(&mut self, kind: impl Into<String>) {
        self.entity.kind = kind.into();
        self.default_kind = None;
    }

    pub fn set_id(&mut self, id: impl Into<String>) {
        self.entity.id = id.into();
    }

    pub fn set_key(&mut self, key: impl Into<String>) {
        self.entity.key = Some(key.into());
    }

    pub fn set_parent(&mut self, parent: impl Into<String>) {
        self.entity.parent = Some(parent.into());
    }

    /// `attr` in place, the value borrowed: nothing of it is copied but its encoding.
    pub fn push_attr(&mut self, name: &str, value: ScalarRef<'_>) {
        self.attrs.push(name, value);
    }

    /// The job's name.
    pub(crate) fn name(&self) -> &str {
        self.entity.name.as_deref().unwrap_or_default()
    }

    /// Emit `started` and return the guard.
    pub fn start(mut self) -> Result<Job> {
        self.start_in_place()
    }

    /// `start` that leaves the builder as it was (the handle table keeps a job that failed
    /// to start prepared, to be corrected and started again).
    pub(crate) fn start_in_place(&mut self) -> Result<Job> {
        let spec = JobSpec {
            name: self.name(),
            kind: Some(self.default_kind.unwrap_or(&self.entity.kind)),
            id: Some(self.entity.id.as_str()).filter(|id| !id.is_empty()),
            key: self.entity.key.as_deref(),
            attrs: &self.attrs,
        };
        Job::start(&self.client, &spec, self.entity.parent.as_deref())
    }
}

/// A job described with borrowed parts, for a binding that holds them only during the call
/// (`skin::JobHandle::start_spec`): nothing of it is copied but into the job's encoding.
pub struct JobSpec<'a> {
    pub name: &'a str,
    /// `None`: "subjob" under a parent, "job" otherwise.
    pub kind: Option<&'a str>,
    /// The entity id; `None`: the id of the `started` event (a new UUIDv7).
    pub id: Option<&'a str>,
    /// Business key, e.g. the lot number.
    pub key: Option<&'a str>,
    pub attrs: &'a JobAttrs,
}

/// A running job. End it with `finish`, `fail` or `cancel`; dropping it unended records
/// `canceled`, or `failed` when the thread is panicking.
pub struct Job {
    client: Client,
    /// The entity (kind, id, name, parent, key) as every event of the job encodes it: its
    /// only copy, which `entity` reads.
    head: Vec<u8>,
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
    /// Validate and queue `started` of `spec` under `parent`, measuring the usage the
    /// ending is counted from.
    pub(crate) fn start(client: &Client, spec: &JobSpec<'_>, parent: Option<&str>) -> Result<Job> {
        let (time, mono) = clock::now();
        let id = new_v7(time.unix_millis());
        let mut generated = [0u8; 36];
        let entity = EntityRef {
            kind: spec
                .kind
                .unwrap_or(if parent.is_some() { "subjob" } else { "job" }),
            id: match spec.id {
                Some(id) => id,
                None => event::hyphenated(&id, &mut generated),
            },
            name: Some(spec.name),
            parent,
            key: spec.key,
        };
        event::check_started(&entity, spec.id.is_some())?;
        spec.attrs.check()?;
        let usage = Usage::at(mono);
        let mut head = Vec::with_capacity(encoded_entity_len(&entity));
        encode_entity(&entity, &mut head);
        client.submit(&Fields {
            id,
            seq: 0,
            time,
            site: None,
            app: None,
            entity: EntityFields::Encoded(&head),
            kind: Kind::Started,
            status: Status::Running,
            progress: None,
            level: None,
            message: None,
            metrics: Metrics::None,
            attrs: Attrs::Raw(spec.attrs.raw()),
        })?;
        Ok(Job {
            client: client.clone(),
            head,
            usage,
            ended: false,
        })
    }

    /// The entity id children point to.
    pub fn id(&self) -> &str {
        self.entity().id
    }

    /// Kind, id, name, parent and key of the job.
    pub fn entity(&self) -> EntityRef<'_> {
        decode_entity(&self.head)
    }

    /// A child job (entity kind "subjob"), linked to this one.
    pub fn subjob(&self, name: &str) -> JobBuilder {
        JobBuilder::new(
            self.client.clone(),
            "subjob",
            name,
            Some(self.id().to_string()),
        )
    }

    fn send(&self, kind: Kind, extra: Extra<'_>) -> Result<()> {
        self.send_at(Timestamp::now(), kind, extra)
    }

    fn send_at(&self, time: Timestamp, kind: Kind, extra: Extra<'_>) -> Result<()> {
        self.client.submit(&Fields {
            id: new_v7(time.unix_millis()),
            seq: 0,
            time,
            site: None,
            app: None,
            entity: EntityFields::Encoded(&self.head),
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
        let (time, mono) = clock::now();
        let usage = Usage::since(&self.usage, mono);
        self.send_at(
            time,
            kind,
            Extra {
                message,
                metrics: Metrics::Pairs(&usage),
                ..NONE
            },
        )
    }

    /// End it and hand back its encoded entity, which the handle table keeps for an ended
    /// job (its name for messages, its `id`) instead of copies.
    pub(crate) fn end_into_entity(
        mut self,
        kind: Kind,
        message: Option<&str>,
    ) -> (Result<()>, Vec<u8>) {
        let sent = self.end(kind, message);
        (sent, std::mem::take(&mut self.head))
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
            .field("entity", &self.entity())
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
