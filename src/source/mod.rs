//! Sources yield raw log entries one at a time. Only the file source exists so far:
//! JSON array, NDJSON, concatenated objects, API-response wrappers, gzip, UTF-16, text.

pub mod files;
