//! Keys of the `sidecar` backend: the shared HTTP keys, posted to `/v1/ingest/batch`.

use serde_json::Value;

use crate::backends::http::{self, HttpConfig};
use crate::error::Result;

pub(crate) fn parse(value: Value, path: &str) -> Result<HttpConfig> {
    Ok(http::config::parse("sidecar", value, path)?.http)
}
