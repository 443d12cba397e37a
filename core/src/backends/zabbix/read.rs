//! The `zabbix` source: what the core's zabbix backend sent, read back through the Zabbix
//! JSON-RPC API (`item.get`, then `history.get` per value type).
//!
//! Zabbix keeps values, not events: each history row is one item's value at a clock/ns. The
//! backend gives all values of one event the event's time, so the rows of one clock/ns are
//! put back together into one event, through the same item mapping (`items`) the writer
//! used. What Zabbix never had comes from the source: site = the Zabbix host, app "zabbix",
//! entity {kind "host", id = host}; kind and status from their items when mapped, else
//! "metric" and "running". Ids are UUIDv7-shaped, derived from host, clock, ns and the item
//! keys, so the same rows always give the same id and the unified view deduplicates them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::backends::read::{ExternalEvent, ExternalQuery, QueryOutcome};
use crate::config::{ItemSource, Secret, ZABBIX_DEFAULT_ITEMS};
use crate::event::{App, Entity};
use crate::{Event, Kind, Status, Timestamp};

/// Rows per history.get call.
const PAGE: usize = 5_000;
/// Rows one query may read in all: a wider range must be narrowed by the caller.
const MAX_ROWS: usize = 1_000_000;

/// Only the username shows in `{:?}`; the password and token are `Secret`s.
#[derive(Debug, Clone)]
pub enum Auth {
    Login { username: String, password: Secret },
    Token(Secret),
}

/// The keys of a `zabbix` source.
#[derive(Debug, Clone)]
pub struct ZabbixSource {
    /// The frontend's API endpoint, e.g. http://zabbix.example/api_jsonrpc.php.
    pub url: String,
    pub auth: Auth,
    pub host: String,
    pub items: Vec<(String, ItemSource)>,
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(rename = "name")]
    _name: String,
    #[serde(rename = "type")]
    _type: String,
    url: String,
    username: Option<String>,
    password: Option<Secret>,
    api_token: Option<Secret>,
    host: String,
    items: Option<BTreeMap<String, String>>,
    timeout_s: Option<f64>,
}

impl ZabbixSource {
    /// Parse a source entry; errors name the key under `at` (e.g. `sources[2].url`).
    pub fn parse(value: &Value, at: &str) -> Result<ZabbixSource, crate::Error> {
        let bad = |key: &str, message: String| crate::Error::config(format!("{at}.{key}"), message);
        let raw: RawSource = crate::config::from_value_at(value.clone(), at)?;
        if !(raw.url.starts_with("http://") || raw.url.starts_with("https://")) {
            return Err(bad("url", format!("'{}' is not an http(s) URL", raw.url)));
        }
        if raw.url.starts_with("https://") {
            return Err(bad(
                "url",
                "this gateway reads Zabbix over plain http only (no TLS built in)".into(),
            ));
        }
        let auth = match (raw.username, raw.password, raw.api_token) {
            (None, None, Some(token)) if !token.is_empty() => Auth::Token(token),
            (Some(username), Some(password), None) if !username.is_empty() => {
                Auth::Login { username, password }
            }
            _ => {
                return Err(crate::Error::config(
                    at,
                    "give either username and password, or api_token",
                ))
            }
        };
        if raw.host.trim().is_empty() {
            return Err(bad("host", "must not be empty".into()));
        }
        let items_raw = raw.items.unwrap_or_else(|| {
            ZABBIX_DEFAULT_ITEMS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        });
        if items_raw.is_empty() {
            return Err(bad("items", "must map at least one item key".into()));
        }
        let mut items = Vec::new();
        for (key, source) in items_raw {
            let parsed = ItemSource::parse(&source).ok_or_else(|| {
                bad(
                    &format!("items.{key}"),
                    format!(
                        "'{source}' is not one of status, kind, progress, message, \
                         metrics.<name>"
                    ),
                )
            })?;
            items.push((key, parsed));
        }
        let timeout = raw.timeout_s.unwrap_or(10.0);
        if !timeout.is_finite() || !(0.1..=300.0).contains(&timeout) {
            return Err(bad("timeout_s", "must be 0.1 to 300 seconds".into()));
        }
        Ok(ZabbixSource {
            url: raw.url,
            auth,
            host: raw.host,
            items,
            timeout: Duration::from_secs_f64(timeout),
        })
    }
}

