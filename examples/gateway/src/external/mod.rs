//! External sources: monitoring data the gateway does not store but can read, by the name
//! given in its config. A request names a source; it never supplies an address or a path.

mod cloudwatch;
mod elastic;
mod filesystem;
mod loki;
mod s3;
pub mod zabbix;

use serde::Deserialize;
use serde_json::Value;

use wafermon::config::BackendKind;

use crate::config::SourceConfig;

/// Equality filters on event fields; absent means any.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    pub site: Option<String>,
    pub app: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
}

impl Filters {
    pub fn matches(&self, event: &Value) -> bool {
        let field = |path: &[&str]| {
            path.iter()
                .try_fold(event, |v, key| v.get(key))
                .and_then(Value::as_str)
        };
        let checks: [(&Option<String>, &[&str]); 6] = [
            (&self.site, &["site"]),
            (&self.app, &["app", "name"]),
            (&self.kind, &["kind"]),
            (&self.status, &["status"]),
            (&self.entity_kind, &["entity", "kind"]),
            (&self.entity_id, &["entity", "id"]),
        ];
        checks
            .iter()
            .all(|(want, path)| want.as_deref().is_none_or(|w| field(path) == Some(w)))
    }
}

/// Events in [start, end) (micros), the earliest `limit` of them.
#[derive(Debug, Clone)]
pub struct ExternalQuery {
    pub start: i64,
    pub end: i64,
    pub filters: Filters,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct ExternalEvent {
    pub time: i64,
    pub seq: u64,
    pub id: String,
    pub body: Value,
}

#[derive(Debug, Default)]
pub struct QueryOutcome {
    /// Oldest first.
    pub events: Vec<ExternalEvent>,
    /// Matches before the limit was applied.
    pub matched: u64,
    pub files_scanned: u64,
    pub skipped_lines: u64,
}

/// The configured sources.
#[derive(Clone)]
pub struct Sources {
    configs: Vec<SourceConfig>,
}

impl Sources {
    pub fn new(configs: Vec<SourceConfig>) -> Self {
        Sources { configs }
    }

    pub fn names(&self) -> impl Iterator<Item = &SourceConfig> {
        self.configs.iter()
    }

    pub fn get(&self, name: &str) -> Option<&SourceConfig> {
        self.configs.iter().find(|c| c.name() == name)
    }

    /// Run a query against one source, off the async threads (it reads files).
    pub async fn query(source: &SourceConfig, q: ExternalQuery) -> Result<QueryOutcome, String> {
        match source {
            SourceConfig::Filesystem { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || filesystem::query(&path, &q))
                    .await
                    .map_err(|e| format!("the query failed: {e}"))?
            }
            SourceConfig::Zabbix { source, .. } => zabbix::query(source, &q).await,
            SourceConfig::Backend { kind, .. } => match kind {
                BackendKind::S3(c) => s3::query(c, &q).await,
                BackendKind::Elastic(c) => elastic::query(c, &q).await,
                BackendKind::Loki(c) => loki::query(c, &q).await,
                BackendKind::CloudWatch(c) => cloudwatch::query(c, &q).await,
                other => Err(format!(
                    "the gateway cannot read sources of type '{}'",
                    other.type_name()
                )),
            },
        }
    }
}
