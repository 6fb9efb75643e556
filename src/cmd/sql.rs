//! `ddb-lake sql`: list, show and run the canned questions, locally or in Athena; ad-hoc
//! SQL over the local lake; export every view and question for the CDK app; create the
//! views in Athena.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ddb_lake_sql::athena::{run_query, AthenaTarget, QueryOutcome};
use ddb_lake_sql::files::{self, Kind, SqlFile};
use ddb_lake_sql::local::{Answer, LocalLake, LocalOptions, DEFAULT_MEMORY_LIMIT};
use ddb_lake_sql::named_queries::named_queries;
use ddb_lake_sql::render::{render, Format};

use super::load_spec;

/// Output format of answers.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum OutputFormat {
    /// Aligned columns; questions that rank things also draw bars.
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Table => Format::Table,
            OutputFormat::Csv => Format::Csv,
            OutputFormat::Json => Format::Json,
        }
    }
}

/// Where Athena is and how queries run there (shared by `sql run --athena` and
/// `sql create-views`).
#[derive(clap::Args, Debug)]
pub struct AthenaArgs {
    /// Athena: Glue database (default: the spec's).
    #[arg(long)]
    pub(super) database: Option<String>,
    /// Athena: workgroup (default: primary).
    #[arg(long)]
    pub(super) workgroup: Option<String>,
    /// Athena: query result location, s3://… (default: the workgroup's).
    #[arg(long, value_name = "S3_URL")]
    pub(super) output_location: Option<String>,
    /// Athena: endpoint URL (e.g. a local moto_server); default AWS_ENDPOINT_URL, else AWS.
    #[arg(long, value_name = "URL")]
    pub(super) endpoint_url: Option<String>,
    /// Athena: region (default: AWS_REGION / the profile, else us-east-1).
    #[arg(long)]
    pub(super) region: Option<String>,
    /// Athena: give up on a query (and cancel it) after this many seconds (default: 300 for
    /// a question or a view, 3600 for a statement of `compact`).
    #[arg(long, value_name = "N")]
    pub(super) timeout_secs: Option<u64>,
}

/// The embedded engine's memory.
#[derive(clap::Args, Debug)]
pub struct MemoryArgs {
    /// Embedded engine: MiB that sorts, aggregations, windows and joins may hold; past it,
    /// sorts and aggregations spill to the temporary folder (TMPDIR), and a query that cannot
    /// spill stops with an error naming this option. The lake's objects are streamed, not
    /// held, whatever the lake's size.
    #[arg(long, value_name = "MIB", default_value_t = (DEFAULT_MEMORY_LIMIT >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(64..=1 << 20))]
    memory_limit: u64,
}

impl MemoryArgs {
    pub fn options(&self) -> LocalOptions {
        LocalOptions { memory_limit: (self.memory_limit as usize) << 20, ..LocalOptions::default() }
    }
}

/// Where a question runs.
#[derive(clap::Args, Debug)]
// The Athena options only make sense with --athena.
#[command(mut_group("AthenaArgs", |g| g.requires("athena")))]
pub struct EngineArgs {
    /// Run on the embedded engine over this local lake folder (default: ./lake).
    #[arg(long, value_name = "DIR", conflicts_with = "athena")]
    pub(super) local: Option<PathBuf>,
    /// Lake spec the lake was written with (tables, declared tables).
    #[arg(long, value_name = "FILE")]
    pub(super) spec: Option<PathBuf>,
    #[command(flatten)]
    pub(super) memory: MemoryArgs,
    /// Run in Athena instead (database from the spec, or --database).
    #[arg(long)]
    pub(super) athena: bool,
    #[command(flatten)]
    pub(super) athena_args: AthenaArgs,
}

