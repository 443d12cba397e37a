//! A durable, size-capped FIFO of records on disk: one folder per backend holding numbered
//! segment files and a cursor. Each record is `[len u32 LE][crc32 u32 LE][payload]`.
//! Replay after a restart starts at the cursor; corrupt records (a bad checksum, or a good one
//! over bytes that are no record) are skipped, counted and named in one log line per read;
//! when the cap is exceeded the oldest segment is dropped and its records counted.
//!
//! Records that must go before everything already spooled (a retry the backend asked for, a
//! batch that was first in line in memory at close) are written to the folder's `head` file,
//! replaced whole (write, then rename) so a crash leaves the old or the new one; reads take
//! the head first.
//!
//! A folder is claimed with an exclusive file lock, so two live processes never share one and
//! a restarted process adopts what a dead one left behind.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::record;
use crate::config::FsyncPolicy;

const HEADER: usize = 8;
/// A length above this can only be garbage.
const MAX_RECORD: u32 = 64 * 1024 * 1024;
const MAX_SLOTS: usize = 256;
/// The file of records that go before the segments.
const HEAD: &str = "head";

struct Segment {
    id: u64,
    size: u64,
    /// Records in this segment after the cursor (or all of them, for later segments).
    unread: u64,
}

/// Where the next read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    segment: u64,
    offset: u64,
}

/// What `read` returns: the records in order as one buffer (`[len u32 LE][payload]` each,
/// as in memory), and the position to `commit` once delivered.
pub(crate) struct ReadBatch {
    pub framed: Vec<u8>,
    pub count: usize,
    pub end: Position,
    /// Corrupt records skipped while reading (counted as corrupt on commit).
    skipped: u64,
    /// The segment and offset of the first of them, for the message.
    first_skipped: Option<Position>,
    /// Records taken from the head (then nothing from the segments).
    from_head: usize,
}

pub(crate) struct Spool {
    dir: PathBuf,
    _lock: crate::fork::ParentOnly,
    fsync: FsyncPolicy,
    max_bytes: u64,
    segment_limit: u64,
    segments: VecDeque<Segment>,
    /// Records (payloads) that go before the segments, as the head file holds them.
    head: VecDeque<Vec<u8>>,
    writer: Option<File>,
    cursor: Position,
    /// Records not yet committed.
    pending: u64,
    /// Records lost to the size cap since the last `take_counters`.
    dropped: u64,
    /// Corrupt records skipped since the last `take_counters`.
    corrupt: u64,
    /// What the last corrupt records were, and where (until `take_complaint`).
    complaint: Option<String>,
    /// A read not yet committed or abandoned: its segments must not be dropped by the cap.
    reading: bool,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.seg"))
}

