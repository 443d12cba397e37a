//! Test support shared by the core's, the sidecar's and the gateway's tests and the core's
//! benches: the real backend servers (scripts/servers), JSON comparison by value, and
//! validators for the JSON schemas under core/schema (which refer to each other).
//!
//! It does not depend on the `wafermon` crate, so the core can take it as a
//! dev-dependency without a cycle.

mod json;
pub mod refuser;
pub mod schema;
pub mod secrets;
pub mod servers;

pub use json::same_json;
pub use schema::{assert_schema_valid, load_json, schema_validator};
