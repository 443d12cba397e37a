//! How services register: the `services!` table in `backends/mod.rs` has one line per
//! service naming its `BackendKind` variant and config type, its folder under `backends/`,
//! its type name (and the aliases a config may use instead), the cargo feature its writer
//! needs, and, when the gateway can read it back, how its source is configured. From that
//! one list come the service modules, `BackendKind`, `type_name`, `BACKEND_TYPES`, the parse
//! of an entry's own keys, `inline_retries`, the writer `build`, the feature a missing writer
//! names, and the readers' dispatch (`backends::read::query`).
//!
//! A service folder provides, by these names:
//! - `config::parse(value, path) -> Result<Config>`: its own keys (the common ones are taken
//!   out first), errors naming their JSON path, and a [`ServiceConfig`] impl for its config;
//! - `build(&Config, &AppConfig) -> Result<Box<dyn Backend>>`, behind its feature;
//! - with `source backend`: `read::query(&Config, &ExternalQuery)`, behind its feature and
//!   "read"; with `source own` its reader takes keys of its own, which its `read.rs` parses
//!   (the gateway names those two: filesystem and zabbix).

pub use super::{source_keys, BackendKind, BACKEND_TYPES};

/// The generator of everything the table drives. Per service: `Variant(ConfigType) =
/// module, "type" | "alias"..., feature "cargo-feature" [, source backend|own];` (feature
/// "default" means always built).
macro_rules! services {
    ($(
        $variant:ident($config:ty) = $module:ident, $name:literal $(| $alias:literal)*,
        feature $feature:tt $(, source $source:ident)?;
    )*) => {
        $( pub mod $module; )*

        /// A backend entry's own keys, by service.
        #[derive(Debug, Clone, PartialEq)]
        pub enum BackendKind {
            $( $variant($config), )*
        }

        /// The backend types a config may name (each service's name, then its aliases).
        pub const BACKEND_TYPES: &[&str] = &[$( $name, $( $alias, )* )*];

        impl BackendKind {
            /// The service's one name, whichever alias the config used.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $( BackendKind::$variant(_) => $name, )*
                }
            }

            /// Quick attempts in a row before a failing batch is parked in the spool.
            pub fn inline_retries(&self) -> u32 {
                match self {
                    $( BackendKind::$variant(c) => $crate::backends::registry::ServiceConfig::inline_retries(c), )*
                }
            }

            /// The cargo feature that builds this service's writer in.
            pub fn feature(&self) -> &'static str {
                match self {
                    $( BackendKind::$variant(_) => $feature, )*
                }
            }

            /// The service's own keys of an entry of type `type_name`; None for an unknown
            /// type. Always built, so a config naming a service parses without its feature.
            pub(crate) fn parse(
                type_name: &str,
                value: serde_json::Value,
                path: &str,
            ) -> Option<$crate::Result<BackendKind>> {
                Some(match type_name {
                    $( $name $( | $alias )* => $module::config::parse(value, path).map(BackendKind::$variant), )*
                    _ => return None,
                })
            }
        }

        /// The writer of `kind`; None when this build lacks the service's feature.
        #[allow(clippy::let_and_return)]
        pub(crate) fn writer(
            kind: &BackendKind,
            app: &$crate::config::AppConfig,
        ) -> Option<$crate::Result<Box<dyn Backend>>> {
            match kind {
                $( BackendKind::$variant(c) => $crate::backends::registry::services!(@build $feature, $module, c, app), )*
            }
        }

        /// How the gateway configures a source of type `type_name`; None when the service
        /// has no reader (or the type is unknown).
        pub fn source_keys(type_name: &str) -> Option<$crate::backends::registry::SourceKeys> {
            match type_name {
                $( $name $( | $alias )* => $crate::backends::registry::services!(@keys $( $source )?), )*
                _ => None,
            }
        }

        /// Read what the backend of `kind` wrote; None when its service has no reader over
        /// its backend keys in this build.
        #[cfg(feature = "read")]
        #[allow(clippy::let_and_return)]
        pub(crate) fn read_back(
            kind: &BackendKind,
            q: &read::ExternalQuery,
        ) -> Option<std::result::Result<read::QueryOutcome, String>> {
            match kind {
                $( BackendKind::$variant(c) => $crate::backends::registry::services!(@read $feature, $module, c, q $(, $source)?), )*
            }
        }
    };

    (@build "default", $module:ident, $c:ident, $app:ident) => {
        Some($module::build($c, $app))
    };
    (@build $feature:tt, $module:ident, $c:ident, $app:ident) => {{
        #[cfg(feature = $feature)]
        let built = Some($module::build($c, $app));
        #[cfg(not(feature = $feature))]
        let built = {
            let _ = ($c, $app);
            None
        };
        built
    }};

    (@read "default", $module:ident, $c:ident, $q:ident, backend) => {
        Some($module::read::query($c, $q))
    };
    (@read $feature:tt, $module:ident, $c:ident, $q:ident, backend) => {{
        #[cfg(feature = $feature)]
        let read = Some($module::read::query($c, $q));
        #[cfg(not(feature = $feature))]
        let read = {
            let _ = ($c, $q);
            None
        };
        read
    }};
    (@read $feature:tt, $module:ident, $c:ident, $q:ident $(, $source:ident)?) => {{
        let _ = ($c, $q);
        None
    }};

    (@keys) => { None };
    (@keys backend) => { Some($crate::backends::registry::SourceKeys::Backend) };
    (@keys own) => { Some($crate::backends::registry::SourceKeys::Own) };
}
pub(crate) use services;

