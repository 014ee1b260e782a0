//! gcp-triage: turn Google Cloud Logging entries into ranked error clusters and a
//! five-whys debug report.
//!
//! The pipeline flows one way, one module per stage:
//! [`source`] → [`entry`] → [`stitch`] → [`signature`] → [`cluster`] → [`rank`] →
//! [`report`] → [`sink`]. The middle stages are pure and deterministic; only sources
//! and sinks do I/O. [`app`] wires them per subcommand.

pub mod allocator;
pub mod app;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod code;
pub mod config;
pub mod deploy;
pub mod entry;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod precursor;
pub mod prefilter;
pub mod rank;
pub mod redact;
pub mod report;
pub mod settings;
pub mod signature;
pub mod sink;
pub mod source;
pub mod stitch;
pub mod timeline;
