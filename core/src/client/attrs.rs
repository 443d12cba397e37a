//! A job's attributes, encoded the moment they are given as they go into its `started`
//! record: no String per name or value, and each checked once, as `NewEvent::validate`
//! checks them. A bad one is reported when the job starts, as if checked then.

use crate::error::{Error, Result};
use crate::event::{self, Attrs as RawAttrs, ScalarRef};
use crate::pipeline::encode_attr;

/// The attributes of a job's `started` event, as `JobBuilder::attr` collects them; a
/// binding fills one for `JobSpec` (and may `clear` and reuse it).
#[derive(Default)]
pub struct JobAttrs {
    bytes: Vec<u8>,
    count: u32,
    /// The first attribute that breaks a rule, and the first name given twice: the errors
    /// `start` reports, in the order validation reports them.
    /// Boxed: a binding keeps a `JobAttrs` per thread and moves it in and out.
    invalid: Option<Box<Error>>,
    repeated: Option<Box<Error>>,
    /// One bit per name hash: only a name whose bit is already set is looked for among the
    /// earlier ones (decoding them), so distinct names cost no scan.
    seen: u64,
}

fn name_bit(name: &str) -> u64 {
    // FNV-1a, folded to 6 bits.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    1 << ((hash ^ (hash >> 32)) & 63)
}

impl JobAttrs {
    pub fn new() -> JobAttrs {
        JobAttrs::default()
    }

    pub fn push(&mut self, name: &str, value: ScalarRef<'_>) {
        if self.bytes.capacity() == 0 {
            // Room for a few short attributes at once, rather than growing from 8 bytes.
            self.bytes.reserve(128);
        }
        if self.invalid.is_none() {
            self.invalid = event::check_attr(name, value).err().map(Box::new);
        }
        let bit = name_bit(name);
        let maybe_seen = self.seen & bit != 0;
        self.seen |= bit;
        if maybe_seen
            && self.repeated.is_none()
            && self.raw().iter().any(|(earlier, _)| earlier == name)
        {
            self.repeated = Some(Box::new(Error::event(
                format!("attrs.{name}"),
                "is given more than once",
            )));
        }
        encode_attr(&mut self.bytes, name, value);
        self.count += 1;
    }

    /// Empty again, keeping the buffer.
    pub fn clear(&mut self) {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        *self = JobAttrs {
            bytes,
            ..JobAttrs::default()
        };
    }

    pub(crate) fn check(&self) -> Result<()> {
        event::check_entry_count("attrs", self.count as usize)?;
        match self.invalid.as_ref().or(self.repeated.as_ref()) {
            Some(e) => Err(Error::clone(e)),
            None => Ok(()),
        }
    }

    pub(crate) fn raw(&self) -> RawAttrs<'_> {
        RawAttrs {
            len: self.count,
            raw: &self.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn attrs(names: &[&str]) -> JobAttrs {
        let mut attrs = JobAttrs::default();
        for (i, name) in names.iter().enumerate() {
            attrs.push(name, ScalarRef::Int(i as i64));
        }
        attrs
    }

    #[test]
    fn every_name_given_once_passes_and_encodes_in_order() {
        let names: Vec<String> = (0..100).map(|i| format!("attr_{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let attrs = attrs(&names);
        attrs.check().unwrap();
        let decoded: Vec<&str> = attrs.raw().iter().map(|(name, _)| name).collect();
        assert_eq!(decoded, names);
    }

    #[test]
    fn a_name_given_twice_is_named_even_among_many() {
        let mut names: Vec<String> = (0..100).map(|i| format!("attr_{i}")).collect();
        names.push("attr_37".into());
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let e = attrs(&names).check().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidEvent);
        assert_eq!(e.path(), Some("attrs.attr_37"));
    }

    #[test]
    fn a_bad_attribute_is_reported_before_a_repeated_one() {
        let mut attrs = attrs(&["a", "a"]);
        attrs.push("b", ScalarRef::Float(f64::NAN));
        assert_eq!(attrs.check().unwrap_err().path(), Some("attrs.b"));
    }
}