/// What the pipeline asks of every service's config.
pub trait ServiceConfig {
    /// Quick attempts in a row before a failing batch is parked in the spool.
    fn inline_retries(&self) -> u32;
}

/// How the gateway configures a service as an external source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKeys {
    /// Exactly the keys of its backend entry, so one block describes writer and reader.
    Backend,
    /// Keys of its own, parsed by its reader (filesystem: `path`; zabbix: the frontend API).
    Own,
}

/// The types the gateway can read as external sources (each readable service's name, then
/// its aliases).
pub fn source_types() -> Vec<&'static str> {
    BACKEND_TYPES
        .iter()
        .copied()
        .filter(|t| source_keys(t).is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{json, Value};

    use super::*;

    fn set(values: &Value) -> BTreeSet<String> {
        values
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    fn names(types: &[&str]) -> BTreeSet<String> {
        types.iter().map(|t| t.to_string()).collect()
    }

    /// The schemas list the types by hand (they are data, not code): they must say what the
    /// registry says, so a new service's line shows up as a schema to update.
    #[test]
    fn the_schemas_list_the_registrys_types() {
        let config: Value =
            serde_json::from_str(include_str!("../../schema/config.v1.schema.json")).unwrap();
        let types = &config["$defs"]["backend"]["properties"]["type"]["enum"];
        assert_eq!(set(types), names(BACKEND_TYPES));

        let gateway: Value =
            serde_json::from_str(include_str!("../../schema/gateway.v1.schema.json")).unwrap();
        let source = &gateway["$defs"]["source"];
        assert_eq!(
            set(&source["properties"]["type"]["enum"]),
            names(&source_types())
        );
        let backend_keyed: Vec<&str> = BACKEND_TYPES
            .iter()
            .copied()
            .filter(|t| source_keys(t) == Some(SourceKeys::Backend))
            .collect();
        let by_backend_keys = source["allOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|rule| rule["then"]["$ref"] == json!("config.v1.schema.json#/$defs/backend"))
            .expect("a rule giving backend-keyed sources the backend's keys");
        assert_eq!(
            set(&by_backend_keys["if"]["properties"]["type"]["enum"]),
            names(&backend_keyed)
        );
    }

    #[test]
    fn an_unknown_type_is_none_and_aliases_parse_as_their_service() {
        assert!(BackendKind::parse("mqtt", json!({}), "x").is_none());
        assert_eq!(source_keys("kafka"), None);
        assert_eq!(source_keys("xray"), None);
        assert_eq!(source_keys("elk"), Some(SourceKeys::Backend));
        assert_eq!(source_keys("zabbix"), Some(SourceKeys::Own));
        let value = json!({"url": "http://127.0.0.1:9200"});
        let alias = BackendKind::parse("elk", value.clone(), "x")
            .unwrap()
            .unwrap();
        let name = BackendKind::parse("elasticsearch", value, "x")
            .unwrap()
            .unwrap();
        assert_eq!(alias, name);
        assert_eq!(alias.type_name(), "elasticsearch");
        assert_eq!(alias.feature(), "elasticsearch");
        let fs = BackendKind::parse("filesystem", json!({}), "x")
            .unwrap()
            .unwrap();
        assert_eq!((fs.type_name(), fs.inline_retries()), ("filesystem", 0));
    }
}
