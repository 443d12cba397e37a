//! Jobs behind `u64` handles, for bindings whose calls should cost a few tens of
//! nanoseconds (a JNI `long`, a Perl IV, an R double-free-safe external pointer): every
//! argument is a primitive or a short string, nothing is encoded as JSON, and a call is
//! one uncontended lock on the job's own slot plus the core's work.
//!
//! ```no_run
//! use wafermon::skin::{JobHandle, Parent};
//! # let client = wafermon::Client::new(wafermon::Config::default())?;
//! let lot = JobHandle::prepare(&client, "lot-dispatch", Parent::Current)?;
//! lot.set_kind("lot")?;
//! lot.set_key("LOT-1")?;
//! lot.attr("recipe", "R7")?;
//! lot.start()?;
//! lot.enter()?; // the current job of this thread: parentless jobs attach to it
//! let wafer = JobHandle::prepare(&client, "wafer-3", Parent::Current)?; // a subjob of lot
//! wafer.start()?;
//! wafer.metric("thickness_nm", 101.2)?;
//! wafer.finish()?;
//! wafer.release(); // frees the slot; the handle is stale from now on
//! lot.leave();
//! lot.finish()?;
//! lot.release();
//! # Ok::<(), wafermon::Error>(())
//! ```
//!
//! Life of a handle: `prepare` (nothing emitted yet; `set_kind`, `set_key`, `set_id` and
//! `attr` apply) -> `start` (`started`) -> `progress` / `metric` / `log` / `heartbeat` ->
//! one ending (`finish`, `fail`, `cancel`; later calls give `Closed` naming the job, `id`
//! and `name` still answer) -> `release`, which frees the slot. Releasing a running job
//! records `canceled` ("dropped without finish"), as dropping a `Job` guard does. After
//! `release` the handle is stale: every call gives `InvalidArgument`, and a slot reused by
//! a later job has another generation, so an old handle never reaches the new job.
//!
//! Parents: `Parent::Current` attaches a job to the innermost job this thread has entered
//! (`enter` / `leave`, a per-thread stack), `Parent::Root` to none, `Parent::Job(handle)`
//! and `Parent::Id(id)` to that job. A job with a parent has entity kind "subjob" unless
//! `set_kind` says otherwise. The parent is resolved at `start`.
//!
//! Fork: the table lives in memory a forked child inherits. A job started in the parent
//! stays usable in the child (its events go out through the child's own pipeline), but
//! releasing it there records nothing: the parent ends it. Slots are claimed and freed
//! without locks, and a slot whose lock another thread held at the fork is never waited
//! for in the child (its job gives an error there and the slot is not reused).

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use crate::client::{Client, Job, JobBuilder, JobSpec};
use crate::error::{Error, ErrorKind, Result};
use crate::event::{Kind, Level, Scalar};
use crate::fork;
use crate::pipeline::decode_entity;

/// A job in the handle table. `Copy`: the table, not the handle, owns the job; a binding
/// keeps the `raw()` number in its own object and rebuilds the handle with `from_raw`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobHandle(u64);

/// What a job started with `prepare` attaches to.
#[derive(Debug, Clone, Copy)]
pub enum Parent<'a> {
    /// The innermost job this thread has `enter`ed, if any (the default of every skin).
    Current,
    /// No parent, even inside another job.
    Root,
    /// That job (it must have started).
    Job(JobHandle),
    /// The job with this entity id (one started elsewhere, e.g. in another process).
    Id(&'a str),
}

enum ParentSpec {
    Current,
    Root,
    Id(String),
}

struct Pending {
    builder: JobBuilder,
    parent: ParentSpec,
    kind_set: bool,
}

/// The name and id live in the builder, then in the job, then here: one copy of each.
enum State {
    Pending(Box<Pending>),
    Running(Box<Job>),
    Ended {
        /// How it ended ("finished", "failed", "been canceled").
        how: &'static str,
        /// Its encoded entity (`Job::end_into_entity`): name and id.
        entity: Vec<u8>,
    },
}

struct Entry {
    state: State,
    /// The process generation (`fork::generation`) it started in.
    forks: u64,
}

