//! The `zabbix` service: its keys, the sender-protocol writer (feature "zabbix") and the
//! reader through the Zabbix API (plus feature "read").

pub mod config;
#[cfg(all(feature = "zabbix", feature = "read"))]
pub mod read;
#[cfg(feature = "zabbix")]
mod wire;
#[cfg(feature = "zabbix")]
mod write;

pub use self::config::{ItemSource, ZabbixConfig, DEFAULT_ITEMS};
#[cfg(feature = "zabbix")]
pub use self::write::Zabbix;