impl Spool {
    /// Claim the first free slot under `base/name/` and open (or replay) it.
    pub fn open(base: &Path, name: &str, max_bytes: u64, fsync: FsyncPolicy) -> io::Result<Spool> {
        let root = base.join(name);
        fs::create_dir_all(&root)?;
        for slot in 0..MAX_SLOTS {
            let dir = root.join(slot.to_string());
            fs::create_dir_all(&dir)?;
            let lock_path = dir.join("lock");
            // A forked child closes its copy of the lock, so a restarted parent can take the
            // slot back while children still run.
            let claimed = crate::fork::ParentOnly::claim(|| {
                let lock = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)?;
                match lock.try_lock() {
                    Ok(()) => Ok(Some(lock)),
                    Err(fs::TryLockError::WouldBlock) => Ok(None),
                    Err(fs::TryLockError::Error(e)) => Err(e),
                }
            })?;
            if let Some(lock) = claimed {
                return Spool::open_claimed(dir, lock, max_bytes, fsync);
            }
        }
        Err(io::Error::other(format!(
            "all {MAX_SLOTS} spool slots under {} are in use",
            root.display()
        )))
    }

    fn open_claimed(
        dir: PathBuf,
        lock: crate::fork::ParentOnly,
        max_bytes: u64,
        fsync: FsyncPolicy,
    ) -> io::Result<Spool> {
        let mut ids: Vec<u64> = fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        let cursor = read_cursor(&dir).unwrap_or(Position {
            segment: ids.first().copied().unwrap_or(1),
            offset: 0,
        });
        let mut spool = Spool {
            segment_limit: (max_bytes / 8).clamp(64 * 1024, 16 * 1024 * 1024),
            dir,
            _lock: lock,
            fsync,
            max_bytes,
            segments: VecDeque::new(),
            head: VecDeque::new(),
            writer: None,
            cursor,
            pending: 0,
            dropped: 0,
            corrupt: 0,
            complaint: None,
            reading: false,
        };
        for id in ids {
            let path = segment_path(&spool.dir, id);
            if id < cursor.segment {
                // Fully delivered before the last shutdown.
                let _ = fs::remove_file(path);
                continue;
            }
            let size = fs::metadata(&path)?.len();
            let from = if id == cursor.segment {
                cursor.offset
            } else {
                0
            };
            // Records with a bad checksum count here and as corrupt when a read skips them.
            let unread = count_records(&path, from)?;
            spool.pending += unread;
            spool.segments.push_back(Segment { id, size, unread });
        }
        spool.load_head()?;
        if spool.segments.front().map(|s| s.id) != Some(spool.cursor.segment) {
            spool.cursor = Position {
                segment: spool
                    .segments
                    .front()
                    .map_or(spool.cursor.segment.max(1), |s| s.id),
                offset: 0,
            };
        }
        Ok(spool)
    }

    /// Read the head file a previous run left (its unreadable records are counted corrupt).
    fn load_head(&mut self) -> io::Result<()> {
        let file = match File::open(self.dir.join(HEAD)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut reader = io::BufReader::new(file);
        let mut framed = Vec::new();
        let mut skipped = 0;
        loop {
            let start = framed.len();
            match next_record(&mut reader, &mut framed)? {
                Next::Record(_) if record::decodes(&framed[start + 4..]) => {}
                Next::Record(_) | Next::BadChecksum(_) => {
                    framed.truncate(start);
                    skipped += 1;
                }
                Next::Garbage | Next::End => break,
            }
        }
        self.head = super::batch::records(&framed).map(<[u8]>::to_vec).collect();
        self.pending += self.head.len() as u64;
        if skipped > 0 {
            self.corrupt += skipped;
            let message = format!(
                "spool head {}: {skipped} corrupt record(s) skipped",
                self.dir.join(HEAD).display()
            );
            log::warn!("{message}");
            self.complaint = Some(message);
            // Counted once: the head keeps only what can be read.
            self.write_head()?;
        }
        Ok(())
    }

    /// Replace the head file with `self.head` (or remove it when empty): write, sync as the
    /// policy says, rename.
    fn write_head(&self) -> io::Result<()> {
        let path = self.dir.join(HEAD);
        if self.head.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let mut buf = Vec::new();
        for payload in &self.head {
            buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            buf.extend_from_slice(payload);
        }
        let tmp = self.dir.join("head.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        if self.fsync != FsyncPolicy::Never {
            f.sync_data()?;
        }
        fs::rename(tmp, path)
    }

    /// Put records before everything spooled (in the head), on disk before this returns.
    pub fn put_first<'a>(&mut self, records: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        let first: Vec<Vec<u8>> = records.into_iter().map(<[u8]>::to_vec).collect();
        let n = first.len();
        for payload in first.into_iter().rev() {
            self.head.push_front(payload);
        }
        if let Err(e) = self.write_head() {
            self.head.drain(..n);
            return Err(e);
        }
        self.pending += n as u64;
        Ok(())
    }

    /// Commit `batch` but keep `retry` (records of it to send again) first in line: they
    /// are in the head on disk before the cursor moves, so a crash in between only sends
    /// the batch again. Fails (changing nothing) only when the head cannot be written.
    pub fn commit_keeping<'a>(
        &mut self,
        batch: &ReadBatch,
        retry: impl IntoIterator<Item = &'a [u8]>,
    ) -> io::Result<()> {
        let retry: Vec<Vec<u8>> = retry.into_iter().map(<[u8]>::to_vec).collect();
        let (n, read) = (retry.len(), batch.from_head);
        let rest: VecDeque<Vec<u8>> = retry
            .into_iter()
            .chain(self.head.iter().skip(read).cloned())
            .collect();
        let before = std::mem::replace(&mut self.head, rest);
        if let Err(e) = self.write_head() {
            self.head = before;
            return Err(e);
        }
        // The head's read records are gone, the retry ones are in: pending as the segments'
        // commit below expects it.
        self.pending = self.pending - read as u64 + n as u64;
        if read > 0 {
            self.reading = false;
            return Ok(());
        }
        // The retry is safe in the head now; a cursor that cannot be written only means the
        // batch is sent again after a restart (an error here would make the caller keep the
        // retry a second time).
        if let Err(e) = self.commit(batch) {
            self.complaint = Some(format!("cannot advance spool cursor: {e}"));
        }
        Ok(())
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records appended and not yet committed.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// (dropped by the size cap, corrupt) since the last call.
    pub fn take_counters(&mut self) -> (u64, u64) {
        let c = (self.dropped, self.corrupt);
        self.dropped = 0;
        self.corrupt = 0;
        c
    }

    /// The message about the last corrupt records skipped, once.
    pub fn take_complaint(&mut self) -> Option<String> {
        self.complaint.take()
    }

    /// Append records (payloads without framing) as one write.
    pub fn append<'a>(&mut self, records: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut count = 0u64;
        for payload in records {
            buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            buf.extend_from_slice(payload);
            count += 1;
            if self.fsync == FsyncPolicy::Always {
                self.write_framed(&buf, count)?;
                buf.clear();
                count = 0;
            }
        }
        if count > 0 {
            self.write_framed(&buf, count)?;
        }
        self.enforce_cap();
        Ok(())
    }

    fn write_framed(&mut self, framed: &[u8], count: u64) -> io::Result<()> {
        // Never append to a segment this process did not start (it may end in a torn record
        // from a crash) or one whose last write failed: start a new one instead.
        let needs_new = self.writer.is_none()
            || self
                .segments
                .back()
                .is_none_or(|last| last.size >= self.segment_limit);
        if needs_new {
            let id = self
                .segments
                .back()
                .map_or(self.cursor.segment.max(1), |s| s.id + 1);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.dir, id))?;
            self.segments.push_back(Segment {
                id,
                size: 0,
                unread: 0,
            });
            self.writer = Some(file);
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(io::Error::other("spool writer missing"));
        };
        let written = writer.write_all(framed).and_then(|()| {
            if self.fsync == FsyncPolicy::Never {
                Ok(())
            } else {
                writer.sync_data()
            }
        });
        if let Err(e) = written {
            self.writer = None;
            return Err(e);
        }
        if let Some(last) = self.segments.back_mut() {
            last.size += framed.len() as u64;
            last.unread += count;
        }
        self.pending += count;
        Ok(())
    }

    fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Drop the oldest segments while over the cap (never the one being written, nor while a
    /// read is out: its records may be on their way to the backend).
    fn enforce_cap(&mut self) {
        while !self.reading && self.total_bytes() > self.max_bytes && self.segments.len() > 1 {
            if let Some(oldest) = self.segments.pop_front() {
                self.dropped += oldest.unread;
                self.pending = self.pending.saturating_sub(oldest.unread);
                let _ = fs::remove_file(segment_path(&self.dir, oldest.id));
                if let Some(next) = self.segments.front() {
                    self.cursor = Position {
                        segment: next.id,
                        offset: 0,
                    };
                    let _ = self.write_cursor();
                }
            }
        }
    }

    /// Segments that disappeared (a cleaner deleted them): their records are lost and counted.
    fn forget_missing_segments(&mut self) {
        let dir = self.dir.clone();
        let before = self.segments.len();
        let mut lost = 0;
        self.segments.retain(|seg| {
            let present = segment_path(&dir, seg.id).exists();
            if !present {
                lost += seg.unread;
            }
            present
        });
        if self.segments.len() != before {
            self.dropped += lost;
            self.pending = self.pending.saturating_sub(lost);
            if let Some(front) = self.segments.front() {
                if front.id > self.cursor.segment {
                    self.cursor = Position {
                        segment: front.id,
                        offset: 0,
                    };
                }
            }
            if self.segments.is_empty() {
                self.writer = None;
            }
        }
    }

    /// Read up to `max` records from the cursor without consuming them; `commit` or
    /// `abandon` the read before the next one.
    pub fn read(&mut self, max: usize) -> io::Result<ReadBatch> {
        if !self.head.is_empty() {
            let mut framed = Vec::new();
            let take = self.head.len().min(max.max(1));
            for payload in self.head.iter().take(take) {
                framed.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                framed.extend_from_slice(payload);
            }
            self.reading = true;
            return Ok(ReadBatch {
                framed,
                count: take,
                end: self.cursor,
                skipped: 0,
                first_skipped: None,
                from_head: take,
            });
        }
        self.forget_missing_segments();
        let mut framed = Vec::new();
        let mut count = 0;
        let mut skipped = 0;
        let mut first_skipped = None;
        let mut pos = self.cursor;
        for seg in self.segments.iter() {
            if seg.id < pos.segment {
                continue;
            }
            if seg.id > pos.segment {
                pos = Position {
                    segment: seg.id,
                    offset: 0,
                };
            }
            let mut file = File::open(segment_path(&self.dir, seg.id))?;
            file.seek(SeekFrom::Start(pos.offset))?;
            let mut reader = io::BufReader::new(file.take(seg.size.saturating_sub(pos.offset)));
            while count < max {
                let start = framed.len();
                match next_record(&mut reader, &mut framed)? {
                    Next::Record(consumed) if record::decodes(&framed[start + 4..]) => {
                        pos.offset += consumed;
                        count += 1;
                    }
                    Next::Record(consumed) | Next::BadChecksum(consumed) => {
                        // Bytes a crash or a disk garbled, or a good checksum over bytes that
                        // are no record (another program's, or a future format's).
                        framed.truncate(start);
                        first_skipped.get_or_insert(pos);
                        pos.offset += consumed;
                        skipped += 1;
                    }
                    Next::End => break,
                    Next::Garbage => {
                        // A torn tail (a crash mid-write): not a record, nothing after it.
                        pos.offset = seg.size;
                        break;
                    }
                }
            }
            if count >= max {
                break;
            }
        }
        self.reading = true;
        Ok(ReadBatch {
            framed,
            count,
            end: pos,
            skipped,
            first_skipped,
            from_head: 0,
        })
    }

    /// The records of the last read were not delivered; they stay for the next read.
    pub fn abandon(&mut self) {
        self.reading = false;
        self.enforce_cap();
    }

    /// Mark everything up to `batch.end` as delivered.
    pub fn commit(&mut self, batch: &ReadBatch) -> io::Result<()> {
        self.reading = false;
        if batch.from_head > 0 {
            // Gone from memory even if the file cannot be rewritten (as a cursor that cannot
            // be written: they are only sent again after a restart).
            self.head.drain(..batch.from_head);
            self.pending = self.pending.saturating_sub(batch.from_head as u64);
            return self.write_head();
        }
        // Records with a bad checksum were counted in `pending` like good ones.
        let consumed = batch.count as u64 + batch.skipped;
        self.corrupt += batch.skipped;
        if let Some(first) = batch.first_skipped {
            let message = format!(
                "spool segment {}: {} corrupt record(s) skipped (bad checksum, or not an event), \
                 the first at byte {}",
                segment_path(&self.dir, first.segment).display(),
                batch.skipped,
                first.offset
            );
            log::warn!("{message}");
            self.complaint = Some(message);
        }
        self.pending = self.pending.saturating_sub(consumed);
        let mut left = consumed;
        let mut segment_count = self.segments.len();
        while let Some(front) = self.segments.front_mut() {
            if front.id > batch.end.segment {
                break;
            }
            let take = left.min(front.unread);
            front.unread -= take;
            left -= take;
            let finished = front.id < batch.end.segment || (front.unread == 0 && segment_count > 1);
            if finished {
                let id = front.id;
                self.segments.pop_front();
                segment_count -= 1;
                let _ = fs::remove_file(segment_path(&self.dir, id));
            } else {
                break;
            }
        }
        self.cursor = match self.segments.front() {
            Some(front) if front.id > batch.end.segment => Position {
                segment: front.id,
                offset: 0,
            },
            _ => batch.end,
        };
        if self.pending == 0 && self.segments.len() == 1 {
            // Everything delivered: start afresh so the folder does not grow forever.
            if let Some(only) = self.segments.pop_front() {
                self.writer = None;
                let _ = fs::remove_file(segment_path(&self.dir, only.id));
                self.cursor = Position {
                    segment: only.id + 1,
                    offset: 0,
                };
            }
        }
        self.write_cursor()?;
        self.enforce_cap();
        Ok(())
    }

    /// Give up on records that cannot be read back (the caller has counted them).
    pub fn forget_pending(&mut self) {
        self.head.clear();
        let _ = self.write_head();
        for seg in self.segments.drain(..) {
            let _ = fs::remove_file(segment_path(&self.dir, seg.id));
            self.cursor = Position {
                segment: seg.id + 1,
                offset: 0,
            };
        }
        self.writer = None;
        self.pending = 0;
        self.reading = false;
        let _ = self.write_cursor();
    }

    fn write_cursor(&self) -> io::Result<()> {
        let tmp = self.dir.join("cursor.tmp");
        let mut f = File::create(&tmp)?;
        writeln!(f, "{} {}", self.cursor.segment, self.cursor.offset)?;
        // A cursor lost in a crash only means re-delivery (at-least-once), so it is synced
        // only under the strictest policy; the records themselves follow `fsync`.
        if self.fsync == FsyncPolicy::Always {
            f.sync_data()?;
        }
        fs::rename(tmp, self.dir.join("cursor"))
    }
}

