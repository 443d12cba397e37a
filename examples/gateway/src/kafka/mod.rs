//! Kafka ingest, the scale-out path: the gateway as one member of a consumer group storing a
//! topic the core's `kafka` writer fills (see docs/scale-out.md).

pub mod config;

pub use self::config::KafkaIngest;
