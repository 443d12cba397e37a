//! A job's description as `io.wafermon.JobBuilder` encodes it: one byte array, so starting
//! a job with its kind, key and attributes is one JNI call instead of one per field.
//!
//! Each field is a tag byte, then UTF-8 strings as a 4-byte big-endian length and the bytes:
//! `N` name, `K` kind, `Y` business key, `I` entity id, `P` parent entity id (one string each);
//! attributes are their name and then `S` a string, `L` a 64-bit integer, `D` a double (its
//! IEEE bits) or `B` one byte (0 or 1), all big-endian.

use wafermon::event::ScalarRef;
use wafermon::{Error, ErrorKind, Result};

use crate::bytes::utf8;

pub(crate) enum Field<'a> {
    Name(&'a str),
    Kind(&'a str),
    Key(&'a str),
    Id(&'a str),
    Parent(&'a str),
    Attr(&'a str, ScalarRef<'a>),
}

/// The fields of a spec, in order; a malformed spec ends with an error.
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Fields<'a> {
        Fields { rest: bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(malformed());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn eight(&mut self) -> Result<[u8; 8]> {
        let mut out = [0u8; 8];
        out.copy_from_slice(self.take(8)?);
        Ok(out)
    }

    fn text(&mut self, what: &str) -> Result<&'a str> {
        let mut len = [0u8; 4];
        len.copy_from_slice(self.take(4)?);
        let len = u32::from_be_bytes(len) as usize;
        utf8(self.take(len)?, what)
    }

    fn field(&mut self, tag: u8) -> Result<Field<'a>> {
        Ok(match tag {
            b'N' => Field::Name(self.text("name")?),
            b'K' => Field::Kind(self.text("kind")?),
            b'Y' => Field::Key(self.text("key")?),
            b'I' => Field::Id(self.text("id")?),
            b'P' => Field::Parent(self.text("parent")?),
            b'S' => {
                let name = self.text("attr name")?;
                Field::Attr(name, ScalarRef::Str(self.text("attr value")?))
            }
            b'L' => {
                let name = self.text("attr name")?;
                Field::Attr(name, ScalarRef::Int(i64::from_be_bytes(self.eight()?)))
            }
            b'D' => {
                let name = self.text("attr name")?;
                let bits = u64::from_be_bytes(self.eight()?);
                Field::Attr(name, ScalarRef::Float(f64::from_bits(bits)))
            }
            b'B' => {
                let name = self.text("attr name")?;
                Field::Attr(name, ScalarRef::Bool(self.take(1)?[0] != 0))
            }
            _ => return Err(malformed()),
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&tag, tail) = self.rest.split_first()?;
        self.rest = tail;
        let field = self.field(tag);
        if field.is_err() {
            self.rest = &[];
        }
        Some(field)
    }
}

fn malformed() -> Error {
    // Only a mismatch between the Java classes and this library can cause it.
    Error::new(
        ErrorKind::InvalidArgument,
        "malformed job spec (the wafermon jar and its native library do not match)",
    )
}