/// `ddb-lake sql …`
#[derive(clap::Subcommand, Debug)]
pub enum SqlCommand {
    /// List the canned questions (and views): name, version, the question.
    List,
    /// Print a question's header and SQL, with its parameters filled in.
    Show {
        /// Question or view name (see `ddb-lake sql list`).
        name: String,
        /// Parameter values, name=value (the defaults otherwise).
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// Run a canned question and print the answer.
    Run {
        /// Question name (see `ddb-lake sql list`).
        name: String,
        /// Parameter values, name=value; typed and quoted, never pasted into the SQL (e.g.
        /// top=5, from=2026-11-01, or entity=user for one of the spec's [[entities]]; `sql show
        /// NAME` lists a question's parameters).
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        #[command(flatten)]
        engine: EngineArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Write every view and question as JSON, exactly as Athena should get it, for the CDK
    /// app to publish as Athena named queries.
    ///
    /// {"database", "queries": [{"name", "kind" (view|question), "version", "question",
    /// "reads", "params": [{"name", "type", "default", "help"}], "source", "sql"}]}. Views
    /// come first, each after the views it reads (the sql/views files, then one
    /// current_<table> view per declared table of the spec); their "sql" is `CREATE OR
    /// REPLACE VIEW <name> AS …`. Then the questions, their "sql" with every parameter at its
    /// default (what `ddb-lake sql show NAME` prints). Then "compaction": the statements of a
    /// compaction run in run order ({"name", "step" (plan|batches|history|state|row|obsolete),
    /// "table", "question", "select", "sql"}), with `{{param}}` placeholders for "params", the
    /// key and header line of the run's `compactions` row, as the compaction state machine runs
    /// them (docs/compaction.md). Pretty-printed, same input, same bytes.
    Export {
        /// Lake spec (TOML): the Glue database and the declared tables; without one, the
        /// default lake (changes + attributes).
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        /// Where to write, or `-` for stdout.
        #[arg(long, value_name = "FILE|-", default_value = "-")]
        out: PathBuf,
    },
    /// Create (or replace) every view in Athena: the views `ddb-lake sql export` lists, in
    /// the same order, one after another.
    ///
    /// Each `CREATE OR REPLACE VIEW` statement is started only after the previous one
    /// succeeded; prints `created view NAME (vN) in DATABASE` for each, and stops at the
    /// first failure with Athena's reason (exit 1). Run it after `ddb-lake schema apply`
    /// (the views read the tables), and again whenever a view's version changes.
    CreateViews {
        /// Lake spec (TOML): the Glue database and the declared tables.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        #[command(flatten)]
        athena: AthenaArgs,
    },
    /// Run ad-hoc SQL over the local lake's tables and views.
    Query {
        /// The SQL (tables: changes, attributes, declared tables; views: unique_changes,
        /// current_items, current_attributes, current_<declared table>).
        sql: String,
        /// The local lake folder.
        #[arg(long, value_name = "DIR", default_value = "lake")]
        local: PathBuf,
        /// Lake spec the lake was written with.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        #[command(flatten)]
        memory: MemoryArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

pub(super) fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

/// Finds a file by name, with a helpful message.
pub fn find(name: &str) -> anyhow::Result<SqlFile> {
    let all = files::all()?;
    all.iter().find(|f| f.name == name).cloned().ok_or_else(|| {
        let names: Vec<&str> = all.iter().filter(|f| f.kind == Kind::Question).map(|f| f.name.as_str()).collect();
        anyhow::anyhow!("no question called `{name}`; the questions are: {}", names.join(", "))
    })
}

/// A worker thread per core: the embedded engine's operators (joins, aggregations, sorts)
/// run their partitions on them, beside the scans' reading threads.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the I/O runtime")
}

/// Opens a local lake (spec given, or the default spec).
pub async fn open_local(dir: &Path, spec: Option<&Path>, options: &LocalOptions) -> anyhow::Result<LocalLake> {
    let spec = load_spec(spec)?;
    Ok(LocalLake::open_with(dir, &spec, options).await?)
}

/// Runs a `sql` subcommand.
pub fn run(cmd: SqlCommand) -> anyhow::Result<()> {
    match cmd {
        SqlCommand::List => {
            let all = files::all()?;
            outln!("{:<30} {:>7}  question", "name", "version")?;
            for f in &all {
                let kind = if f.kind == Kind::View { " (view)" } else { "" };
                outln!("{:<30} {:>7}  {}{kind}", f.name, format!("v{}", f.version), f.question)?;
            }
            Ok(())
        }
        SqlCommand::Show { name, params } => {
            let f = find(&name)?;
            outln!("-- {} v{} ({})", f.name, f.version, f.path)?;
            outln!("-- {}", f.question)?;
            outln!("-- reads: {}", f.reads.join(", "))?;
            for p in &f.params {
                outln!("-- param {} ({:?}, default {}): {}", p.name, p.kind, p.default, p.help)?;
            }
            outln!("{};", f.render(&params)?)?;
            Ok(())
        }
        SqlCommand::Run { name, params, engine, format } => {
            let f = find(&name)?;
            if f.kind != Kind::Question {
                anyhow::bail!("`{name}` is a view; query it with `ddb-lake sql query 'SELECT * FROM {name} LIMIT 20'`");
            }
            let sql = f.render(&params)?;
            files::check_entity(&load_spec(engine.spec.as_deref())?, &params)?;
            let answer = runtime()?.block_on(async {
                if engine.athena {
                    run_athena(&engine, &sql).await
                } else {
                    let dir = engine.local.clone().unwrap_or_else(|| PathBuf::from("lake"));
                    let lake = open_local(&dir, engine.spec.as_deref(), &engine.memory.options()).await?;
                    query_local(&lake, &sql).await
                }
            })?;
            out!("{}", render(&answer, format.into(), f.chart.as_deref()))?;
            Ok(())
        }
        SqlCommand::Export { spec, out } => {
            let queries = named_queries(&load_spec(spec.as_deref())?)?;
            let json = serde_json::to_string_pretty(&queries)? + "\n";
            if out.as_os_str() == "-" {
                std::io::stdout().lock().write_all(json.as_bytes())?;
            } else {
                std::fs::write(&out, json).with_context(|| format!("cannot write {}", out.display()))?;
                outln!(
                    "wrote {} views and {} questions to {}",
                    queries.views().count(),
                    queries.queries.len() - queries.views().count(),
                    out.display()
                )?;
            }
            Ok(())
        }
        SqlCommand::CreateViews { spec, athena } => runtime()?.block_on(async {
            let queries = named_queries(&load_spec(spec.as_deref())?)?;
            let athena = Athena::connect(&athena, spec.as_deref(), QUESTION_TIMEOUT_SECS).await?;
            let database = &athena.target.database;
            for view in queries.views() {
                athena
                    .run(&view.sql)
                    .await
                    .with_context(|| format!("cannot create view {} (v{}) in {database}", view.name, view.version))?;
                outln!("created view {} (v{}) in {database}", view.name, view.version)?;
            }
            Ok(())
        }),
        SqlCommand::Query { sql, local, spec, memory, format } => {
            let answer = runtime()?.block_on(async {
                let lake = open_local(&local, spec.as_deref(), &memory.options()).await?;
                query_local(&lake, &sql).await
            })?;
            out!("{}", render(&answer, format.into(), None))?;
            Ok(())
        }
    }
}

/// Runs a statement on the embedded engine; prints on stderr what it read.
pub(super) async fn query_local(lake: &LocalLake, sql: &str) -> anyhow::Result<Answer> {
    let started = std::time::Instant::now();
    let answer = lake.query(sql).await?;
    let (objects, bytes) = lake.read();
    eprintln!(
        "local: read {objects} objects ({} gzip) in {:.2} s",
        super::human_bytes(bytes as usize),
        started.elapsed().as_secs_f64()
    );
    Ok(answer)
}

/// Runs a question in Athena; prints the bytes scanned and the cost estimate on stderr.
pub(super) async fn run_athena(engine: &EngineArgs, sql: &str) -> anyhow::Result<Answer> {
    let outcome =
        Athena::connect(&engine.athena_args, engine.spec.as_deref(), QUESTION_TIMEOUT_SECS).await?.run(sql).await?;
    eprintln!(
        "athena: query {} scanned {} bytes (about ${:.6} at $5/TB, 10 MB minimum){}",
        outcome.execution_id,
        outcome.bytes_scanned,
        outcome.cost_usd,
        outcome.engine_millis.map(|ms| format!(", {ms} ms in the engine")).unwrap_or_default()
    );
    Ok(Answer { columns: outcome.columns, rows: outcome.rows })
}

/// How long a question or a view statement may run in Athena by default.
const QUESTION_TIMEOUT_SECS: u64 = 300;

/// An Athena client with the target and timeout the options give.
pub(super) struct Athena {
    client: aws_sdk_athena::Client,
    target: AthenaTarget,
    timeout: std::time::Duration,
}

impl Athena {
    /// The client and target of `args` (database: --database, else the spec's).
    pub(super) async fn connect(
        args: &AthenaArgs,
        spec: Option<&Path>,
        default_timeout_secs: u64,
    ) -> anyhow::Result<Athena> {
        let spec = load_spec(spec)?;
        let config = super::aws_config(args.endpoint_url.as_deref(), args.region.as_deref()).await;
        Ok(Athena {
            client: aws_sdk_athena::Client::new(&config),
            target: AthenaTarget {
                database: args.database.clone().unwrap_or(spec.database),
                workgroup: args.workgroup.clone(),
                output_location: args.output_location.clone(),
                catalog: None,
            },
            timeout: std::time::Duration::from_secs(args.timeout_secs.unwrap_or(default_timeout_secs)),
        })
    }

    /// Runs one statement and waits for it, printing its state changes on stderr.
    pub(super) async fn run(&self, sql: &str) -> anyhow::Result<QueryOutcome> {
        let mut on_state = |s: &str| eprintln!("athena: {s}");
        Ok(run_query(&self.client, &self.target, sql, &mut on_state, self.timeout).await?)
    }
}
