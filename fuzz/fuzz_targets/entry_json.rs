#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gcp_triage::fuzzing::entry_json(data));
