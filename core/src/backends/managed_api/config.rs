//! Keys of the `managed_api` backend: the shared HTTP keys, posted to `/v1/ingest/managed`.

use serde_json::Value;

use crate::backends::http::{self, HttpConfig};
use crate::error::Result;

pub(crate) fn parse(value: Value, path: &str) -> Result<HttpConfig> {
    Ok(http::config::parse("managed_api", value, path)?.http)
}