/// A JSON-RPC session with the frontend.
struct Api {
    agent: ureq::Agent,
    url: String,
    auth: Option<String>,
}

/// The start of an answer for an error message, cut on a character boundary.
fn excerpt(text: &str) -> String {
    text.chars().take(300).collect()
}

impl Api {
    fn new(source: &ZabbixSource) -> Api {
        // The same agent policy as every writer: no redirects, one deadline, no proxy for
        // this machine.
        let agent = crate::backends::http::agent(&source.url, source.timeout);
        Api {
            agent,
            url: source.url.clone(),
            auth: None,
        }
    }

    fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let mut body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        if let Some(auth) = &self.auth {
            body["auth"] = json!(auth);
        }
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json-rpc")
            .send_json(&body)
            .map_err(|e| format!("zabbix API {}: {e}", self.url))?;
        let status = response.status();
        let text = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| format!("zabbix API {}: {e}", self.url))?;
        if !status.is_success() {
            return Err(format!(
                "zabbix API {} answered {status}: {}",
                self.url,
                excerpt(&text)
            ));
        }
        api_result(&self.url, method, &text)
    }
}

/// The `result` of a JSON-RPC answer, or its `error` as text.
fn api_result(url: &str, method: &str, text: &str) -> Result<Value, String> {
    let mut answer: Value = serde_json::from_str(text)
        .map_err(|e| format!("zabbix API {url} did not answer JSON ({e}): {}", excerpt(text)))?;
    if let Some(error) = answer.get("error") {
        return Err(format!(
            "zabbix API {method}: {} {}",
            error["message"].as_str().unwrap_or("error"),
            error["data"].as_str().unwrap_or_default()
        ));
    }
    // Not `answer["result"]`: indexing a number or a string that way panics.
    Ok(answer
        .get_mut("result")
        .map(Value::take)
        .unwrap_or(Value::Null))
}

/// Values of one clock/ns: (item index in the mapping, value text).
type Rows = BTreeMap<(i64, u32), Vec<(usize, String)>>;

pub fn query(source: &ZabbixSource, q: &ExternalQuery) -> Result<QueryOutcome, String> {
    if !fixed_fields_match(source, q) {
        return Ok(QueryOutcome::default());
    }
    let mut api = Api::new(source);
    let logged_in = match &source.auth {
        Auth::Token(token) => {
            api.auth = Some(token.expose().to_string());
            false
        }
        Auth::Login { username, password } => {
            let session = api.call(
                "user.login",
                json!({"username": username, "password": password.expose()}),
            )?;
            api.auth = session.as_str().map(str::to_string);
            true
        }
    };
    let rows = read_rows(&api, source, q);
    if logged_in {
        // Sessions would pile up in the frontend's table otherwise.
        let _ = api.call("user.logout", json!([]));
    }
    let rows = rows?;
    let mut outcome = QueryOutcome::default();
    for ((clock, ns), values) in rows {
        let event = to_event(source, clock, ns, &values);
        let body = serde_json::to_value(&event).map_err(|e| e.to_string())?;
        if !q.filters.matches(&body) {
            continue;
        }
        outcome.matched += 1;
        if outcome.events.len() < q.limit {
            outcome.events.push(ExternalEvent {
                time: event.time.unix_micros(),
                seq: event.seq,
                id: event.id.to_string(),
                body,
            });
        }
    }
    Ok(outcome)
}

