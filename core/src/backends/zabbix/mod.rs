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
#[cfg(all(feature = "zabbix", feature = "fuzzing"))]
pub(crate) use self::wire::read_answer;
#[cfg(feature = "zabbix")]
pub use self::write::Zabbix;

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "zabbix")]
pub(crate) fn build(
    config: &ZabbixConfig,
    app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    Ok(Box::new(Zabbix::new(config.clone(), app)?))
}
