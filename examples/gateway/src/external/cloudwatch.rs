//! Placeholder until the cloudwatch reader lands in this increment.

use wafermon::config::CloudWatchConfig;

use super::{ExternalQuery, QueryOutcome};

pub async fn query(_config: &CloudWatchConfig, _q: &ExternalQuery) -> Result<QueryOutcome, String> {
    Err("the cloudwatch reader is not built yet".into())
}
