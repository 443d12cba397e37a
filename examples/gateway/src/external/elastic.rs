//! Placeholder until the elastic reader lands in this increment.

use wafermon::config::ElasticConfig;

use super::{ExternalQuery, QueryOutcome};

pub async fn query(_config: &ElasticConfig, _q: &ExternalQuery) -> Result<QueryOutcome, String> {
    Err("the elastic reader is not built yet".into())
}