/// `segment` as the only segment of a spool folder under `scratch` (made anew), replayed
/// as a lane replays it after a restart: read and committed batch by batch until empty. The
/// fuzz target's entry (feature "fuzzing").
#[cfg(feature = "fuzzing")]
pub(crate) fn replay_segment(scratch: &Path, segment: &[u8]) {
    let _ = fs::remove_dir_all(scratch);
    let slot = scratch.join("lane").join("0");
    fs::create_dir_all(&slot).expect("the fuzz scratch folder");
    fs::write(segment_path(&slot, 1), segment).expect("the fuzz segment");
    let mut spool = Spool::open(scratch, "lane", 1 << 20, FsyncPolicy::Never).expect("open");
    let mut rounds = 0;
    while !spool.is_empty() {
        let batch = spool.read(16).expect("read");
        let records = crate::pipeline::batch::records(&batch.framed).count();
        assert_eq!(records, batch.count, "the framing of a read");
        spool.commit(&batch).expect("commit");
        rounds += 1;
        assert!(rounds <= segment.len() + 1, "the replay makes no progress");
    }
    let _ = spool.take_counters();
    drop(spool);
    let _ = fs::remove_dir_all(scratch);
}

fn read_cursor(dir: &Path) -> Option<Position> {
    let text = fs::read_to_string(dir.join("cursor")).ok()?;
    let mut parts = text.split_whitespace();
    Some(Position {
        segment: parts.next()?.parse().ok()?,
        offset: parts.next()?.parse().ok()?,
    })
}

