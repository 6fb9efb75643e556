//! `ddb-lake generate`: synthetic sync-configuration stream events.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use ddb_lake_synth::{generate, write_json_lines, SynthOptions};

/// Arguments of `ddb-lake generate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of distinct sync-configuration items to create (each gets an INSERT, and maybe
    /// MODIFYs and a REMOVE).
    #[arg(long, default_value_t = 1000)]
    items: usize,
    /// Where to write the events (JSON lines), or `-` for stdout.
    #[arg(long, value_name = "FILE|-")]
    out: PathBuf,
    /// Number of customers (skewed: a few own most items).
    #[arg(long, default_value_t = 50)]
    customers: usize,
    /// Days of history, from 2026-11-01.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Stream records per event (Lambda's default batch size is 100).
    #[arg(long, default_value_t = 100)]
    records_per_event: usize,
    /// Random seed: the same seed gives the same events.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let opts = SynthOptions {
        items: args.items,
        customers: args.customers,
        days: args.days,
        seed: args.seed,
        records_per_event: args.records_per_event,
        ..SynthOptions::default()
    };
    let events = generate(&opts)?;
    let to_stdout = args.out.as_os_str() == "-";
    let records = if to_stdout {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::new(stdout.lock());
        let n = write_json_lines(&events, &mut w)?;
        w.flush()?;
        n
    } else {
        let f = std::fs::File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
        let mut w = std::io::BufWriter::new(f);
        let n = write_json_lines(&events, &mut w)?;
        w.flush().with_context(|| format!("cannot write {}", args.out.display()))?;
        n
    };
    if !to_stdout {
        outln!(
            "wrote {records} stream records for {} items of {} customers in {} events to {}",
            args.items,
            args.customers,
            events.len(),
            args.out.display()
        )?;
        outln!("next: ddb-lake normalize --events {} --out lake", args.out.display())?;
    }
    Ok(())
}