/// Site, app and entity are the same for every event of the source: checked once, before
/// any request (kind and status are checked per event).
fn fixed_fields_match(source: &ZabbixSource, q: &ExternalQuery) -> bool {
    let fixed = crate::backends::read::Filters {
        kind: None,
        status: None,
        ..q.filters.clone()
    };
    fixed.matches(&json!({
        "site": source.host,
        "app": {"name": "zabbix"},
        "entity": {"kind": "host", "id": source.host},
    }))
}

fn read_rows(api: &Api, source: &ZabbixSource, q: &ExternalQuery) -> Result<Rows, String> {
    let keys: Vec<&str> = source.items.iter().map(|(k, _)| k.as_str()).collect();
    let found = api.call(
        "item.get",
        json!({"host": source.host, "filter": {"key_": keys},
               "output": ["itemid", "key_", "value_type"]}),
    )?;
    // Items of the mapping, by value type (history.get reads one type per call).
    let mut by_type: BTreeMap<u8, Vec<String>> = BTreeMap::new();
    let mut index_of: BTreeMap<String, usize> = BTreeMap::new();
    for item in found.as_array().into_iter().flatten() {
        let (Some(id), Some(key), Some(value_type)) = (
            item["itemid"].as_str(),
            item["key_"].as_str(),
            item["value_type"].as_str().and_then(|t| t.parse().ok()),
        ) else {
            continue;
        };
        if let Some(i) = source.items.iter().position(|(k, _)| k == key) {
            by_type.entry(value_type).or_default().push(id.to_string());
            index_of.insert(id.to_string(), i);
        }
    }
    let from = q.start.div_euclid(1_000_000);
    let till = (q.end - 1).div_euclid(1_000_000);
    let mut rows = Rows::new();
    let mut seen = BTreeSet::new();
    let mut total = 0usize;
    for (value_type, ids) in by_type {
        let mut clock_from = from;
        let mut page = PAGE;
        loop {
            q.check_deadline(&format!("{total} history rows"))?;
            let got = api.call(
                "history.get",
                json!({"history": value_type, "itemids": ids, "time_from": clock_from,
                       "time_till": till, "sortfield": "clock", "sortorder": "ASC",
                       "limit": page, "output": "extend"}),
            )?;
            let got = got.as_array().cloned().unwrap_or_default();
            total += got.len();
            if total > MAX_ROWS {
                return Err(format!(
                    "more than {MAX_ROWS} zabbix history rows in the range: narrow it"
                ));
            }
            let clocks = |row: &Value| row["clock"].as_str().and_then(|c| c.parse::<i64>().ok());
            let first = got.first().and_then(clocks);
            let last = got.last().and_then(clocks);
            add_rows(&got, (q.start, q.end), &index_of, &mut seen, &mut rows);
            if got.len() < page {
                break;
            }
            match (first, last) {
                // A whole page in one second: read that second with a bigger page.
                (Some(f), Some(l)) if f == l => page *= 2,
                (_, Some(l)) => clock_from = l,
                _ => break,
            }
        }
    }
    Ok(rows)
}

/// A history.get page's rows within [start, end) put into `rows` by clock/ns, each row once.
fn add_rows(
    got: &[Value],
    (start, end): (i64, i64),
    index_of: &BTreeMap<String, usize>,
    seen: &mut BTreeSet<(String, i64, u32)>,
    rows: &mut Rows,
) {
    for row in got {
        let (Some(id), Some(clock), Some(ns), Some(value)) = (
            row["itemid"].as_str(),
            row["clock"].as_str().and_then(|c| c.parse::<i64>().ok()),
            row["ns"].as_str().and_then(|n| n.parse::<u32>().ok()),
            row["value"].as_str(),
        ) else {
            continue;
        };
        // A clock no event time can hold is outside every range.
        let Some(micros) = clock
            .checked_mul(1_000_000)
            .and_then(|m| m.checked_add(i64::from(ns / 1000)))
        else {
            continue;
        };
        if micros < start || micros >= end {
            continue;
        }
        // Pages overlap on their boundary second: each row counts once.
        if !seen.insert((id.to_string(), clock, ns)) {
            continue;
        }
        if let Some(&i) = index_of.get(id) {
            rows.entry((clock, ns))
                .or_default()
                .push((i, value.to_string()));
        }
    }
}

