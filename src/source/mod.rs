//! Sources yield raw log entries one at a time: exported files and stdin
//! ([`files`]), or the Cloud Logging API ([`cloud_logging`], with [`auth`] for tokens
//! and [`query`] for the filter it sends).

pub mod auth;
pub mod bigquery;
pub mod cloud_logging;
pub(crate) mod encoding;
pub mod files;
pub mod parallel;
pub mod query;
pub mod yaml;
