//! Keys of the `elasticsearch` backend (alias `elk`): Elasticsearch or OpenSearch `_bulk`.

use serde::Deserialize;
use serde_json::Value;

use crate::config::from_value_at;
use crate::config::net::{base_url, default_retries, default_timeout, net, non_empty, NetConfig};
use crate::config::Secret;
use crate::error::{Error, Result};

/// Only the username shows in `{:?}`; the password and key are `Secret`s.
#[derive(Debug, Clone, PartialEq)]
pub enum ElasticAuth {
    None,
    Basic { username: String, password: Secret },
    ApiKey(Secret),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ElasticConfig {
    /// Base URL of the cluster, no trailing slash.
    pub url: String,
    /// Index name; `%Y`, `%m`, `%d` become the event's UTC date (one index per day).
    pub index: String,
    pub auth: ElasticAuth,
    /// Upper bound of one `_bulk` request body; bigger batches go in several requests.
    pub max_bytes: usize,
    /// Install an index template for `index` (mappings of the event fields) on start.
    pub install_template: bool,
    pub net: NetConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElastic {
    url: String,
    #[serde(default = "default_index")]
    index: String,
    username: Option<String>,
    password: Option<Secret>,
    api_key: Option<Secret>,
    #[serde(default = "default_max_bytes")]
    max_bytes: u64,
    #[serde(default)]
    install_template: bool,
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_retries")]
    retries: u32,
}

fn default_index() -> String {
    "wafermon-events-%Y.%m.%d".into()
}
fn default_max_bytes() -> u64 {
    5 * 1024 * 1024
}

pub(crate) fn parse(value: Value, path: &str) -> Result<ElasticConfig> {
    let raw: RawElastic = from_value_at(value, path)?;
    let index = non_empty(raw.index, &format!("{path}.index"))?;
    // Elasticsearch's own rules for index names, checked on the template with a sample date.
    let sample = index
        .replace("%Y", "2026")
        .replace("%m", "01")
        .replace("%d", "01");
    let bad = sample.starts_with(['-', '_', '+'])
        || sample
            .chars()
            .any(|c| c.is_ascii_uppercase() || " \"*\\<|,>/?#:%".contains(c) || c.is_control());
    if bad {
        return Err(Error::config(
            format!("{path}.index"),
            format!(
                "'{index}' is not a valid index name (lowercase, no spaces or \\/*?\"<>|,#:, \
                 not starting with -, _ or +; %Y %m %d are the date)"
            ),
        ));
    }
    let auth = match (raw.username, raw.password, raw.api_key) {
        (None, None, None) => ElasticAuth::None,
        (Some(username), Some(password), None) => ElasticAuth::Basic { username, password },
        (None, None, Some(key)) if key.expose().trim().is_empty() => {
            return Err(Error::config(
                format!("{path}.api_key"),
                "must not be empty",
            ))
        }
        (None, None, Some(key)) => ElasticAuth::ApiKey(key),
        (_, _, Some(_)) => {
            return Err(Error::config(
                format!("{path}.api_key"),
                "use either api_key or username/password, not both",
            ))
        }
        (Some(_), None, None) => {
            return Err(Error::config(
                format!("{path}.password"),
                "is required with username",
            ))
        }
        (None, Some(_), None) => {
            return Err(Error::config(
                format!("{path}.username"),
                "is required with password",
            ))
        }
    };
    if raw.max_bytes < 1024 {
        return Err(Error::config(
            format!("{path}.max_bytes"),
            "must be at least 1024",
        ));
    }
    Ok(ElasticConfig {
        url: base_url(&raw.url, &format!("{path}.url"))?,
        index,
        auth,
        max_bytes: usize::try_from(raw.max_bytes).unwrap_or(usize::MAX),
        install_template: raw.install_template,
        net: net(raw.timeout, raw.retries, path)?,
    })
}

impl crate::backends::registry::ServiceConfig for ElasticConfig {
    fn inline_retries(&self) -> u32 {
        self.net.retries
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::config::{BackendConfig, BackendKind};

    fn entry(type_name: &str) -> BackendConfig {
        let value = json!({"type": type_name, "url": "http://127.0.0.1:9/", "index": "fab-%Y",
                           "username": "u", "password": "p", "max_bytes": 4096});
        BackendConfig::from_value(&value, "direct_backends[0]").unwrap()
    }

    #[test]
    fn elk_is_an_alias_of_elasticsearch() {
        let (canonical, alias) = (entry("elasticsearch"), entry("elk"));
        assert_eq!(canonical.kind, alias.kind);
        assert!(matches!(&alias.kind, BackendKind::Elastic(c) if c.max_bytes == 4096));
        assert_eq!(canonical.kind.type_name(), "elasticsearch");
        assert_eq!(alias.kind.type_name(), "elasticsearch");
        // An entry without a name keeps `elk`, the name (and spool folder) it always had.
        assert_eq!(canonical.name, "elk");
        assert_eq!(alias.name, "elk");
    }

    #[cfg(feature = "elasticsearch")]
    #[test]
    fn stats_say_elasticsearch_whichever_spelling_the_config_used() {
        let dir = tempfile::tempdir().unwrap();
        for spelling in ["elk", "elasticsearch"] {
            let config = json!({
                "direct_backends": [{"type": spelling, "url": "http://127.0.0.1:9", "retries": 0}],
                "spool": {"path": dir.path().join(spelling)},
            });
            let config = crate::Config::from_value(config).unwrap();
            let client = crate::Client::new(config).unwrap();
            let stats = client.stats();
            assert_eq!(stats.backends.len(), 1);
            assert_eq!(stats.backends[0].kind, "elasticsearch");
            // The name (and spool folder) stays what earlier versions gave either spelling.
            assert_eq!(stats.backends[0].name, "elk");
            client.close(std::time::Duration::from_secs(1));
        }
    }
}
