//! What the AWS backends (`s3`, `cloudwatch`, `xray`) share: their common keys (always
//! built), and under feature "aws" credentials, regions, endpoints and SigV4-signed calls.

#[cfg(feature = "aws")]
mod client;
pub mod config;

#[cfg(feature = "aws")]
pub use self::client::*;
pub use self::config::AwsConfig;