impl Entry {
    fn name(&self) -> &str {
        match &self.state {
            State::Pending(p) => p.builder.name(),
            State::Running(job) => job.entity().name.unwrap_or_default(),
            State::Ended { entity, .. } => decode_entity(entity).name.unwrap_or_default(),
        }
    }

    /// Set by `start`.
    fn id(&self) -> Option<&str> {
        match &self.state {
            State::Pending(_) => None,
            State::Running(job) => Some(job.id()),
            State::Ended { entity, .. } => Some(decode_entity(entity).id),
        }
    }
}

struct Slot {
    /// The generation a live handle of this slot carries; bumped by `release`, under the lock.
    generation: AtomicU32,
    /// The next free slot (index + 1, 0 = none) while this one is on the free list.
    next_free: AtomicU32,
    /// The process generation in which this slot was last claimed.
    forks: AtomicU64,
    entry: Mutex<Option<Entry>>,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            generation: AtomicU32::new(1),
            next_free: AtomicU32::new(0),
            forks: AtomicU64::new(0),
            entry: Mutex::new(None),
        }
    }
}

const SEGMENT: usize = 1024;
const SEGMENTS: usize = 4096; // up to 4 M jobs alive at once

type Segment = [Slot; SEGMENT];

/// Slots live in segments that are allocated once and never freed, so a slot is found by
/// its index without a lock and its address never changes.
struct Table {
    segments: [AtomicPtr<Segment>; SEGMENTS],
    /// Slots ever handed out (the next fresh index).
    claimed: AtomicU32,
    /// A lock-free stack of free slots: (tag << 32) | (index + 1); the tag defeats ABA.
    free: AtomicU64,
}

static TABLE: Table = Table {
    segments: [const { AtomicPtr::new(std::ptr::null_mut()) }; SEGMENTS],
    claimed: AtomicU32::new(0),
    free: AtomicU64::new(0),
};

thread_local! {
    /// The jobs this thread has entered, innermost last.
    static CURRENT: RefCell<Vec<JobHandle>> = const { RefCell::new(Vec::new()) };
}

fn lock_entry(slot: &Slot) -> MutexGuard<'_, Option<Entry>> {
    slot.entry.lock().unwrap_or_else(|p| p.into_inner())
}

/// The slot's lock; in a forked child, without waiting for a lock held at the fork (its
/// holder does not exist here, so it would never be released).
fn lock_slot(slot: &Slot) -> Option<MutexGuard<'_, Option<Entry>>> {
    if slot.forks.load(Ordering::Acquire) == fork::generation() {
        return Some(lock_entry(slot));
    }
    let guard = match slot.entry.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return None,
    };
    // Free in this process: from now on it may be waited for.
    slot.forks.store(fork::generation(), Ordering::Release);
    Some(guard)
}

impl Table {
    fn slot(&self, index: u32) -> Option<&Slot> {
        let index = index as usize;
        let segment = self.segments.get(index / SEGMENT)?.load(Ordering::Acquire);
        // SAFETY: a segment is published whole (by `fresh`) from Box::into_raw and never
        // freed; null until then.
        unsafe { segment.as_ref() }.map(|s| &s[index % SEGMENT])
    }

    fn pop_free(&self) -> Option<u32> {
        let mut head = self.free.load(Ordering::Acquire);
        loop {
            let top = head as u32;
            if top == 0 {
                return None;
            }
            let next = self.slot(top - 1)?.next_free.load(Ordering::Acquire);
            let tagged = ((head >> 32).wrapping_add(1) << 32) | u64::from(next);
            match self
                .free
                .compare_exchange_weak(head, tagged, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(top - 1),
                Err(now) => head = now,
            }
        }
    }

