//! `ddb-lake sql`: list, show and run the canned questions, locally or in Athena, and ad-hoc
//! SQL over the local lake.

use std::path::{Path, PathBuf};

use anyhow::Context;
use lake_sql::files::{self, Kind, SqlFile};
use lake_sql::local::{Answer, LocalLake};
use lake_sql::render::{render, Format};

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

/// Where a question runs.
#[derive(clap::Args, Debug)]
pub struct EngineArgs {
    /// Run on the embedded engine over this local lake folder (default: ./lake).
    #[arg(long, value_name = "DIR", conflicts_with = "athena")]
    local: Option<PathBuf>,
    /// Lake spec the lake was written with (tables, declared tables).
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Run in Athena instead (database from the spec, or --database).
    #[arg(long)]
    athena: bool,
    /// Athena: Glue database (default: the spec's).
    #[arg(long, requires = "athena")]
    database: Option<String>,
    /// Athena: workgroup (default: primary).
    #[arg(long, requires = "athena")]
    workgroup: Option<String>,
    /// Athena: query result location, s3://… (default: the workgroup's).
    #[arg(long, value_name = "S3_URL", requires = "athena")]
    output_location: Option<String>,
    /// Athena: endpoint URL (e.g. a local moto_server); default AWS_ENDPOINT_URL, else AWS.
    #[arg(long, value_name = "URL", requires = "athena")]
    endpoint_url: Option<String>,
    /// Athena: region (default: AWS_REGION / the profile, else us-east-1).
    #[arg(long, requires = "athena")]
    region: Option<String>,
    /// Athena: give up (and cancel the query) after this many seconds.
    #[arg(long, default_value_t = 300, requires = "athena")]
    timeout_secs: u64,
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
        /// Parameter values, name=value; typed and quoted, never pasted into the SQL.
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        #[command(flatten)]
        engine: EngineArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
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
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

fn parse_param(s: &str) -> Result<(String, String), String> {
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the I/O runtime")
}

/// Opens a local lake (spec given, or the default spec).
pub async fn open_local(dir: &Path, spec: Option<&Path>) -> anyhow::Result<LocalLake> {
    let spec = load_spec(spec)?;
    Ok(LocalLake::open(dir, &spec).await?)
}

/// Runs a `sql` subcommand.
pub fn run(cmd: SqlCommand) -> anyhow::Result<()> {
    match cmd {
        SqlCommand::List => {
            let all = files::all()?;
            println!("{:<30} {:>7}  question", "name", "version");
            for f in &all {
                let kind = if f.kind == Kind::View { " (view)" } else { "" };
                println!("{:<30} {:>7}  {}{kind}", f.name, format!("v{}", f.version), f.question);
            }
            Ok(())
        }
        SqlCommand::Show { name, params } => {
            let f = find(&name)?;
            println!("-- {} v{} ({})", f.name, f.version, f.path);
            println!("-- {}", f.question);
            println!("-- reads: {}", f.reads.join(", "));
            for p in &f.params {
                println!("-- param {} ({:?}, default {}): {}", p.name, p.kind, p.default, p.help);
            }
            println!("{};", f.render(&params)?);
            Ok(())
        }
        SqlCommand::Run { name, params, engine, format } => {
            let f = find(&name)?;
            if f.kind != Kind::Question {
                anyhow::bail!("`{name}` is a view; query it with `ddb-lake sql query 'SELECT * FROM {name} LIMIT 20'`");
            }
            let sql = f.render(&params)?;
            let answer = runtime()?.block_on(async {
                if engine.athena {
                    run_athena(&engine, &sql).await
                } else {
                    let dir = engine.local.clone().unwrap_or_else(|| PathBuf::from("lake"));
                    let lake = open_local(&dir, engine.spec.as_deref()).await?;
                    Ok(lake.query(&sql).await?)
                }
            })?;
            print!("{}", render(&answer, format.into(), f.chart.as_deref()));
            Ok(())
        }
        SqlCommand::Query { sql, local, spec, format } => {
            let answer = runtime()?.block_on(async {
                let lake = open_local(&local, spec.as_deref()).await?;
                anyhow::Ok(lake.query(&sql).await?)
            })?;
            print!("{}", render(&answer, format.into(), None));
            Ok(())
        }
    }
}

async fn run_athena(engine: &EngineArgs, sql: &str) -> anyhow::Result<Answer> {
    use lake_sql::athena::{run_query, AthenaTarget};
    let spec = load_spec(engine.spec.as_deref())?;
    let client =
        aws_sdk_athena::Client::new(&super::aws_config(engine.endpoint_url.as_deref(), engine.region.as_deref()).await);
    let target = AthenaTarget {
        database: engine.database.clone().unwrap_or(spec.database),
        workgroup: engine.workgroup.clone(),
        output_location: engine.output_location.clone(),
        catalog: None,
    };
    let mut on_state = |s: &str| eprintln!("athena: {s}");
    let outcome =
        run_query(&client, &target, sql, &mut on_state, std::time::Duration::from_secs(engine.timeout_secs)).await?;
    eprintln!(
        "athena: query {} scanned {} bytes (about ${:.6} at $5/TB, 10 MB minimum){}",
        outcome.execution_id,
        outcome.bytes_scanned,
        outcome.cost_usd,
        outcome.engine_millis.map(|ms| format!(", {ms} ms in the engine")).unwrap_or_default()
    );
    Ok(Answer { columns: outcome.columns, rows: outcome.rows })
}