/// The API's answers as `query` reads them: `answers` holds the item.get answer and then
/// history.get pages (JSON texts); every event they make is built and serialized. The fuzz
/// target's entry (feature "fuzzing").
#[cfg(feature = "fuzzing")]
pub(crate) fn read_answers(answers: &[&str]) {
    let source = ZabbixSource {
        url: "http://zabbix.invalid/api_jsonrpc.php".into(),
        auth: Auth::Token(Secret::new("fuzz")),
        host: "fuzz".into(),
        items: ZABBIX_DEFAULT_ITEMS
            .iter()
            .chain(&[("wafermon.kind", "kind"), ("wafermon.message", "message")])
            .filter_map(|(key, what)| Some((key.to_string(), ItemSource::parse(what)?)))
            .collect(),
        timeout: Duration::from_secs(1),
    };
    let Some((first, pages)) = answers.split_first() else {
        return;
    };
    let Ok(found) = api_result(&source.url, "item.get", first) else {
        return;
    };
    let mut index_of = BTreeMap::new();
    for item in found.as_array().into_iter().flatten() {
        if let (Some(id), Some(key)) = (item["itemid"].as_str(), item["key_"].as_str()) {
            if let Some(i) = source.items.iter().position(|(k, _)| k == key) {
                index_of.insert(id.to_string(), i);
            }
        }
    }
    let mut rows = Rows::new();
    let mut seen = BTreeSet::new();
    for page in pages {
        if let Ok(got) = api_result(&source.url, "history.get", page) {
            let got = got.as_array().cloned().unwrap_or_default();
            add_rows(&got, (i64::MIN, i64::MAX), &index_of, &mut seen, &mut rows);
        }
    }
    for ((clock, ns), values) in rows {
        let event = to_event(&source, clock, ns, &values);
        let _ = serde_json::to_value(&event);
    }
}

fn to_event(source: &ZabbixSource, clock: i64, ns: u32, values: &[(usize, String)]) -> Event {
    let micros = clock * 1_000_000 + i64::from(ns / 1000);
    let mut kind = None;
    let mut status = None;
    let mut progress = None;
    let mut message = None;
    let mut metrics = BTreeMap::new();
    let mut keys: Vec<&str> = Vec::new();
    for (i, value) in values {
        let (key, item) = &source.items[*i];
        keys.push(key);
        match item {
            ItemSource::Status => status = Status::parse(value).ok(),
            ItemSource::Kind => kind = Kind::parse(value).ok(),
            ItemSource::Progress => progress = value.parse::<f64>().ok(),
            ItemSource::Message => message = Some(value.clone()),
            ItemSource::Metric(name) => {
                if let Ok(v) = value.parse::<f64>() {
                    metrics.insert(name.clone(), v);
                }
            }
        }
    }
    let kind = kind.unwrap_or(Kind::Metric);
    let status = status
        .or_else(|| kind.implied_status())
        .unwrap_or(Status::Running);
    keys.sort_unstable();
    Event {
        v: 1,
        id: derived_id(&source.host, clock, ns, &keys, micros),
        seq: 0,
        time: Timestamp::from_unix_micros(micros),
        site: source.host.clone(),
        app: App {
            name: "zabbix".into(),
            version: None,
            instance: None,
        },
        entity: Entity::new("host", source.host.clone()),
        kind,
        status,
        progress: progress.filter(|p| (0.0..=100.0).contains(p)),
        level: None,
        message,
        metrics,
        attrs: BTreeMap::new(),
    }
}

