//! Counters every client exposes: per backend and for the client as a whole.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// Live counters of one backend (lock-free; read with `snapshot`).
#[derive(Default)]
pub(crate) struct BackendCounters {
    /// Events routed to this backend (including those replayed from its spool).
    pub accepted: AtomicU64,
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    pub spooled: AtomicU64,
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
    pub corrupt: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl BackendCounters {
    /// Events whose fate is decided (delivered, failed for good, dropped, or unreadable).
    pub fn settled(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
            + self.failed.load(Ordering::Acquire)
            + self.dropped.load(Ordering::Acquire)
            + self.corrupt.load(Ordering::Acquire)
    }

    pub fn set_error(&self, message: Option<String>) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = message;
        }
    }
}

/// A point-in-time copy of one backend's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendStats {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Routed to this backend and not yet delivered, failed or dropped.
    pub queued: u64,
    pub sent: u64,
    /// Delivery attempts that failed transiently and were tried again.
    pub retried: u64,
    /// Events written to the spool because the backend was slow or down.
    pub spooled: u64,
    /// Events lost to the spool's size cap or to a broken spool.
    pub dropped: u64,
    /// Events the backend rejected permanently.
    pub failed: u64,
    /// Records of this backend's spool that could not be read back (a bad checksum, or bytes
    /// that are no event); `last_error` names the segment.
    pub corrupt: u64,
    /// True while the backend answers; false after a transient failure until a success.
    pub healthy: bool,
    pub last_error: Option<String>,
}

impl BackendStats {
    /// A backend nothing was routed to (in a process that has no pipeline of the client).
    pub(crate) fn idle(name: &str, kind: &str) -> BackendStats {
        BackendCounters::default().snapshot(name, kind, true)
    }
}

impl BackendCounters {
    pub fn snapshot(&self, name: &str, kind: &str, healthy: bool) -> BackendStats {
        let accepted = self.accepted.load(Ordering::Acquire);
        BackendStats {
            name: name.to_string(),
            kind: kind.to_string(),
            queued: accepted.saturating_sub(self.settled()),
            sent: self.sent.load(Ordering::Acquire),
            retried: self.retried.load(Ordering::Acquire),
            spooled: self.spooled.load(Ordering::Acquire),
            dropped: self.dropped.load(Ordering::Acquire),
            failed: self.failed.load(Ordering::Acquire),
            corrupt: self.corrupt.load(Ordering::Acquire),
            healthy,
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// Client-wide counters.
#[derive(Default)]
pub(crate) struct ClientCounters {
    pub emitted: AtomicU64,
    /// Dropped by on_full = drop_newest, or because spilling failed.
    pub dropped: AtomicU64,
    /// Written to the ingress spool by on_full = spill.
    pub spilled: AtomicU64,
    /// Dropped by on_full = spill because the ingress spool could not take them.
    pub spill_failed: AtomicU64,
    /// Records of the ingress or acknowledged spool that could not be read back.
    pub corrupt: AtomicU64,
    /// The client's own last trouble (its ingress spools), for `Stats::last_error`.
    pub last_error: Mutex<Option<String>>,
}

impl ClientCounters {
    pub fn set_error(&self, message: String) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(message);
        }
    }
}

/// Everything `Client::stats` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Events accepted by `emit` (and job calls).
    pub emitted: u64,
    /// Accepted but not yet routed to the backends (in memory or the ingress spool).
    pub queued: u64,
    pub dropped: u64,
    pub spilled: u64,
    /// Of `dropped`: events on_full = spill could not write to the ingress spool (its folder
    /// unusable, or a write failed); `last_error` says why.
    pub spill_failed: u64,
    /// Records of the ingress spool that could not be read back (each backend counts its
    /// own spool's).
    pub corrupt: u64,
    /// The last trouble of the client's own spools (the ingress spool unusable, a corrupt
    /// record there); each backend has its own `last_error`.
    pub last_error: Option<String>,
    pub backends: Vec<BackendStats>,
}

impl Stats {
    /// Events routed to backends and not yet settled, summed over backends.
    pub fn pending(&self) -> u64 {
        self.queued + self.backends.iter().map(|b| b.queued).sum::<u64>()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
