//! The floor for `bench/speed.sh`: a bare, single-threaded, typed and borrowing
//! `serde_json` parse of every entry of an export, extracting the fields the triage
//! reads and nothing else. NDJSON is read line by line; a JSON array is read whole
//! and parsed element by element. Prints the number of entries.
//!
//! ```text
//! cargo run --release --example parse-floor -- big.ndjson
//! ```

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use serde::Deserialize;
use serde::de::{Deserializer as _, IgnoredAny, SeqAccess, Visitor};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Entry<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    severity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    insert_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    log_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    trace: Option<Cow<'a, str>>,
    #[serde(borrow)]
    resource: Option<Resource<'a>>,
    #[serde(borrow)]
    labels: Option<Labels<'a>>,
    #[serde(borrow)]
    http_request: Option<Http<'a>>,
    #[serde(borrow)]
    text_payload: Option<Cow<'a, str>>,
    #[serde(borrow)]
    json_payload: Option<Payload<'a>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Resource<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    labels: Option<ResourceLabels<'a>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ResourceLabels<'a> {
    #[serde(borrow)]
    service_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    revision_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    location: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Labels<'a> {
    #[serde(borrow)]
    instance_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Http<'a> {
    #[serde(borrow)]
    request_method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request_url: Option<Cow<'a, str>>,
    status: Option<u16>,
    #[serde(borrow)]
    latency: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Payload<'a> {
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    severity: Option<Cow<'a, str>>,
    level: Option<IgnoredAny>,
}

struct Elements;

impl<'de> Visitor<'de> for Elements {
    type Value = u64;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0;
        while seq.next_element::<Entry<'de>>()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: parse-floor FILE")?;
    let mut reader = BufReader::with_capacity(1 << 20, File::open(&path)?);
    let array = reader.fill_buf()?.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let n = if array {
        let mut all = Vec::new();
        reader.read_to_end(&mut all)?;
        serde_json::Deserializer::from_slice(&all).deserialize_seq(Elements)?
    } else {
        let mut n = 0u64;
        let mut line = Vec::with_capacity(1 << 16);
        while reader.read_until(b'\n', &mut line)? > 0 {
            if line.iter().any(|b| !b.is_ascii_whitespace()) {
                serde_json::from_slice::<Entry<'_>>(&line)?;
                n += 1;
            }
            line.clear();
        }
        n
    };
    println!("{n}");
    Ok(())
}
