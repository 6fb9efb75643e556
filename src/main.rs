//! `ddb-lake`: the command-line tool.
//!
//! Parses arguments, reads configuration once, and calls the same library functions the
//! Lambda function uses. Each subcommand lives in its own module under `src/cmd/`.
//! Errors from the library keep their own types; they become `anyhow` errors only here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod cmd;

/// mimalloc: the decoder allocates many small maps; measured 10-20% faster end to end than
/// the system allocator (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turn a DynamoDB table's stream into a queryable data lake.
///
/// Stream records are flattened into gzip'd, tab-separated rows (the `changes`,
/// `attributes` and spec-declared tables) under `<table>/dt=YYYY-MM-DD/`, exactly as they
/// are laid out in S3, so Athena (or any engine that follows docs/row-format.md) can read
/// them. Try it without AWS:
///
///   ddb-lake demo
#[derive(Parser, Debug)]
#[command(name = "ddb-lake", version, about, long_about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The whole pipeline on this machine, no AWS account: generate a realistic history,
    /// normalize it into a local lake, and print the answer to every canned question.
    Demo(cmd::demo::Args),
    /// The canned questions: list, show, run (locally or in Athena), and ad-hoc SQL.
    #[command(subcommand)]
    Sql(cmd::sql::SqlCommand),
    /// Normalize stream events into a local lake folder (laid out like the S3 prefix).
    ///
    /// Reads one Lambda DynamoDB event ({"Records": [...]}) or one event per line (JSON
    /// lines). Nothing is written unless the whole input is events: broken JSON or
    /// something that is not an event stops the command (exit 1) with the line and column,
    /// and the lake is left as it was (the objects wait in a staging folder inside it,
    /// .ddb-lake-normalize-<pid>, until the last event is read). A record that cannot be normalized (unknown attribute type, a value that does not fit
    /// its declared column, ...) is written to <out>/_quarantine/ with the reason, and the
    /// rest goes on. Running the same events again rewrites the same objects, byte for byte.
    Normalize(cmd::normalize::Args),
    /// Backfill the lake (a local folder or S3) from a DynamoDB export to S3 (full export,
    /// DynamoDB JSON), read in place or from a local copy: the table's items as of the export's
    /// time, as snapshot rows.
    ///
    /// A stream only carries writes after it starts and keeps them 24 hours; an export gives
    /// every item. The items go through the same flattening into the same tables, as rows
    /// with event_name SNAPSHOT at the export's time; the views take an item's state from the
    /// latest snapshot unless a stream record later than exportTime minus a margin (default 5
    /// minutes) supersedes it (docs/snapshots.md). Every data file is read through first
    /// (MD5, gzip, item counts, key attributes): a damaged or incomplete export stops the
    /// command before anything is written. --jobs data files are read and written at a time;
    /// running it again rewrites the same objects.
    Backfill(cmd::backfill::Args),
    /// Fold a lake's closed days into Parquet: each table's history by day, and every item's
    /// rows at the watermark (the end of the last day folded). A local lake is folded by the
    /// embedded engine, a lake in S3 by Athena.
    ///
    /// After it, a current-state question reads the state and the text objects after the
    /// watermark, nothing older, and every answer is the same as before (docs/compaction.md).
    /// Safe to repeat and to interrupt: what a run writes counts only once its `compactions`
    /// row is written, and the folded text objects are removed only after that. Records that
    /// arrive later for a compacted day stay text (and in every answer) until the next run
    /// folds them.
    Compact(cmd::compact::Args),
    /// Every canned question's answer as one HTML page: a chart per question (bars for a
    /// ranking, lines for a per-day series), the question in words, the table beneath, when
    /// and from what lake it was made.
    ///
    /// The page is self-contained (no script, nothing fetched from elsewhere): open it in a
    /// browser, mail it, attach it. Runs on the embedded engine over --local (default ./lake)
    /// or in Athena with --athena and the options of `sql run`.
    Report(cmd::report::Args),
    /// What a lake's quarantine holds (local or in S3), and writing it again after a fix (list, requeue).
    #[command(subcommand)]
    Quarantine(cmd::quarantine::QuarantineCommand),
    /// Work with lake spec files.
    #[command(subcommand)]
    Spec(SpecCommand),
    /// Generate realistic synthetic stream events for sync-configuration items.
    ///
    /// INSERT/MODIFY/REMOVE (user and TTL) records for many customers with a skewed
    /// distribution: nested maps, lists of field mappings, sets, 38-digit numbers, binary,
    /// and awkward strings (tabs, quotes, backslashes, newlines, unicode). Same seed, same
    /// output. Written as JSON lines, one Lambda event per line.
    Generate(cmd::generate::Args),
    /// Print lake objects (.tsv.gz) as RFC 4180 CSV, decoded by the documented row rules.
    ///
    /// NULL is printed as --null (default empty).
    Cat(cmd::cat::Args),
    /// Read a DynamoDB stream directly (all shards) and write its records to S3 or a local
    /// folder through the Lambda function's code path: for local testing and for catching
    /// up after an outage.
    Replay(cmd::replay::Args),
    /// Register the lake's tables in the Glue catalog, from the same spec (plan, apply, ddl,
    /// export).
    #[command(subcommand)]
    Schema(cmd::schema::SchemaCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell), made from these
    /// very definitions; `--help` of this command says where each shell looks for it.
    Completions(cmd::docs::CompletionsArgs),
    /// Print the man page, or write one per command with --out DIR (e.g.
    /// ~/.local/share/man/man1), made from these very definitions.
    Man(cmd::docs::ManArgs),
}

#[derive(Subcommand, Debug)]
enum SpecCommand {
    /// Validate a spec and explain the tables it produces (exit 1 with file:line and a fix
    /// if it is invalid).
    Check {
        /// The spec file (TOML). See docs/lake-spec.md.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => {
            ddb_lake::allocator::for_the_embedded_engine();
            cmd::demo::run(args)
        }
        Command::Sql(c) => {
            ddb_lake::allocator::for_the_embedded_engine();
            cmd::sql::run(c)
        }
        Command::Normalize(args) => cmd::normalize::run(args),
        Command::Backfill(args) => cmd::backfill::run(args),
        Command::Compact(args) => {
            ddb_lake::allocator::for_the_embedded_engine();
            cmd::compact::run(args)
        }
        Command::Report(args) => {
            ddb_lake::allocator::for_the_embedded_engine();
            cmd::report::run(args)
        }
        Command::Spec(SpecCommand::Check { file }) => cmd::spec::check(&file),
        Command::Generate(args) => cmd::generate::run(args),
        Command::Cat(args) => cmd::cat::run(args),
        Command::Quarantine(c) => cmd::quarantine::run(c),
        Command::Schema(c) => cmd::schema::run(c),
        Command::Replay(args) => cmd::replay::run(args),
        Command::Completions(args) => cmd::docs::completions(args, Cli::command()),
        Command::Man(args) => cmd::docs::man(args, Cli::command()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `ddb-lake cat ... | head` closes the pipe early: that is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once. The library's error messages read whole on
/// their own (a log line or a quarantine reason holds just one), so many already end with
/// their cause's text; `{:#}` would print it again. A cause whose text the message already
/// holds is left out.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let said = cause.to_string();
        if text.contains(said.as_str()) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = match cause.downcast_ref::<csv::Error>() {
            Some(c) => match c.kind() {
                csv::ErrorKind::Io(io) => Some(io),
                _ => None,
            },
            None => cause.downcast_ref::<std::io::Error>(),
        };
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
