//! CloudWatch Metrics: each terminal event (finished, failed, canceled) becomes a completion
//! count plus the resource metrics the core fills on finish, dimensioned by site, app,
//! status and entity kind.
//!
//! Wire protocol: AWS JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.PutMetricData`),
//! which CloudWatch has served beside the query protocol since 2023 and which moto parses; it
//! lets all AWS calls share one signed-JSON helper. Timestamps are epoch seconds.

use serde_json::{json, Value};

use crate::event::EventRef;

pub const TARGET: &str = "GraniteServiceVersion20100801.PutMetricData";
/// PutMetricData takes at most 1,000 metric data per request.
pub const MAX_DATA: usize = 1_000;
/// CloudWatch refuses data points older than two weeks or more than two hours ahead.
pub const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
pub const MAX_AHEAD_MS: i64 = 2 * 3600 * 1000;

/// The event metrics published, with their CloudWatch unit.
const RESOURCE_METRICS: [(&str, &str); 4] = [
    ("duration_s", "Seconds"),
    ("cpu_user_s", "Seconds"),
    ("cpu_system_s", "Seconds"),
    ("max_rss_bytes", "Bytes"),
];
pub const COMPLETIONS: &str = "completions";

/// The metric data of one event; empty for events that are not an ending.
pub fn data_of(event: &EventRef<'_>) -> Vec<Value> {
    if !event.kind.is_terminal() {
        return Vec::new();
    }
    let dimensions = json!([
        {"Name": "Site", "Value": event.site},
        {"Name": "App", "Value": event.app.name},
        {"Name": "Status", "Value": event.status.as_str()},
        {"Name": "EntityKind", "Value": event.entity.kind},
    ]);
    let timestamp = event.time.unix_micros() as f64 / 1e6;
    let datum = |name: &str, value: f64, unit: &str| {
        json!({"MetricName": name, "Dimensions": dimensions, "Timestamp": timestamp,
               "Value": value, "Unit": unit})
    };
    let mut data = vec![datum(COMPLETIONS, 1.0, "Count")];
    for (name, value) in event.metrics.iter() {
        let unit = RESOURCE_METRICS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, unit)| *unit);
        if let (Some(unit), Some(value)) = (unit, acceptable(value)) {
            data.push(datum(name, value, unit));
        }
    }
    data
}

/// CloudWatch takes finite values within ±2^360, and rounds nothing below 8.5e-109 for us:
/// such values become 0 (they are below any measurable CPU time or size anyway).
fn acceptable(value: f64) -> Option<f64> {
    if !value.is_finite() || value.abs() > 1e108 {
        None
    } else if value.abs() < 8.6e-109 {
        Some(0.0)
    } else {
        Some(value)
    }
}

/// Whether CloudWatch accepts a data point at `millis` when it is `now_ms`.
pub fn in_window(millis: i64, now_ms: i64) -> bool {
    millis > now_ms - MAX_AGE_MS + 60_000 && millis < now_ms + MAX_AHEAD_MS - 60_000
}

pub fn put_body(namespace: &str, data: &[Value]) -> Value {
    json!({"Namespace": namespace, "MetricData": data})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cloudwatch_refuses_are_left_out_or_zeroed() {
        assert_eq!(acceptable(f64::NAN), None);
        assert_eq!(acceptable(f64::INFINITY), None);
        assert_eq!(acceptable(1e200), None);
        assert_eq!(acceptable(1e-200), Some(0.0));
        assert_eq!(acceptable(2.5), Some(2.5));
    }

    #[test]
    fn window_is_two_weeks_back_two_hours_ahead() {
        let now = 1_800_000_000_000;
        assert!(in_window(now, now));
        assert!(!in_window(now - MAX_AGE_MS, now));
        assert!(!in_window(now + MAX_AHEAD_MS, now));
    }
}
