//! The Zabbix sender protocol on one TCP connection: a `ZBXD\x01` frame (little-endian u32
//! data length + u32 reserved) around a JSON `sender data` request; the server answers with
//! one frame and closes. Only counts come back ("processed: N; failed: N; total: N").

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::super::DeliveryError;

const MAGIC: &[u8; 4] = b"ZBXD";
const FLAG_PROTOCOL: u8 = 0x01;
const FLAG_COMPRESSED: u8 = 0x02;
const FLAG_LARGE: u8 = 0x04;
/// The protocol's limit per packet (server side); a response is tiny, so anything larger
/// means we are not talking to a Zabbix server.
pub const MAX_PACKET: usize = 1 << 30;

/// One value of one item, as the sender protocol writes it.
#[derive(Debug, Clone, Serialize)]
pub struct Value<'a> {
    pub host: &'a str,
    pub key: &'a str,
    pub value: String,
    pub clock: i64,
    pub ns: u32,
}

/// No request-level clock: with one, the server would shift every value's clock by its
/// own clock's difference to it, and a value sent again would no longer land on the same
/// clock/ns (the key that keeps it from being stored twice).
#[derive(Serialize)]
struct Request<D: Serialize> {
    request: &'static str,
    data: D,
}

#[derive(Deserialize)]
struct Response {
    response: String,
    #[serde(default)]
    info: String,
}

/// What the server said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub processed: u64,
    pub failed: u64,
    pub total: u64,
}

/// The JSON body of a request (without the frame); `data` serializes as the values' array.
pub fn body(data: impl Serialize) -> Result<Vec<u8>, DeliveryError> {
    let request = Request {
        request: "sender data",
        data,
    };
    serde_json::to_vec(&request)
        .map_err(|e| DeliveryError::permanent(format!("cannot encode zabbix request: {e}")))
}

/// Resolve `server:port` (each time: a DNS change must be followed).
pub fn resolve(server: &str, port: u16) -> Result<Vec<SocketAddr>, DeliveryError> {
    let addrs: Vec<SocketAddr> = (server, port)
        .to_socket_addrs()
        .map_err(|e| DeliveryError::transient(format!("cannot resolve {server}:{port}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(DeliveryError::transient(format!(
            "{server}:{port} resolves to no address"
        )));
    }
    Ok(addrs)
}

/// Send one framed request and read the server's answer. Network trouble is transient;
/// an answer that is not the sender protocol's, or a `failed` response, is permanent.
pub fn exchange(
    addrs: &[SocketAddr],
    body: &[u8],
    timeout: Duration,
) -> Result<Counts, DeliveryError> {
    let net = |what: &str, e: std::io::Error| {
        DeliveryError::transient(format!("zabbix server {}: {what}: {e}", addrs[0]))
    };
    let mut stream = connect(addrs, timeout)?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .and_then(|_| stream.set_nodelay(true))
        .map_err(|e| net("socket setup", e))?;
    let mut frame = Vec::with_capacity(13 + body.len());
    frame.extend_from_slice(MAGIC);
    frame.push(FLAG_PROTOCOL);
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    frame.extend_from_slice(body);
    stream.write_all(&frame).map_err(|e| net("send", e))?;
    stream.flush().map_err(|e| net("send", e))?;

    let answer = read_frame(&mut stream).map_err(|e| match e {
        FrameError::Io(e) => net("read answer", e),
        FrameError::Closed => DeliveryError::transient(format!(
            "zabbix server {} closed the connection without an answer",
            addrs[0]
        )),
        FrameError::Invalid(why) => DeliveryError::permanent(format!(
            "{} does not answer with the Zabbix protocol: {why}",
            addrs[0]
        )),
    })?;
    answer_counts(&answer, addrs[0])
}

/// The counts of an answer frame's data; anything else is a permanent error naming `server`.
fn answer_counts(answer: &[u8], server: impl std::fmt::Display) -> Result<Counts, DeliveryError> {
    let response: Response = serde_json::from_slice(answer).map_err(|e| {
        DeliveryError::permanent(format!(
            "zabbix server {server} sent an answer that is not JSON ({e}): {}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        ))
    })?;
    if response.response != "success" {
        return Err(DeliveryError::permanent(format!(
            "zabbix server {server} refused the request: {} {}",
            response.response, response.info
        )));
    }
    parse_info(&response.info).ok_or_else(|| {
        DeliveryError::permanent(format!(
            "zabbix server {server} answered without counts: '{}'",
            response.info
        ))
    })
}

/// A server's whole answer (frame and data) read as `exchange` reads it: the fuzz target's
/// entry (feature "fuzzing").
#[cfg(feature = "fuzzing")]
pub(crate) fn read_answer(mut answer: &[u8]) -> Option<Counts> {
    let data = read_frame(&mut answer).ok()?;
    answer_counts(&data, "fuzz").ok()
}

fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, DeliveryError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, e) = last.expect("resolve returns at least one address");
    Err(DeliveryError::transient(format!(
        "cannot connect to zabbix server {addr}: {e}"
    )))
}