/// UUIDv7 layout: the event's milliseconds first (ids sort by time), then 74 bits of
/// SHA-256 over host, clock, ns and the item keys.
fn derived_id(host: &str, clock: i64, ns: u32, keys: &[&str], micros: i64) -> uuid::Uuid {
    let mut hash = Sha256::new();
    hash.update(host.as_bytes());
    hash.update([0]);
    hash.update(clock.to_be_bytes());
    hash.update(ns.to_be_bytes());
    for key in keys {
        hash.update([0]);
        hash.update(key.as_bytes());
    }
    let digest = hash.finalize();
    let millis = micros.div_euclid(1000).max(0) as u64;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = 0x70 | (digest[0] & 0x0f);
    bytes[7] = digest[1];
    bytes[8] = 0x80 | (digest[2] & 0x3f);
    bytes[9..].copy_from_slice(&digest[3..10]);
    uuid::Uuid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: Value) -> Result<ZabbixSource, crate::Error> {
        let mut v = json!({"name": "z", "type": "zabbix", "url": "http://127.0.0.1/api_jsonrpc.php",
                           "username": "Admin", "password": "zabbix", "host": "h"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v.as_object_mut().unwrap().retain(|_, x| !x.is_null());
        ZabbixSource::parse(&v, "sources[0]")
    }

    /// A frontend that redirects is reported, not followed: following would send the login
    /// (and the password in it) to whatever host the answer names.
    #[test]
    fn a_redirect_is_not_followed() {
        use std::io::{Read as _, Write as _};
        use std::net::TcpListener;

        let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
        elsewhere.set_nonblocking(true).unwrap();
        let frontend = TcpListener::bind("127.0.0.1:0").unwrap();
        let frontend_url = format!("http://{}/api_jsonrpc.php", frontend.local_addr().unwrap());
        let target = format!("http://{}/api_jsonrpc.php", elsewhere.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = frontend.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request);
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            conn.write_all(answer.as_bytes()).unwrap();
        });
        let mut source = parse(json!({})).unwrap();
        source.url = frontend_url;
        let q = ExternalQuery {
            start: 0,
            end: 1_000_000,
            filters: Default::default(),
            limit: 10,
            deadline: None,
        };
        let error = query(&source, &q).unwrap_err();
        server.join().unwrap();
        assert!(error.contains("307"), "{error}");
        assert!(
            elsewhere.accept().is_err(),
            "the reader followed the redirect"
        );
    }

    #[test]
    fn source_keys_are_checked_with_their_path() {
        let ok = parse(json!({})).unwrap();
        assert_eq!(ok.items.len(), ZABBIX_DEFAULT_ITEMS.len());
        assert!(matches!(ok.auth, Auth::Login { .. }));
        let token = parse(json!({"username": null, "password": null, "api_token": "t"})).unwrap();
        assert!(matches!(token.auth, Auth::Token(_)));
        let cases = [
            (json!({"url": null}), "sources[0].url"),
            (json!({"url": "zabbix:80"}), "sources[0].url"),
            (json!({"api_token": "t"}), "either username and password"),
            (json!({"password": null}), "either username and password"),
            (json!({"host": ""}), "sources[0].host"),
            (json!({"items": {"k": "cpu"}}), "sources[0].items.k"),
            (json!({"items": {}}), "sources[0].items"),
            (json!({"timeout_s": 0}), "sources[0].timeout_s"),
            (json!({"server": "x"}), "server"),
        ];
        for (extra, needle) in cases {
            let e = parse(extra.clone())
                .err()
                .unwrap_or_else(|| panic!("{extra} accepted"))
                .to_string();
            assert!(e.contains(needle), "{extra}: {e}");
        }
    }

    #[test]
    fn ids_are_stable_and_time_ordered() {
        let a = derived_id("h", 100, 5, &["k"], 100_000_000);
        assert_eq!(a, derived_id("h", 100, 5, &["k"], 100_000_000));
        assert_ne!(a, derived_id("h", 100, 6, &["k"], 100_000_000));
        assert_ne!(a, derived_id("g", 100, 5, &["k"], 100_000_000));
        assert_eq!(a.get_version_num(), 7);
        assert!(derived_id("h", 101, 0, &["k"], 101_000_000) > a);
    }
}
