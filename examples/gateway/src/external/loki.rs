//! Placeholder until the loki reader lands in this increment.

use wafermon::config::LokiConfig;

use super::{ExternalQuery, QueryOutcome};

pub async fn query(_config: &LokiConfig, _q: &ExternalQuery) -> Result<QueryOutcome, String> {
    Err("the loki reader is not built yet".into())
}
