//! librdkafka's settings for a `kafka` entry.

use std::time::Duration;

use rdkafka::config::ClientConfig;

use super::config::{Acks, KafkaConfig};
use crate::config::AppConfig;

pub(crate) fn settings(config: &KafkaConfig, app: &AppConfig) -> ClientConfig {
    let millis = |d: Duration| d.as_millis().max(1).to_string();
    let mut s = ClientConfig::new();
    s.set(
            "client.id",
            config
                .client_id
                .clone()
                .unwrap_or_else(|| format!("wafermon-{}", app.name)),
        )
        .set("compression.codec", config.compression.as_str())
        // A message waits in the producer until a broker takes it, however long that is: a
        // message given up on while its request was in flight may have been written, and
        // sending it again would write it twice. The lane's batch only waits `timeout` for
        // it (see write.rs), and finds it again when it retries.
        .set("message.timeout.ms", "0")
        .set("request.timeout.ms", millis(config.net.timeout))
        .set("linger.ms", "5");
    match config.acks {
        Acks::All => s.set("acks", "all").set("enable.idempotence", "true"),
        Acks::Leader => s.set("acks", "1").set("enable.idempotence", "false"),
    };
    for (key, value) in config.connection.settings() {
        s.set(key, value);
    }
    s
}
