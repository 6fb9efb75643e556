//! `ddb-lake normalize`: stream events from a file → a local lake folder.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use ddb_lake_core::object_key::ObjectKey;

use ddb_lake_writer::batch::{BatchOptions, BatchOutput};
use ddb_lake_writer::events_file;
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::record::{check_event, message_of};
use ddb_lake_writer::sink::{in_its_folder, LocalDirSink};

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
    let (input, name) = read_input(&args.events)?;
    let text = input.text(&name)?;
    let jobs = args.jobs.map_or_else(super::backfill::default_jobs, usize::from);
    let run =
        Run { normalizer: &normalizer, options: BatchOptions { source: args.source.clone() }, jobs, quiet: args.quiet };
    let started = Instant::now();

    // Nothing is written unless the whole input is events, and the first bad event in the
    // file's order is the one named. JSON lines (one event per line, as `generate` writes
    // them) are cut at line ends and each line is parsed once, by the normalizer, on every
    // core: the objects go to a staging folder inside the lake, moved into place once the
    // last line turned out to be an event. Any other layout (a pretty-printed event, two
    // values on a line, a line that is not an event) is read value by value and every event
    // checked before the first is written, which also names the line and column of the first
    // error.
    let lines = events_file::lines(text);
    let summary = match lines.is_empty() {
        false => {
            let staging = Staging::new(&args.out);
            match run.normalize(&lines, |key, body| staging.put(key, body)) {
                Ok(summary) => {
                    staging.publish(&LocalDirSink::new(&args.out))?;
                    Some(summary)
                }
                // Read the input again value by value: that names the bad event, or finds
                // the events of another layout.
                Err(Failed::NotAnEvent) => None,
                Err(Failed::Write(e)) => return Err(e),
            }
        }
        true => None,
    };
    let summary = match summary {
        Some(summary) => summary,
        None => {
            let events = checked_events(text, &name, jobs)?;
            if events.is_empty() {
                anyhow::bail!(
                    "{name} holds no events; expected one Lambda event {{\"Records\": [...]}} or one event per line"
                );
            }
            let sink = LocalDirSink::new(&args.out);
            match run.normalize(&events, |key, body| sink.put_now(key, body).map_err(anyhow::Error::from)) {
                Ok(summary) => summary,
                Err(Failed::Write(e)) => return Err(e),
                // The check and the normalizer read events alike (record::check_event); should
                // they ever differ, say so rather than stop on a panic.
                Err(Failed::NotAnEvent) => anyhow::bail!(
                    "{name}: an event that passed the input check was refused by the normalizer; \
                     please report this with the file"
                ),
            }
        }
    };
    if !args.quiet {
        print_summary(&summary, &name, &args.out, started.elapsed(), text.len())?;
    }
    Ok(())
}

/// What one normalizing pass over the events needs.
struct Run<'n> {
    normalizer: &'n Normalizer<'n>,
    options: BatchOptions,
    jobs: usize,
    quiet: bool,
}

/// Why a pass over the events stopped.
enum Failed {
    /// One of them is not an event (its line and column are named by reading the input
    /// again, [`checked_events`]).
    NotAnEvent,
    /// An object could not be written.
    Write(anyhow::Error),
}

impl Run<'_> {
    /// Normalizes `events` on up to `jobs` threads and hands each object to `put`, in the
    /// events' order, whatever the number of jobs (the lake is the same byte for byte).
    fn normalize(
        &self,
        events: &[&str],
        mut put: impl FnMut(&ObjectKey, &[u8]) -> anyhow::Result<()>,
    ) -> Result<Summary, Failed> {
        let mut progress = Progress::new(self.quiet);
        progress.start_count(events.len() as u64, "events", "normalizing");
        let mut summary = Summary::default();
        ddb_lake_writer::parallel::in_order(
            events,
            self.jobs,
            |ev| self.normalizer.normalize_event(ev, &self.options).map_err(|_| Failed::NotAnEvent),
            |out| {
                for o in &out.objects {
                    put(&o.key, &o.body).map_err(Failed::Write)?;
                }
                summary.add(&out);
                progress.set(summary.events as u64, |_| {
                    format!("normalized {}/{} events ({} records)", summary.events, events.len(), summary.records)
                });
                Ok(())
            },
        )?;
        progress.finish();
        Ok(summary)
    }
}

/// A hidden folder inside the lake that holds the objects of a file being normalized until
/// every event of the file has turned out to be one; then each object is renamed into its
/// place (a rename is atomic: a reader sees an object whole or not at all, as with
/// [`LocalDirSink::put_now`]). Dropped before that, it removes what it holds, and the lake
/// folder too when this run made it, so that a refused file leaves nothing behind. A run
/// that is killed leaves the folder (`.ddb-lake-normalize-<pid>`), which no table's reader
/// looks into.
struct Staging {
    lake: PathBuf,
    made_lake: bool,
    sink: LocalDirSink,
    /// The keys written, each once.
    keys: std::cell::RefCell<BTreeSet<ObjectKey>>,
    published: bool,
}

impl Staging {
    fn new(lake: &Path) -> Staging {
        Staging {
            lake: lake.to_owned(),
            made_lake: !lake.exists(),
            sink: LocalDirSink::new(lake.join(format!(".ddb-lake-normalize-{}", std::process::id()))),
            keys: Default::default(),
            published: false,
        }
    }

    /// Writes one object into the folder (it is nobody's to read yet: no temporary name).
    fn put(&self, key: &ObjectKey, body: &[u8]) -> anyhow::Result<()> {
        let path = self.sink.path_of(key);
        in_its_folder(&path, || std::fs::write(&path, body))
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.keys.borrow_mut().insert(key.clone());
        Ok(())
    }

    /// Moves every object into its place in `lake`, replacing what is there, then removes
    /// the folder.
    fn publish(mut self, lake: &LocalDirSink) -> anyhow::Result<()> {
        for key in self.keys.borrow().iter() {
            let (from, to) = (self.sink.path_of(key), lake.path_of(key));
            in_its_folder(&to, || std::fs::rename(&from, &to))
                .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
        }
        self.published = true;
        match std::fs::remove_dir_all(self.sink.root()) {
            // Events without records write no object, and no folder.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            removed => {
                removed.with_context(|| format!("cannot remove the staging folder {}", self.sink.root().display()))
            }
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.published {
            return;
        }
        // Best effort: what cannot be removed stays in a folder no reader looks into.
        let _ = std::fs::remove_dir_all(self.sink.root());
        if self.made_lake {
            let _ = std::fs::remove_dir(&self.lake);
        }
    }
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
