//! Zabbix backend: events become values of trapper items, sent with the Zabbix sender
//! protocol over TCP (port 10051 by default).
//!
//! `items` maps item keys to what of an event they receive (status, kind, progress, message,
//! metrics.<name>); an event sends the items it has a value for, with the event's time as
//! the value's clock/ns (sub-microsecond digits from the event's seq, see `nanos`). An event
//! with none of them has nothing to send and counts as delivered.
//!
//! Zabbix only answers with counts ("processed: N; failed: N"), never which value it
//! refused. It refuses per item (unknown host or item, disabled item, not a trapper item),
//! so each request carries the values of one item key only: a refusal then names its key
//! without resending anything. Should one request still come back half refused, its values
//! are sent again one per request, once, to find the refused ones (Zabbix keeps one history
//! row per item and clock/ns, so the values it had taken are not stored twice).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use crate::backends::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, ItemSource, ZabbixConfig};
use crate::error::{Error, Result};
use crate::event::EventRef;

use super::wire;
use super::wire::{Counts, Value};

/// Values per request, as zabbix_sender sends them.
const MAX_VALUES: usize = 250;
/// Bytes per request (estimated before encoding). Far below the protocol's 1 GiB packet
/// limit on purpose: measured here against Zabbix 6.0, requests up to ~40 KB are answered in
/// about a millisecond, while from ~50 KB on each one takes 40-200 ms (the server's read of
/// a larger packet), so throughput falls tenfold. A single bigger value still goes alone.
const MAX_BYTES: usize = 32 * 1024;
/// JSON around one value besides its host, key and text.
const VALUE_OVERHEAD: usize = 64;

pub struct Zabbix {
    server: String,
    port: u16,
    host: String,
    items: Vec<(String, ItemSource)>,
    timeout: Duration,
}

impl Zabbix {
    pub fn new(config: ZabbixConfig, _app: &AppConfig) -> Result<Zabbix> {
        if config.server.contains("://") || config.server.contains('/') {
            return Err(Error::config(
                "server",
                format!(
                    "'{}' is not a host name or address (the sender protocol is plain TCP; \
                     the port goes in 'port')",
                    config.server
                ),
            ));
        }
        if config.host.len() > 128 {
            return Err(Error::config(
                "host",
                "Zabbix host names are at most 128 characters",
            ));
        }
        Ok(Zabbix {
            server: config.server,
            port: config.port,
            host: config.host,
            items: config.items.into_iter().collect(),
            timeout: config.net.timeout,
        })
    }

    /// For each item key, the values the batch has for it: (event position, value).
    fn values(&self, batch: &Batch) -> Vec<Vec<(usize, Value<'_>)>> {
        let mut groups: Vec<Vec<(usize, Value<'_>)>> = vec![Vec::new(); self.items.len()];
        for (position, event) in batch.iter().enumerate() {
            let micros = event.time.unix_micros();
            for ((key, source), group) in self.items.iter().zip(groups.iter_mut()) {
                if let Some(value) = value_of(source, &event) {
                    group.push((
                        position,
                        Value {
                            host: &self.host,
                            key,
                            value,
                            clock: micros.div_euclid(1_000_000),
                            ns: nanos(micros, event.seq),
                        },
                    ));
                }
            }
        }
        groups
    }

    fn request(
        &self,
        addrs: &[SocketAddr],
        values: &[(usize, Value<'_>)],
    ) -> Result<Counts, DeliveryError> {
        let body = wire::body(Values(values))?;
        wire::exchange(addrs, &body, self.timeout)
    }

    /// A half-refused request: each value alone, to tell the refused ones from the others.
    fn probe(&self, addrs: &[SocketAddr], chunk: &[(usize, Value<'_>)], report: &mut Report) {
        for one in chunk.chunks(1) {
            let (position, value) = &one[0];
            if report.transient.is_some() {
                report.retry.insert(*position);
                continue;
            }
            match self.request(addrs, one) {
                Ok(counts) if counts.failed == 0 => {}
                Ok(counts) => report.refused(value.key, *position, 1, &counts),
                Err(e) => report.error(e, std::iter::once(*position)),
            }
        }
    }
}

/// The values of a chunk without their event positions, as the request's `data` array.
struct Values<'s, 'a>(&'s [(usize, Value<'a>)]);

impl serde::Serialize for Values<'_, '_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(_, v)| v))
    }
}

/// The nanoseconds of a value's clock: the event's microseconds, plus the event's `seq`
/// modulo 1000 below them. Zabbix keeps one value per item and clock/ns, so two events of
/// one microsecond (a busy process) must not share it; and since `seq` travels with the
/// event, a value sent again lands on the same clock/ns and is not stored twice.
fn nanos(micros: i64, seq: u64) -> u32 {
    (micros.rem_euclid(1_000_000) * 1000) as u32 + (seq % 1000) as u32
}

/// An item's value in the event, as the text the sender protocol carries.
fn value_of(source: &ItemSource, event: &EventRef<'_>) -> Option<String> {
    match source {
        ItemSource::Status => Some(event.status.as_str().to_string()),
        ItemSource::Kind => Some(event.kind.as_str().to_string()),
        ItemSource::Progress => event.progress.map(number),
        ItemSource::Message => event.message.map(str::to_string),
        ItemSource::Metric(name) => event
            .metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| number(v)),
    }
}

/// Shortest text that reads back as the same f64, never in exponent form (Zabbix parses
/// plain decimals).
fn number(v: f64) -> String {
    format!("{v}")
}

