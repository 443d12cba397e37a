//! The optional index template: mappings for the event fields, so that every daily index
//! gets exact types (keyword filters, nanosecond time, double metrics) instead of what
//! dynamic mapping guesses from the first document of the day.

use serde_json::{json, Value};

use super::bulk::IndexName;
use super::cluster::{Cluster, Method};

/// Above the built-in templates of Elasticsearch (priority 100 for `logs-*-*` and the like),
/// so ours wins for our indices.
const PRIORITY: u32 = 200;

/// The template's name, from the index template without its date parts.
pub fn name(index: &str) -> String {
    let base = index.replace("%Y", "").replace("%m", "").replace("%d", "");
    let base = base.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if base.is_empty() {
        "wafermon-events".into()
    } else {
        base.to_string()
    }
}

pub fn body(index: &str) -> Value {
    // Exact-match text, with the `.keyword` subfield dynamic mapping would give it: readers
    // (the gateway's) filter on `<field>.keyword`, the same on indices made with or without
    // this template.
    let keyword = json!({"type": "keyword", "fields": {"keyword": {"type": "keyword"}}});
    json!({
        "index_patterns": [IndexName::pattern(index)],
        "priority": PRIORITY,
        "_meta": {"managed_by": "wafermon", "schema": 1},
        "template": {"mappings": {
            "dynamic_templates": [
                // Metric values are f64: without this, a first value like 3.0 would make the
                // field a 32-bit float (or long) for the whole day.
                {"metrics": {"path_match": "metrics.*", "mapping": {"type": "double"}}},
                {"attrs_text": {"path_match": "attrs.*", "match_mapping_type": "string",
                                "mapping": {"type": "keyword", "ignore_above": 4096}}}
            ],
            "properties": {
                "v": {"type": "integer"},
                "id": keyword,
                "seq": {"type": "long"},
                // Microseconds survive a round trip; `date` would keep milliseconds.
                "time": {"type": "date_nanos"},
                "site": keyword,
                "app": {"properties": {"name": keyword, "version": keyword, "instance": keyword}},
                "entity": {"properties": {
                    "kind": keyword, "id": keyword, "name": keyword,
                    "parent": keyword, "key": keyword}},
                "kind": keyword,
                "status": keyword,
                "level": keyword,
                "progress": {"type": "double"},
                "message": {"type": "text"},
                "metrics": {"type": "object"},
                "attrs": {"type": "object"}
            }
        }}
    })
}

/// Why the template is not there.
pub enum Failure {
    /// The cluster is down or busy: try again before writing, so the day's index gets it.
    Transient {
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    /// The cluster will not take it (no `_index_template` API, a conflicting template, no
    /// permission): write without it and say so.
    Refused(String),
}

pub fn install(cluster: &Cluster, index: &str) -> Result<(), Failure> {
    let path = format!("/_index_template/{}", name(index));
    let body = serde_json::to_vec(&body(index)).unwrap_or_default();
    let reply = cluster
        .request(Method::Put, &path, "application/json", &body)
        .map_err(|e| {
            if e.transient {
                Failure::Transient {
                    message: format!("cannot install the index template: {e}"),
                    retry_after: None,
                }
            } else {
                Failure::Refused(format!("cannot install the index template: {e}"))
            }
        })?;
    if reply.is_success() {
        return Ok(());
    }
    if reply.is_transient() {
        return Err(Failure::Transient {
            message: format!("cannot install the index template: {}", reply.reason()),
            retry_after: reply.retry_after,
        });
    }
    // Before Elasticsearch 7.8 the path names an index, refused as an invalid index name.
    let lacks_api = matches!(reply.status, 404 | 405)
        || String::from_utf8_lossy(&reply.body).contains("invalid_index_name_exception");
    let hint = if lacks_api {
        " (this server has no composable index templates: Elasticsearch 7.8+ or OpenSearch \
         1.0+ needed; set install_template to false)"
    } else {
        ""
    };
    Err(Failure::Refused(format!(
        "index template '{}' not installed, events are written with dynamic mappings: PUT \
         {path}: {}{hint}",
        name(index),
        reply.reason()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns() {
        assert_eq!(name("wafermon-events-%Y.%m.%d"), "wafermon-events");
        assert_eq!(name("%Y.%m.%d"), "wafermon-events");
        assert_eq!(name("plant"), "plant");
        assert_eq!(body("ev-%Y%m%d")["index_patterns"], json!(["ev-*"]));
        assert_eq!(body("plant")["index_patterns"], json!(["plant"]));
    }
}
