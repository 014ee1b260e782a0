//! Writes a synthetic Cloud Run export for benchmarks and tests.
//!
//! ```text
//! cargo run --release --example gen-export -- --entries 1000000 --format ndjson > big.ndjson
//! cargo run --release --example gen-export -- --entries 100000 --format array --gzip -o big.json.gz
//! ```

mod export;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use serde::Serializer as _;
use serde_json::ser::{PrettyFormatter, Serializer};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One entry per line, as a log sink writes.
    Ndjson,
    /// One pretty-printed JSON array, as `gcloud logging read --format=json` writes.
    Array,
}

/// Writes a synthetic Cloud Run export (deterministic for a seed).
#[derive(Parser)]
struct Args {
    /// Entries to write.
    #[arg(long, default_value_t = 100_000)]
    entries: u64,
    /// Output shape.
    #[arg(long, value_enum, default_value = "ndjson")]
    format: Format,
    /// Compress with gzip.
    #[arg(long)]
    gzip: bool,
    /// Distinct error signatures.
    #[arg(long, default_value_t = 300)]
    signatures: u32,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Days the timestamps span (more than 0, at most 3650): fewer writes the entries
    /// denser, as a busier service would; more spreads them over a longer export.
    #[arg(long, default_value_t = 1.0)]
    days: f64,
    /// Output file (default: stdout).
    #[arg(short, long)]
    out: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    if !(args.days > 0.0 && args.days <= 3650.0) {
        eprintln!(
            "gen-export: --days must be more than 0 and at most 3650, not {}",
            args.days
        );
        std::process::exit(2);
    }
    if let Err(e) = run(&args) {
        eprintln!("gen-export: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> io::Result<()> {
    let sink: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(File::create(p)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut w = BufWriter::with_capacity(1 << 20, sink);
    if args.gzip {
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        write_entries(args, &mut gz)?;
        w = gz.finish()?;
    } else {
        write_entries(args, &mut w)?;
    }
    w.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .flush()
}

fn write_entries(args: &Args, mut w: impl Write) -> io::Result<()> {
    let generator = export::Generator::new(export::Spec {
        entries: args.entries,
        signatures: args.signatures.max(1),
        seed: args.seed,
        days: args.days,
    });
    match args.format {
        Format::Ndjson => {
            for entry in generator {
                serde_json::to_writer(&mut w, &entry)?;
                w.write_all(b"\n")?;
            }
        }
        Format::Array => {
            let mut ser = Serializer::with_formatter(&mut w, PrettyFormatter::new());
            (&mut ser).collect_seq(generator)?;
            w.write_all(b"\n")?;
        }
    }
    Ok(())
}
