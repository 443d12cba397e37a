//! Placeholder until the s3 reader lands in this increment.

use wafermon::config::S3Config;

use super::{ExternalQuery, QueryOutcome};

pub async fn query(_config: &S3Config, _q: &ExternalQuery) -> Result<QueryOutcome, String> {
    Err("the s3 reader is not built yet".into())
}
