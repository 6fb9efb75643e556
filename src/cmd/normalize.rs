//! `ddb-lake normalize`: stream events from a file → a local lake folder.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ddb_lake_writer::batch::{BatchOptions, BatchOutput};
use ddb_lake_writer::events_file;
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::record::{check_event, message_of};
use ddb_lake_writer::sink::LocalDirSink;

use super::progress::Progress;
use super::{human_bytes, load_spec, read_input, redaction_key};

/// Arguments of `ddb-lake normalize`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Lake spec (TOML). Without one, only the `changes` and `attributes` tables are written.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Events to read: a file, or `-` for stdin.
    #[arg(long, value_name = "FILE|-")]
    events: PathBuf,
    /// Folder to write the lake into; it mirrors s3://bucket/prefix/.
    #[arg(long, value_name = "DIR", default_value = "lake")]
    out: PathBuf,
    /// Name of the shard the events came from (names the objects). Default: a hash of the
    /// stream ARN, as in Lambda.
    #[arg(long, value_name = "SHARD_ID")]
    source: Option<String>,
    /// Events flattened and compressed at a time (default: the machine's cores). Objects are
    /// written in the file's order whatever the number, so the lake is the same byte for
    /// byte; each job holds at most two events' objects.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// Totals over all events.
#[derive(Default)]
struct Summary {
    events: usize,
    records: usize,
    rows: Vec<(String, u64)>,
    objects: usize,
    bytes: usize,
    quarantined: Vec<(String, String)>,
}

impl Summary {
    fn add(&mut self, out: &BatchOutput) {
        self.events += 1;
        self.records += out.records;
        if self.rows.is_empty() {
            self.rows = out.rows_per_table.iter().map(|(t, _)| (t.clone(), 0)).collect();
        }
        for (acc, (_, n)) in self.rows.iter_mut().zip(&out.rows_per_table) {
            acc.1 += n;
        }
        self.objects += out.objects.len();
        self.bytes += out.output_bytes();
        let qkey = out.objects.iter().find(|o| o.table.is_none()).map(|o| o.key.to_string()).unwrap_or_default();
        for q in &out.quarantined {
            self.quarantined.push((format!("{qkey} (record {})", q.index), q.reason.clone()));
        }
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = load_spec(args.spec.as_deref())?;
    let key = redaction_key(&spec);
    let normalizer = Normalizer::new(&spec, key.as_deref())?;
    let (text, name) = read_input(&args.events)?;

    // Check the whole input before writing anything, on every core; the first bad event in
    // the file's order is the one named. JSON lines (one event per line, as `generate` writes
    // them) are cut at line ends and each line parsed once, here; any other layout (a
    // pretty-printed event, two values on a line, a line that is not an event) is read value
    // by value instead, which also names the line and column of the first error.
    let jobs = args.jobs.map_or_else(super::backfill::default_jobs, usize::from);
    let lines = events_file::lines(&text);
    let lines_are_events = !lines.is_empty()
        && ddb_lake_writer::parallel::in_order(&lines, jobs, |line| check_event(line), |()| Ok(())).is_ok();
    let events = match lines_are_events {
        true => lines,
        false => checked_events(&text, &name, jobs)?,
    };
    if events.is_empty() {
        anyhow::bail!("{name} holds no events; expected one Lambda event {{\"Records\": [...]}} or one event per line");
    }

    let sink = LocalDirSink::new(&args.out);
    let options = BatchOptions { source: args.source.clone() };
    let started = Instant::now();
    let mut progress = Progress::new(args.quiet);
    progress.start_count(events.len() as u64, "events", "normalizing");
    let mut summary = Summary::default();
    ddb_lake_writer::parallel::in_order(
        &events,
        jobs,
        |ev| normalizer.normalize_event(ev, &options).map_err(anyhow::Error::from),
        |out| {
            for o in &out.objects {
                sink.put_now(&o.key, &o.body)?;
            }
            summary.add(&out);
            progress.set(summary.events as u64, |_| {
                format!("normalized {}/{} events ({} records)", summary.events, events.len(), summary.records)
            });
            Ok(())
        },
    )?;
    progress.finish();
    if !args.quiet {
        print_summary(&summary, &name, &args.out, started.elapsed(), text.len())?;
    }
    Ok(())
}

/// The events of `text` read value by value (one event, or one per line), each checked to be
/// an event on up to `jobs` threads; an error names the line and column where the first bad
/// one, in the file's order, stops.
fn checked_events<'t>(text: &'t str, name: &str, jobs: usize) -> anyhow::Result<Vec<&'t str>> {
    let events = events_file::events(text, name)?;
    let numbered: Vec<(usize, &serde_json::value::RawValue)> = events.iter().copied().enumerate().collect();
    ddb_lake_writer::parallel::in_order(
        &numbered,
        jobs,
        |(n, ev)| {
            check_event(ev.get()).map_err(|e| {
                let (line, column) = events_file::position(text, ev, &e);
                anyhow::anyhow!(
                    "{name}: line {line}, column {column}: event {} is not a DynamoDB stream event: {}",
                    n + 1,
                    message_of(&e)
                )
            })
        },
        |()| Ok(()),
    )?;
    Ok(events.iter().map(|ev| ev.get()).collect())
}

fn print_summary(
    s: &Summary,
    name: &str,
    out: &std::path::Path,
    took: Duration,
    input_bytes: usize,
) -> std::io::Result<()> {
    outln!("read {} records in {} events from {name} ({})", s.records, s.events, human_bytes(input_bytes))?;
    outln!("rows written:")?;
    for (t, n) in &s.rows {
        outln!("  {t:<20} {n:>10}")?;
    }
    outln!(
        "wrote {} objects ({} gzip) under {}/ in {:.2}s",
        s.objects,
        human_bytes(s.bytes),
        out.display(),
        took.as_secs_f64()
    )?;
    if s.quarantined.is_empty() {
        outln!("quarantined 0 records")?;
    } else {
        outln!("quarantined {} records (the rest of their batches was written):", s.quarantined.len())?;
        for (at, reason) in s.quarantined.iter().take(10) {
            outln!("  {}/{at}: {reason}", out.display())?;
        }
        if s.quarantined.len() > 10 {
            outln!("  ... and {} more under {}/_quarantine/", s.quarantined.len() - 10, out.display())?;
        }
    }
    Ok(())
}