/// Requests of at most MAX_VALUES values and about MAX_BYTES bytes (one value always fits).
fn chunks<'v, 'a>(group: &'v [(usize, Value<'a>)]) -> Vec<&'v [(usize, Value<'a>)]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (_, v)) in group.iter().enumerate() {
        let size = v.host.len() + v.key.len() + v.value.len() + VALUE_OVERHEAD;
        if i > start && (i - start == MAX_VALUES || bytes + size > MAX_BYTES) {
            out.push(&group[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < group.len() {
        out.push(&group[start..]);
    }
    out
}

/// What became of a batch's values, request by request.
#[derive(Default)]
struct Report {
    /// Events with a value the server refused.
    rejected: BTreeSet<usize>,
    /// Events with a value not (or not surely) taken: sent again later.
    retry: BTreeSet<usize>,
    /// Refused item keys with how many values, and the server's last answer.
    refused_keys: Vec<(String, u64)>,
    last_info: Option<Counts>,
    /// Other permanent problems (a `failed` response, an answer not in the protocol).
    permanent: Option<String>,
    /// The first network problem: what follows is not tried in this round.
    transient: Option<String>,
    /// Whether any request got an answer.
    answered: bool,
}

impl Report {
    fn refused(&mut self, key: &str, position: usize, count: u64, counts: &Counts) {
        self.rejected.insert(position);
        self.last_info = Some(*counts);
        match self.refused_keys.iter_mut().find(|(k, _)| k == key) {
            Some((_, n)) => *n += count,
            None => self.refused_keys.push((key.to_string(), count)),
        }
    }

    fn error(&mut self, e: DeliveryError, positions: impl Iterator<Item = usize>) {
        match e {
            DeliveryError::Transient { message, .. } => {
                self.retry.extend(positions);
                self.transient.get_or_insert(message);
            }
            other => {
                self.answered = true;
                self.rejected.extend(positions);
                self.permanent.get_or_insert(other.message().to_string());
            }
        }
    }

    fn message(&self, server: &str, port: u16, host: &str) -> String {
        let mut parts = Vec::new();
        if !self.refused_keys.is_empty() {
            let keys: Vec<String> = self
                .refused_keys
                .iter()
                .map(|(k, n)| format!("'{k}' ({n} value{})", if *n == 1 { "" } else { "s" }))
                .collect();
            let answer = self.last_info.map_or(String::new(), |c| {
                format!(
                    " (last answer: processed: {}; failed: {}; total: {})",
                    c.processed, c.failed, c.total
                )
            });
            parts.push(format!(
                "zabbix server {server}:{port} refused item {} of host '{host}': item not \
                 found or not a trapper item (or the host is unknown or disabled){answer}",
                keys.join(", ")
            ));
        }
        parts.extend(self.permanent.iter().cloned());
        parts.extend(self.transient.iter().cloned());
        parts.join("; ")
    }
}

impl Backend for Zabbix {
    fn send(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError> {
        let groups = self.values(batch);
        if groups.iter().all(Vec::is_empty) {
            return Ok(());
        }
        let addrs = wire::resolve(&self.server, self.port)?;
        let mut report = Report::default();
        for (group, (key, _)) in groups.iter().zip(&self.items) {
            for chunk in chunks(group) {
                let positions = || chunk.iter().map(|(p, _)| *p);
                if report.transient.is_some() {
                    // The server is unreachable: the rest waits for the next attempt.
                    report.retry.extend(positions());
                    continue;
                }
                match self.request(&addrs, chunk) {
                    Ok(counts) => {
                        report.answered = true;
                        if counts.failed == 0 {
                            continue;
                        }
                        if counts.processed == 0 {
                            for p in positions() {
                                report.refused(key, p, 1, &counts);
                            }
                        } else {
                            self.probe(&addrs, chunk, &mut report);
                        }
                    }
                    Err(e) => report.error(e, positions()),
                }
            }
        }
        if report.rejected.is_empty() && report.retry.is_empty() {
            return Ok(());
        }
        let message = report.message(&self.server, self.port, &self.host);
        if !report.answered && report.rejected.is_empty() {
            return Err(DeliveryError::transient(message));
        }
        Err(DeliveryError::Partial {
            rejected: report.rejected.into_iter().collect(),
            retry: report.retry.into_iter().collect(),
            message,
            retry_after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> (usize, Value<'static>) {
        (
            0,
            Value {
                host: "h",
                key: "k",
                value: text.to_string(),
                clock: 0,
                ns: 0,
            },
        )
    }

    #[test]
    fn chunks_respect_count_and_bytes() {
        let many: Vec<_> = (0..600).map(|_| value("1")).collect();
        let sizes: Vec<usize> = chunks(&many).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![250, 250, 100]);

        let big = "x".repeat(MAX_BYTES / 2);
        let large: Vec<_> = (0..3).map(|_| value(&big)).collect();
        let sizes: Vec<usize> = chunks(&large).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![1, 1, 1]);

        let huge = vec![value(&"x".repeat(MAX_BYTES * 2))];
        assert_eq!(chunks(&huge).len(), 1);
        assert!(chunks(&[]).is_empty());
    }

    #[test]
    fn nanos_keep_the_microseconds_and_the_seq_below_them() {
        assert_eq!(nanos(1_700_000_000_123_456, 0), 123_456_000);
        assert_eq!(nanos(1_700_000_000_123_456, 2_042), 123_456_042);
        assert_eq!(nanos(-1, 1), 999_999_001);
    }

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(number(42.0), "42");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(1e21), "1000000000000000000000");
        assert_eq!(number(-2.5e-7), "-0.00000025");
    }
}
