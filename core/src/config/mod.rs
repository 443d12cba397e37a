//! Configuration of schema v1 (core/schema/config.v1.schema.json).
//!
//! Sources, highest first: an explicit value > the JSON file named by `WAFERMON_CONFIG` >
//! `WAFERMON_*` environment variables > defaults. With nothing configured the client writes
//! JSONL to the filesystem backend under `./wafermon-data`, so a first run needs no server.

mod backend;
pub(crate) mod load;
pub(crate) mod net;
mod secret;

use std::path::PathBuf;
use std::time::Duration;

pub use self::backend::{BackendConfig, Filter};
pub use self::load::{from_value_at, from_value_at_all, ENV_VARS};
pub use self::net::NetConfig;
pub use self::secret::{Secret, REDACTED};
pub use crate::backends::registry::{BackendKind, BACKEND_TYPES};
// Each service's keys live in its folder (core/src/backends/<service>/config.rs); these are
// the paths the hosts, the skins and the tests name them by.
pub use crate::backends::aws::AwsConfig;
pub use crate::backends::cloudwatch::CloudWatchConfig;
pub use crate::backends::elasticsearch::{ElasticAuth, ElasticConfig};
pub use crate::backends::filesystem::{FileFormat, FilesystemConfig};
pub use crate::backends::http::{HttpConfig, WireFormat};
pub use crate::backends::kafka::{KafkaConfig, KafkaConnection};
pub use crate::backends::loki::LokiConfig;
pub use crate::backends::rabbitmq::RabbitMqConfig;
pub use crate::backends::s3::{Compression, S3Config};
pub use crate::backends::sqs::SqsConfig;
pub use crate::backends::webhook::WebhookConfig;
pub use crate::backends::xray::XRayConfig;
pub use crate::backends::zabbix::{
    ItemSource, ZabbixConfig, DEFAULT_ITEMS as ZABBIX_DEFAULT_ITEMS,
};

/// Where events go: through a local sidecar, or straight to the configured backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sidecar,
    Direct,
}

/// What `emit` does when the in-memory queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFull {
    /// Write the event to the on-disk spool instead (nothing lost, no waiting on a backend).
    Spill,
    /// Drop the new event and count it.
    DropNewest,
    /// Wait until there is room.
    Block,
}

/// When the spool calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every record.
    Always,
    /// After every appended batch.
    Batch,
    /// Leave it to the OS.
    Never,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    pub name: String,
    pub version: Option<String>,
    pub site_id: String,
    pub instance_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SidecarConfig {
    pub url: String,
    pub timeout: Duration,
    pub retries: u32,
    pub format: WireFormat,
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    pub max_events: usize,
    pub max_bytes: usize,
    pub flush_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    pub capacity_bytes: usize,
    pub on_full: OnFull,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpoolConfig {
    pub path: PathBuf,
    pub max_size_bytes: u64,
    pub fsync: FsyncPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

/// A complete, validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub mode: Mode,
    pub app: AppConfig,
    pub sidecar: SidecarConfig,
    pub direct_backends: Vec<BackendConfig>,
    pub batch: BatchConfig,
    pub queue: QueueConfig,
    pub spool: SpoolConfig,
    pub retry: RetryConfig,
}

impl Config {
    /// The backends events are delivered to in this mode (disabled ones left out).
    pub fn active_backends(&self) -> Vec<BackendConfig> {
        match self.mode {
            Mode::Sidecar => vec![BackendConfig::sidecar_from(&self.sidecar)],
            Mode::Direct => self
                .direct_backends
                .iter()
                .filter(|b| b.enabled)
                .cloned()
                .collect(),
        }
    }
}