    fn push_free(&self, index: u32, slot: &Slot) {
        let mut head = self.free.load(Ordering::Acquire);
        loop {
            slot.next_free.store(head as u32, Ordering::Release);
            let tagged = ((head >> 32).wrapping_add(1) << 32) | u64::from(index + 1);
            match self
                .free
                .compare_exchange_weak(head, tagged, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// A slot never used before. No lock and no waiting for other threads, so a thread
    /// that forked mid-call cannot stall the child.
    fn fresh(&self) -> Result<u32> {
        let index = self.claimed.fetch_add(1, Ordering::AcqRel);
        if index as usize >= SEGMENT * SEGMENTS {
            self.claimed.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::new(
                ErrorKind::Io,
                "too many jobs alive at once (4 M handles)",
            ));
        }
        let cell = &self.segments[index as usize / SEGMENT];
        if cell.load(Ordering::Acquire).is_null() {
            let slots: Box<[Slot]> = (0..SEGMENT).map(|_| Slot::new()).collect();
            let Ok(segment) = Box::<Segment>::try_from(slots) else {
                unreachable!("SEGMENT slots were made")
            };
            let segment = Box::into_raw(segment);
            let race = cell.compare_exchange(
                std::ptr::null_mut(),
                segment,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if race.is_err() {
                // SAFETY: ours, never published.
                drop(unsafe { Box::from_raw(segment) });
            }
        }
        Ok(index)
    }

    /// A free slot, locked, for a new entry.
    fn claim(&self) -> Result<(u32, &Slot, MutexGuard<'_, Option<Entry>>)> {
        loop {
            let index = match self.pop_free() {
                Some(i) => i,
                None => self.fresh()?,
            };
            let Some(slot) = self.slot(index) else {
                continue;
            };
            // A slot freed in a parent process may have been locked at the fork: skip it
            // (it is lost to this process, which is better than waiting forever).
            let Some(guard) = lock_slot(slot) else {
                continue;
            };
            slot.forks.store(fork::generation(), Ordering::Release);
            return Ok((index, slot, guard));
        }
    }
}

fn stale(handle: JobHandle) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("{handle:?} is not a live job handle (released already?)"),
    )
}

impl fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job handle {}.{}", self.index(), self.generation())
    }
}

impl JobHandle {
    /// The number a binding stores (never 0, so 0 can stand for "no job").
    pub fn raw(self) -> u64 {
        self.0
    }

    /// A handle from `raw()`. Any number is accepted; one that is not a live handle gives
    /// `InvalidArgument` on use.
    pub fn from_raw(raw: u64) -> JobHandle {
        JobHandle(raw)
    }

    fn index(self) -> u32 {
        self.0 as u32
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The slot's entry, locked, if this handle is live.
    fn lock(self) -> Result<MutexGuard<'static, Option<Entry>>> {
        let slot = TABLE.slot(self.index()).ok_or_else(|| stale(self))?;
        let guard = lock_slot(slot).ok_or_else(|| {
            Error::new(
                ErrorKind::Closed,
                format!("{self:?} was in use by another thread when this process forked"),
            )
        })?;
        if self.generation() == 0
            || slot.generation.load(Ordering::Acquire) != self.generation()
            || guard.is_none()
        {
            return Err(stale(self));
        }
        Ok(guard)
    }

    fn with_entry<T>(self, f: impl FnOnce(&mut Entry) -> Result<T>) -> Result<T> {
        let mut guard = self.lock()?;
        match guard.as_mut() {
            Some(entry) => f(entry),
            None => Err(stale(self)),
        }
    }

