//! `ddb-lake cat`: decode lake objects and print them as RFC 4180 CSV.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use ddb_lake_core::rowfmt::decode_object;
use flate2::read::MultiGzDecoder;

/// Arguments of `ddb-lake cat`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Lake objects (`.tsv.gz`) to print; the header row is printed once, from the first.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Text printed for NULL (default: empty, like the empty string; use --null '\N' to tell them apart).
    #[arg(long, default_value = "")]
    null: String,
}

/// Prints the rows of every file.
pub fn run(args: Args) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = csv::WriterBuilder::new().flexible(true).from_writer(stdout.lock());
    for (k, file) in args.files.iter().enumerate() {
        let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        let mut body = Vec::new();
        MultiGzDecoder::new(f)
            .read_to_end(&mut body)
            .with_context(|| format!("{} is not a gzip file (lake objects end in .tsv.gz)", file.display()))?;
        let (header, rows) =
            decode_object(&body).with_context(|| format!("{} does not follow the row format", file.display()))?;
        if k == 0 {
            out.write_record(&header)?;
        }
        for row in rows {
            out.write_record(row.iter().map(|f| f.as_deref().unwrap_or(&args.null)))?;
        }
    }
    out.flush()?;
    Ok(())
}
