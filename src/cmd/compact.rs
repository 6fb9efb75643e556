//! `ddb-lake compact`: fold a lake's closed days into Parquet history and a current-state
//! snapshot at the watermark (docs/compaction.md).

use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use ddb_lake_sql::compaction::{compact_local, default_through, CompactOptions};

use super::{human_bytes, load_spec};

/// Variable a test sets to stop a run after that many steps, as if it were killed.
const STOP_AFTER_VAR: &str = "DDB_LAKE_COMPACT_STOP_AFTER";

/// `ddb-lake compact`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The lake: a local folder laid out like the S3 prefix (as `normalize`, `backfill` and
    /// `demo` write it).
    #[arg(long, value_name = "DIR")]
    lake: String,
    /// Lake spec the lake was written with (its declared tables are compacted too); without
    /// one, the built-in tables.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Last day to fold, YYYY-MM-DD (UTC). Default: the last day that ended at least a day
    /// ago (the day before yesterday), so records still arriving for recent days stay text
    /// until the next run.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    through: Option<NaiveDate>,
    #[command(flatten)]
    memory: super::sql::MemoryArgs,
}

fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| format!("`{text}` is not a day written YYYY-MM-DD"))
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.lake.starts_with("s3://") {
        anyhow::bail!(
            "--lake {}: compacting a lake in S3 is not built yet; this version compacts a local folder \
             (a lake in S3 keeps working uncompacted: every answer reads its text objects)",
            args.lake
        );
    }
    let root = PathBuf::from(&args.lake);
    let spec = load_spec(args.spec.as_deref())?;
    let now = chrono::Utc::now();
    let through = args.through.unwrap_or_else(|| default_through(now));
    let stop_after_steps = match std::env::var(STOP_AFTER_VAR) {
        Ok(v) => Some(v.parse().with_context(|| format!("{STOP_AFTER_VAR}={v} is not a number of steps"))?),
        Err(_) => None,
    };
    let options = CompactOptions { engine: args.memory.options(), stop_after_steps };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the I/O runtime")?;
    let report = runtime
        .block_on(compact_local(&root, &spec, through, now, &options, &mut |line| eprintln!("compact: {line}")))
        .with_context(|| format!("compacting {} through {through}", root.display()))?;
    let Some(id) = &report.compaction_id else {
        outln!("nothing to compact in {} through {through}: no text objects of those days", root.display())?;
        if report.removed_objects > 0 {
            outln!("  removed {} objects left by a run that did not finish", report.removed_objects)?;
        }
        return Ok(());
    };
    outln!("compacted {} through {through} (run {id})", root.display())?;
    outln!("  folded   {} text objects, {}", report.folded_objects, human_bytes(report.folded_bytes as usize))?;
    outln!(
        "  wrote    {} Parquet objects, {} (the state: {} items, {})",
        report.written_objects,
        human_bytes(report.written_bytes as usize),
        report.state_items,
        human_bytes(report.state_bytes as usize)
    )?;
    outln!("  removed  {} objects it made redundant", report.removed_objects)?;
    Ok(())
}