enum FrameError {
    Io(std::io::Error),
    Closed,
    Invalid(String),
}

fn read_frame(stream: &mut impl Read) -> Result<Vec<u8>, FrameError> {
    let mut head = [0u8; 5];
    read_exact(stream, &mut head)?;
    if &head[..4] != MAGIC {
        return Err(FrameError::Invalid(format!(
            "header {:?}",
            String::from_utf8_lossy(&head)
        )));
    }
    let flags = head[4];
    if flags & FLAG_PROTOCOL == 0 {
        return Err(FrameError::Invalid(format!("flags {flags:#04x}")));
    }
    if flags & FLAG_COMPRESSED != 0 {
        // We never send compressed requests, and the server answers in kind.
        return Err(FrameError::Invalid("compressed answer".into()));
    }
    let len = if flags & FLAG_LARGE != 0 {
        let mut lens = [0u8; 16];
        read_exact(stream, &mut lens)?;
        u64::from_le_bytes(lens[..8].try_into().unwrap_or_default()) as usize
    } else {
        let mut lens = [0u8; 8];
        read_exact(stream, &mut lens)?;
        u32::from_le_bytes(lens[..4].try_into().unwrap_or_default()) as usize
    };
    if len > MAX_PACKET {
        return Err(FrameError::Invalid(format!("length {len}")));
    }
    // Grown as bytes arrive, not sized by the header: a 13-byte answer claiming 1 GiB
    // must not allocate 1 GiB.
    let mut data = Vec::new();
    stream
        .by_ref()
        .take(len as u64)
        .read_to_end(&mut data)
        .map_err(FrameError::Io)?;
    if data.len() < len {
        return Err(FrameError::Closed);
    }
    Ok(data)
}

fn read_exact(stream: &mut impl Read, buf: &mut [u8]) -> Result<(), FrameError> {
    stream.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Closed
        } else {
            FrameError::Io(e)
        }
    })
}

/// "processed: 1; failed: 2; total: 3; seconds spent: 0.000055"
pub fn parse_info(info: &str) -> Option<Counts> {
    let mut counts = (None, None, None);
    for part in info.split(';') {
        let (name, value) = part.split_once(':')?;
        let value = value.trim();
        match name.trim() {
            "processed" => counts.0 = value.parse().ok(),
            "failed" => counts.1 = value.parse().ok(),
            "total" => counts.2 = value.parse().ok(),
            _ => {}
        }
    }
    Some(Counts {
        processed: counts.0?,
        failed: counts.1?,
        total: counts.2?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_counts() {
        let c = parse_info("processed: 1; failed: 2; total: 3; seconds spent: 0.000055").unwrap();
        assert_eq!(
            c,
            Counts {
                processed: 1,
                failed: 2,
                total: 3
            }
        );
        assert_eq!(parse_info("processed: 1"), None);
        assert_eq!(parse_info("garbage"), None);
    }

    #[test]
    fn frames_are_read_with_either_length_width() {
        let mut small = b"ZBXD\x01".to_vec();
        small.extend_from_slice(&2u32.to_le_bytes());
        small.extend_from_slice(&0u32.to_le_bytes());
        small.extend_from_slice(b"{}");
        assert_eq!(read_frame(&mut &small[..]).ok(), Some(b"{}".to_vec()));

        let mut large = b"ZBXD\x05".to_vec();
        large.extend_from_slice(&2u64.to_le_bytes());
        large.extend_from_slice(&0u64.to_le_bytes());
        large.extend_from_slice(b"{}");
        assert_eq!(read_frame(&mut &large[..]).ok(), Some(b"{}".to_vec()));

        assert!(matches!(
            read_frame(&mut &b"HTTP/1.1 400"[..]),
            Err(FrameError::Invalid(_))
        ));
        assert!(matches!(
            read_frame(&mut &b"ZB"[..]),
            Err(FrameError::Closed)
        ));
        // A length far beyond what arrives is a cut answer (and allocates only what came).
        let mut cut = b"ZBXD\x05".to_vec();
        cut.extend_from_slice(&((MAX_PACKET as u64) - 1).to_le_bytes());
        cut.extend_from_slice(&0u64.to_le_bytes());
        cut.extend_from_slice(b"{}");
        assert!(matches!(read_frame(&mut &cut[..]), Err(FrameError::Closed)));
    }
}
