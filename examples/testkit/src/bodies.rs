//! Worst-case request bodies within a host's size limit: every element rejected, and each
//! rejection as cheap to send as it can be, so the answer and the memory they cost show.

/// `{"events":[0,0,...]}` of at most `size` bytes; with the number of zeros.
pub fn zeros_json(size: usize) -> (Vec<u8>, usize) {
    let n = (size - 16) / 2;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(b"{\"events\":[");
    for i in 0..n {
        body.extend_from_slice(if i == 0 { b"0" } else { b",0" });
    }
    body.extend_from_slice(b"]}");
    (body, n)
}

/// The same in MessagePack as a bare array: an array32 of `size - 5` positive fixint zeros.
pub fn zeros_msgpack(size: usize) -> (Vec<u8>, usize) {
    let n = size - 5;
    let mut body = Vec::with_capacity(size);
    body.push(0xdd);
    body.extend_from_slice(&(n as u32).to_be_bytes());
    body.resize(size, 0);
    (body, n)
}

/// MessagePack `{"events": <value>}`, `value` being encoded already.
pub fn msgpack_events(value: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(value.len() + 8);
    body.extend_from_slice(&[0x81, 0xa6]);
    body.extend_from_slice(b"events");
    body.extend_from_slice(value);
    body
}

/// MessagePack `[{key: values[0], key: values[1], ...}]`: one map giving `key` several times
/// (short ASCII strings only).
pub fn msgpack_duplicate_key(key: &str, values: &[&str]) -> Vec<u8> {
    let mut body = vec![0x91, 0x80 | values.len() as u8];
    for value in values {
        for text in [key, value] {
            body.push(0xa0 | text.len() as u8);
            body.extend_from_slice(text.as_bytes());
        }
    }
    body
}

/// MessagePack arrays nested `depth` deep around a 0: `[[[...[0]...]]]`.
pub fn msgpack_nested(depth: usize) -> Vec<u8> {
    let mut body = vec![0x91; depth];
    body.push(0);
    body
}