    fn with_pending(self, f: impl FnOnce(&mut Pending) -> Result<()>) -> Result<()> {
        self.with_entry(|entry| match &mut entry.state {
            State::Pending(p) => f(p),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "job '{}' has already started: kind, key, id and attrs are set before start",
                    entry.name()
                ),
            )),
        })
    }

    #[inline]
    fn with_running<T>(self, f: impl FnOnce(&Job) -> Result<T>) -> Result<T> {
        self.with_entry(|entry| match &entry.state {
            State::Running(job) => f(job),
            State::Pending(_) => Err(not_started(entry.name())),
            State::Ended { how, .. } => Err(ended(entry, how)),
        })
    }

    /// A new job of `client` named `name`, not started: nothing is emitted until `start`.
    pub fn prepare(client: &Client, name: &str, parent: Parent<'_>) -> Result<JobHandle> {
        let parent = match parent {
            Parent::Current => ParentSpec::Current,
            Parent::Root => ParentSpec::Root,
            Parent::Id(id) => ParentSpec::Id(id.to_string()),
            Parent::Job(handle) => ParentSpec::Id(handle.id()?),
        };
        JobHandle::insert(Entry {
            state: State::Pending(Box::new(Pending {
                builder: client.job(name),
                parent,
                kind_set: false,
            })),
            forks: fork::generation(),
        })
    }

    /// A new subjob of this (started) job, on the same client, not started yet.
    pub fn prepare_sub(self, name: &str) -> Result<JobHandle> {
        let builder = self.with_running(|job| Ok(job.subjob(name)))?;
        JobHandle::insert(Entry {
            state: State::Pending(Box::new(Pending {
                builder,
                parent: ParentSpec::Root, // the builder has its parent
                kind_set: true,           // and its kind, "subjob"
            })),
            forks: fork::generation(),
        })
    }

    /// Prepare, describe and start a job in one call: `describe` gets the job's builder
    /// (entity kind "job", or "subjob" under a parent) and gives it back with its kind, key,
    /// id and attributes set. One slot lock in all, where `prepare`, a call per field and
    /// `start` take one each. When describing or starting fails, nothing is left in the
    /// table (there is no handle to release).
    pub fn start_new(
        client: &Client,
        name: &str,
        parent: Parent<'_>,
        describe: impl FnOnce(JobBuilder) -> Result<JobBuilder>,
    ) -> Result<JobHandle> {
        // Other jobs' locks are taken (and let go) before this job's slot is claimed.
        let parent = match parent {
            Parent::Current => JobHandle::current().map(|h| h.id()).transpose()?,
            Parent::Root => None,
            Parent::Job(handle) => Some(handle.id()?),
            Parent::Id(id) => Some(id.to_string()),
        };
        let builder = describe(client.job_with_parent(name, parent))?;
        JobHandle::start_in_slot(|| builder.start())
    }

    /// Start a job described by borrowed parts (a binding's own buffers, read during the
    /// call): its entity and attributes are encoded once, nothing else of them is copied.
    /// `parent` as in `prepare`; `spec.kind` `None` is "subjob" under a parent, "job"
    /// otherwise. When starting fails, nothing is left in the table.
    pub fn start_spec(
        client: &Client,
        parent: Parent<'_>,
        spec: &JobSpec<'_>,
    ) -> Result<JobHandle> {
        // Other jobs' locks are taken (and let go) before this job's slot is claimed.
        let parent_id = match parent {
            Parent::Current => JobHandle::current().map(|h| h.id()).transpose()?,
            Parent::Root | Parent::Id(_) => None,
            Parent::Job(handle) => Some(handle.id()?),
        };
        let parent = match parent {
            Parent::Id(id) => Some(id),
            _ => parent_id.as_deref(),
        };
        JobHandle::start_in_slot(|| Job::start(client, spec, parent))
    }

    /// Claim a slot and start the job in it, under the slot's lock; a job that fails to
    /// start leaves nothing in the table.
    fn start_in_slot(start: impl FnOnce() -> Result<Job>) -> Result<JobHandle> {
        let (index, slot, mut guard) = TABLE.claim()?;
        match start() {
            Ok(job) => Ok(JobHandle::fill(
                index,
                slot,
                &mut guard,
                Entry {
                    state: State::Running(Box::new(job)),
                    forks: fork::generation(),
                },
            )),
            Err(e) => {
                // The slot was never handed out: free again as it is, same generation.
                drop(guard);
                TABLE.push_free(index, slot);
                Err(e)
            }
        }
    }

    fn insert(entry: Entry) -> Result<JobHandle> {
        let (index, slot, mut guard) = TABLE.claim()?;
        Ok(JobHandle::fill(index, slot, &mut guard, entry))
    }

    fn fill(index: u32, slot: &Slot, guard: &mut Option<Entry>, entry: Entry) -> JobHandle {
        *guard = Some(entry);
        let generation = slot.generation.load(Ordering::Acquire);
        JobHandle((u64::from(generation) << 32) | u64::from(index))
    }

    /// Entity kind (default "job", or "subjob" with a parent): lot, wafer, step, ...
    pub fn set_kind(self, kind: &str) -> Result<()> {
        self.with_pending(|p| {
            p.builder.set_kind(kind);
            p.kind_set = true;
            Ok(())
        })
    }

    /// Business key, e.g. the lot number.
    pub fn set_key(self, key: &str) -> Result<()> {
        self.with_pending(|p| {
            p.builder.set_key(key);
            Ok(())
        })
    }

    /// Entity id (default: a new UUIDv7).
    pub fn set_id(self, id: &str) -> Result<()> {
        self.with_pending(|p| {
            p.builder.set_id(id);
            Ok(())
        })
    }

    /// An attribute of the `started` event (str, i64, f64 or bool).
    pub fn attr(self, name: &str, value: impl Into<Scalar>) -> Result<()> {
        let value = value.into();
        self.with_pending(|p| {
            p.builder.push_attr(name, value.borrowed());
            Ok(())
        })
    }

    /// Emit `started`. A failure (an invalid attribute, a closed client) leaves the job
    /// prepared, so it may be corrected and started again, or released.
    pub fn start(self) -> Result<()> {
        // A thread that has entered no job has no current job: one lock is enough then.
        let entered = CURRENT
            .try_with(|c| !c.borrow().is_empty())
            .unwrap_or(false);
        let current = match entered
            && self.with_entry(|e| match &e.state {
                State::Pending(p) => Ok(matches!(p.parent, ParentSpec::Current)),
                _ => Err(already_started(e)),
            })? {
            // Looked up before this job's lock is taken: the parent has a lock of its own.
            // A current job that was entered but never started is an error to report, not a
            // reason to start this one as a root.
            true => JobHandle::current().map(|h| h.id()).transpose()?,
            false => None,
        };
        self.with_entry(|entry| {
            let State::Pending(pending) = &mut entry.state else {
                return Err(already_started(entry));
            };
            let parent = match &pending.parent {
                ParentSpec::Current => current,
                ParentSpec::Root => None,
                ParentSpec::Id(id) => Some(id.clone()),
            };
            let builder = &mut pending.builder;
            if let Some(parent) = parent {
                // The rule of `Client::job_under`: under a parent, a subjob unless given.
                builder.set_parent(parent);
                if !pending.kind_set {
                    builder.set_kind("subjob");
                }
            }
            // A failure leaves the builder prepared, to be corrected and started again.
            let job = builder.start_in_place()?;
            entry.state = State::Running(Box::new(job));
            entry.forks = fork::generation();
            Ok(())
        })
    }

    /// The entity id (children point to it). Set once the job has started.
    pub fn id(self) -> Result<String> {
        self.with_id(str::to_string)
    }

    /// Call `f` with the entity id without copying it (e.g. to make a JNI string).
    pub fn with_id<T>(self, f: impl FnOnce(&str) -> T) -> Result<T> {
        self.with_entry(|e| match e.id() {
            Some(id) => Ok(f(id)),
            None => Err(not_started(e.name())),
        })
    }

    /// The job's name.
    pub fn name(self) -> Result<String> {
        self.with_entry(|e| Ok(e.name().to_string()))
    }

    /// True once the job has finished, failed or been canceled.
    pub fn is_ended(self) -> Result<bool> {
        self.with_entry(|e| Ok(matches!(e.state, State::Ended { .. })))
    }

    /// Progress in percent (0 to 100), with an optional message.
    #[inline]
    pub fn progress(self, percent: f64, message: Option<&str>) -> Result<()> {
        self.with_running(|job| match message {
            Some(m) => job.progress_with(percent, m),
            None => job.progress(percent),
        })
    }

    /// One named measurement.
    #[inline]
    pub fn metric(self, name: &str, value: f64) -> Result<()> {
        self.with_running(|job| job.metric(name, value))
    }

    /// A log line of this job.
    #[inline]
    pub fn log(self, level: Level, message: &str) -> Result<()> {
        self.with_running(|job| job.log(level, message))
    }

    /// A sign of life.
    pub fn heartbeat(self) -> Result<()> {
        self.with_running(|job| job.heartbeat())
    }

    fn end(self, how: &'static str, kind: Kind, message: Option<&str>) -> Result<()> {
        self.with_entry(|entry| {
            match &entry.state {
                State::Running(_) => {}
                State::Pending(_) => return Err(not_started(entry.name())),
                State::Ended { how: was, .. } => return Err(ended(entry, was)),
            }
            let taken = std::mem::replace(
                &mut entry.state,
                State::Ended {
                    how,
                    entity: Vec::new(),
                },
            );
            let State::Running(job) = taken else {
                return Ok(());
            };
            // The ending consumes the job whether or not it was recorded.
            let (sent, entity) = job.end_into_entity(kind, message);
            let how = match sent {
                Ok(()) => how,
                Err(_) => "ended (its ending call failed)",
            };
            entry.state = State::Ended { how, entity };
            sent
        })
    }

    /// End successfully (`finished`, with CPU, memory and duration metrics).
    pub fn finish(self) -> Result<()> {
        self.end("finished", Kind::Finished, None)
    }

    /// End as failed, saying why.
    pub fn fail(self, message: &str) -> Result<()> {
        self.end("failed", Kind::Failed, Some(message))
    }

    /// End as canceled, saying why.
    pub fn cancel(self, message: &str) -> Result<()> {
        self.end("been canceled", Kind::Canceled, Some(message))
    }

    /// Free the slot; the handle (and every copy of it) is stale afterwards. A running job
    /// records `canceled` ("dropped without finish"), unless it was started in a parent
    /// process (that process ends it). Releasing a stale handle does nothing and says so
    /// (`false`), so a finalizer may always call it.
    pub fn release(self) -> bool {
        let Some(slot) = TABLE.slot(self.index()) else {
            return false;
        };
        let Some(mut guard) = lock_slot(slot) else {
            return false; // locked at a fork: the slot is lost to this process
        };
        if self.generation() == 0
            || slot.generation.load(Ordering::Acquire) != self.generation()
            || guard.is_none()
        {
            return false;
        }
        let entry = guard.take();
        let next = match self.generation().wrapping_add(1) {
            0 => 1,
            g => g,
        };
        slot.generation.store(next, Ordering::Release);
        drop(guard);
        TABLE.push_free(self.index(), slot);
        // The ending (if any) is emitted outside the slot's lock.
        if let Some(Entry {
            state: State::Running(job),
            forks,
            ..
        }) = entry
        {
            if forks == fork::generation() {
                drop(job); // records `canceled`, as a dropped guard does
            } else {
                (*job).disown();
            }
        }
        true
    }

    /// Make this job the current one of this thread: `Parent::Current` jobs started on this
    /// thread attach to it until `leave`.
    pub fn enter(self) -> Result<()> {
        self.with_entry(|_| Ok(()))?;
        CURRENT.with(|c| c.borrow_mut().push(self));
        Ok(())
    }

    /// Stop being the current job of this thread (the innermost entry of this handle is
    /// removed, so a block left out of order does not disturb the others).
    pub fn leave(self) {
        let _ = CURRENT.try_with(|c| {
            let mut stack = c.borrow_mut();
            if let Some(at) = stack.iter().rposition(|h| *h == self) {
                stack.remove(at);
            }
        });
    }

    /// The innermost job this thread has entered and not left that is still in the table
    /// (released handles are skipped); an ended job stays current until it is left.
    pub fn current() -> Option<JobHandle> {
        CURRENT
            .try_with(|c| {
                let mut stack = c.borrow_mut();
                while let Some(&top) = stack.last() {
                    if top.lock().is_ok() {
                        return Some(top);
                    }
                    stack.pop();
                }
                None
            })
            .ok()
            .flatten()
    }

    /// `current()`, or `InvalidArgument` saying no job is open on this thread.
    pub fn current_or_err() -> Result<JobHandle> {
        JobHandle::current().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                "no job is open on this thread (start one and enter it first)",
            )
        })
    }
}

fn not_started(name: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("job '{name}' has not started"),
    )
}

fn ended(entry: &Entry, how: &str) -> Error {
    Error::new(
        ErrorKind::Closed,
        format!(
            "job '{}' (id {}) has already {how}",
            entry.name(),
            entry.id().unwrap_or("?")
        ),
    )
}

fn already_started(entry: &Entry) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("job '{}' has already started", entry.name()),
    )
}