enum Next {
    /// A good record was appended to the output (framed); the bytes it took on disk.
    Record(u64),
    BadChecksum(u64),
    Garbage,
    End,
}

/// Read the next record and append it to `out` as `[len][payload]`; nothing is appended
/// unless it checks out.
fn next_record(reader: &mut impl Read, out: &mut Vec<u8>) -> io::Result<Next> {
    let mut header = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        let n = reader.read(&mut header[got..])?;
        if n == 0 {
            return Ok(if got == 0 { Next::End } else { Next::Garbage });
        }
        got += n;
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_RECORD {
        return Ok(Next::Garbage);
    }
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.resize(start + 4 + len as usize, 0);
    if let Err(e) = reader.read_exact(&mut out[start + 4..]) {
        out.truncate(start);
        return if e.kind() == io::ErrorKind::UnexpectedEof {
            Ok(Next::Garbage)
        } else {
            Err(e)
        };
    }
    let consumed = HEADER as u64 + u64::from(len);
    if crc32fast::hash(&out[start + 4..]) != crc {
        out.truncate(start);
        return Ok(Next::BadChecksum(consumed));
    }
    Ok(Next::Record(consumed))
}

/// Records (good or with a bad checksum) from `offset` to the end of a segment; a torn tail
/// is not a record.
fn count_records(path: &Path, offset: u64) -> io::Result<u64> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = io::BufReader::new(file);
    let mut good = 0;
    let mut scratch = Vec::new();
    loop {
        scratch.clear();
        match next_record(&mut reader, &mut scratch)? {
            Next::Record(_) | Next::BadChecksum(_) => good += 1,
            Next::Garbage | Next::End => return Ok(good),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records_of(batch: &ReadBatch) -> Vec<Vec<u8>> {
        crate::pipeline::batch::records(&batch.framed)
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// A record (what the queue writes) of a log event whose message is `message`.
    fn record(message: &str) -> Vec<u8> {
        let event = crate::event::Event {
            message: Some(message.to_string()),
            ..crate::event::Event::sample(
                crate::event::Kind::Log,
                crate::event::Entity::new("job", "J1"),
                crate::event::Timestamp::from_unix_micros(1_700_000_000_000_000),
            )
        };
        let mut out = Vec::new();
        record::encode(&record::Fields::of_event(&event), &mut out);
        out
    }

    fn payloads(n: usize, tag: &str) -> Vec<Vec<u8>> {
        (0..n).map(|i| record(&format!("{tag}-{i}"))).collect()
    }

    fn append_all(spool: &mut Spool, items: &[Vec<u8>]) {
        spool.append(items.iter().map(|p| p.as_slice())).unwrap();
    }

    #[test]
    fn replays_in_order_after_reopen_and_resumes_at_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let items = payloads(10, "a");
        {
            let mut s = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Batch).unwrap();
            append_all(&mut s, &items);
            let first = s.read(4).unwrap();
            assert_eq!(records_of(&first), items[..4]);
            s.commit(&first).unwrap();
        }
        let mut s = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Batch).unwrap();
        assert_eq!(s.pending(), 6);
        let rest = s.read(100).unwrap();
        assert_eq!(records_of(&rest), items[4..]);
        s.commit(&rest).unwrap();
        assert!(s.is_empty());
    }

    /// Records kept first (a retry of part of a read) are read before the rest, also by the
    /// next process; the read they came from is committed.
    #[test]
    fn records_kept_first_come_before_the_rest_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let items = payloads(6, "k");
        {
            let mut s = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Batch).unwrap();
            append_all(&mut s, &items);
            let first = s.read(3).unwrap();
            s.commit_keeping(&first, [items[1].as_slice()]).unwrap();
            assert_eq!(s.pending(), 4);
            s.put_first([items[0].as_slice()]).unwrap();
            assert_eq!(s.pending(), 5);
        }
        let mut s = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Batch).unwrap();
        assert_eq!(s.pending(), 5);
        let head = s.read(100).unwrap();
        assert_eq!(records_of(&head), vec![items[0].clone(), items[1].clone()]);
        // Part of a read from the head kept first again, the rest committed.
        s.commit_keeping(&head, [items[1].as_slice()]).unwrap();
        let again = s.read(100).unwrap();
        assert_eq!(records_of(&again), vec![items[1].clone()]);
        s.commit(&again).unwrap();
        let rest = s.read(100).unwrap();
        assert_eq!(records_of(&rest), items[3..]);
        s.commit(&rest).unwrap();
        assert!(s.is_empty());
        assert!(!s.dir().join(HEAD).exists());
    }

    /// A head file whose records a disk garbled: the good ones are read first, the others
    /// counted as corrupt and said once, as soon as the spool is opened.
    #[test]
    fn a_corrupt_head_record_is_counted_on_opening() {
        let dir = tempfile::tempdir().unwrap();
        let items = payloads(3, "h");
        let head;
        {
            let mut s = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Batch).unwrap();
            append_all(&mut s, &items[2..]);
            s.put_first(items[..2].iter().map(Vec::as_slice)).unwrap();
            head = s.dir().join(HEAD);
        }
        let mut bytes = fs::read(&head).unwrap();
        bytes[HEADER + 2] ^= 0xff;
        fs::write(&head, bytes).unwrap();
        let mut s = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Batch).unwrap();
        assert_eq!(s.pending(), 2);
        assert_eq!(s.take_counters(), (0, 1));
        assert!(s.take_complaint().unwrap().contains("head"));
        let batch = s.read(100).unwrap();
        assert_eq!(records_of(&batch), vec![items[1].clone()]);
    }

    #[test]
    fn a_second_live_opener_gets_its_own_slot() {
        let dir = tempfile::tempdir().unwrap();
        let a = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Never).unwrap();
        let b = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Never).unwrap();
        assert_ne!(a.dir(), b.dir());
    }

    #[test]
    fn corrupt_records_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let items = payloads(4, "c");
        let seg;
        {
            let mut s = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Batch).unwrap();
            append_all(&mut s, &items);
            seg = segment_path(s.dir(), s.segments[0].id);
        }
        // Flip a byte inside the second payload.
        let mut bytes = fs::read(&seg).unwrap();
        let second_payload = HEADER + items[0].len() + HEADER;
        bytes[second_payload] ^= 0xff;
        // And make the third one's checksum right for bytes that are no record.
        let third = second_payload + items[1].len();
        let garbage = b"not a record";
        bytes.splice(
            third..third + HEADER + items[2].len(),
            (garbage.len() as u32)
                .to_le_bytes()
                .into_iter()
                .chain(crc32fast::hash(garbage).to_le_bytes())
                .chain(garbage.iter().copied()),
        );
        // And leave a torn record at the end, as a crash mid-write would.
        bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2]);
        fs::write(&seg, bytes).unwrap();

        let mut s = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Batch).unwrap();
        let batch = s.read(10).unwrap();
        assert_eq!(records_of(&batch), vec![items[0].clone(), items[3].clone()]);
        s.commit(&batch).unwrap();
        let (_, corrupt) = s.take_counters();
        assert_eq!(
            corrupt, 2,
            "the bad checksum and the bytes that are no record; a torn tail is not a record"
        );
        let complaint = s.take_complaint().unwrap();
        assert!(
            complaint.contains(&seg.display().to_string()),
            "{complaint}"
        );
        let second_record = HEADER + items[0].len();
        assert!(
            complaint.contains("2 corrupt record(s) skipped"),
            "{complaint}"
        );
        assert!(
            complaint.contains(&format!("at byte {second_record}")),
            "{complaint}"
        );
        assert!(s.take_complaint().is_none(), "said once");
        assert!(s.is_empty());
    }

    #[test]
    fn records_appended_after_a_torn_tail_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let seg;
        {
            let mut s = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Batch).unwrap();
            append_all(&mut s, &payloads(3, "old"));
            seg = segment_path(s.dir(), s.segments[0].id);
        }
        let mut bytes = fs::read(&seg).unwrap();
        bytes.extend_from_slice(&[50, 0, 0, 0, 9, 9]);
        fs::write(&seg, bytes).unwrap();
        let mut s = Spool::open(dir.path(), "b", 1 << 20, FsyncPolicy::Batch).unwrap();
        assert_eq!(s.pending(), 3);
        append_all(&mut s, &payloads(5, "new"));
        assert_eq!(s.pending(), 8);
        let batch = s.read(100).unwrap();
        assert_eq!(batch.count, 8);
        s.commit(&batch).unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn the_cap_waits_for_a_read_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "b", 64 * 1024, FsyncPolicy::Never).unwrap();
        let big = record(&"x".repeat(900));
        s.append([big.as_slice()]).unwrap();
        let out = s.read(10).unwrap();
        assert_eq!(out.count, 1);
        for _ in 0..200 {
            s.append([big.as_slice()]).unwrap();
        }
        let (dropped, _) = s.take_counters();
        assert_eq!(dropped, 0, "nothing dropped while a read is out");
        s.commit(&out).unwrap();
        let (dropped, _) = s.take_counters();
        assert!(dropped > 0);
        assert_eq!(
            s.pending() + dropped,
            200,
            "every record is either pending or counted"
        );
    }

    #[test]
    fn a_deleted_segment_is_counted_as_lost_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        // 64 KiB segments, a cap well above what is written.
        let mut s = Spool::open(dir.path(), "b", 512 * 1024, FsyncPolicy::Never).unwrap();
        let big = record(&"x".repeat(900));
        for _ in 0..70 {
            s.append([big.as_slice()]).unwrap();
        }
        assert!(s.segments.len() > 1);
        fs::remove_file(segment_path(s.dir(), s.segments[0].id)).unwrap();
        let first = s.segments[0].unread;
        let batch = s.read(1000).unwrap();
        assert_eq!(batch.count as u64, 70 - first);
        s.commit(&batch).unwrap();
        assert_eq!(s.take_counters().0, first);
        assert!(s.is_empty());
    }

    #[test]
    fn size_cap_drops_oldest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "b", 64 * 1024, FsyncPolicy::Never).unwrap();
        let big = record(&"x".repeat(900));
        for _ in 0..200 {
            s.append([big.as_slice()]).unwrap();
        }
        assert!(s.total_bytes() <= 64 * 1024 + 2 * (1000 + HEADER as u64) + 64 * 1024);
        let (dropped, _) = s.take_counters();
        assert!(dropped > 0);
        assert_eq!(s.pending() + dropped, 200);
        let batch = s.read(1000).unwrap();
        assert_eq!(batch.count as u64, s.pending());
    }
}
