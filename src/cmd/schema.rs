//! `ddb-lake schema`: the lake's tables in the Glue catalog (plan, apply, ddl, export).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use ddb_lake_glue_schema::catalog::{apply, plan};
use ddb_lake_glue_schema::ddl::create_table;
use ddb_lake_glue_schema::definition::catalog_definition;

use super::load_spec;

/// Where the Glue API is.
#[derive(clap::Args, Debug)]
pub struct AwsArgs {
    /// Endpoint URL of the Glue API, e.g. http://127.0.0.1:5000 for a local moto_server
    /// (default: AWS_ENDPOINT_URL, else the AWS endpoint of the region).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// AWS region (default: AWS_REGION / the profile's region, else us-east-1).
    #[arg(long)]
    region: Option<String>,
}

/// `ddb-lake schema …`
#[derive(clap::Subcommand, Debug)]
pub enum SchemaCommand {
    /// Show what `apply` would change in the Glue catalog, without changing it.
    Plan {
        /// Lake spec (TOML); without one, the default lake (changes + attributes).
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Create the database and create or update every table so the catalog matches the spec.
    ///
    /// Idempotent: a second run prints "no changes" and creates no new table version. New
    /// columns at the end of a table are added in place (old objects read them as NULL). A
    /// change that would make existing objects read wrongly (a removed, moved or retyped
    /// column, another location) is refused unless --force is given.
    Apply {
        /// Lake spec (TOML).
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        #[command(flatten)]
        aws: AwsArgs,
        /// Apply breaking changes too.
        #[arg(long)]
        force: bool,
    },
    /// Print the Athena CREATE EXTERNAL TABLE statements equivalent to the Glue tables.
    Ddl {
        /// Lake spec (TOML).
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
    },
    /// Write the database and table definitions as JSON (CloudFormation TableInput shape),
    /// for the CDK app: a deployment and `apply` then register the same catalog.
    Export {
        /// Lake spec (TOML).
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        /// Output format (only json).
        #[arg(long, default_value = "json", value_parser = ["json"])]
        format: String,
        /// Where to write, or `-` for stdout.
        #[arg(long, value_name = "FILE|-", default_value = "-")]
        out: PathBuf,
    },
}

/// What `schema export` writes: the catalog in CloudFormation's shape, plus the lake facts a
/// deployment needs to place the bucket, the function's permissions and its environment.
#[derive(serde::Serialize)]
struct Export<'a> {
    #[serde(flatten)]
    catalog: &'a ddb_lake_glue_schema::definition::CatalogDefinition,
    #[serde(rename = "Lake")]
    lake: LakeFacts,
}

/// The parts of the spec outside the catalog that the CDK app reads (one source of truth:
/// it never parses the TOML itself).
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct LakeFacts {
    /// `s3://bucket/prefix`, as the spec writes it: table locations start with it.
    location: String,
    bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    prefix: String,
    /// Folder of quarantined records under the prefix.
    quarantine_prefix: String,
    source_table: String,
    partition_key: String,
    sort_key: Option<String>,
    /// Environment variable the function reads the HMAC key from, when a rule hashes.
    redaction_key_env: Option<String>,
}

impl LakeFacts {
    fn of(spec: &ddb_lake_core::spec::LakeSpec) -> LakeFacts {
        LakeFacts {
            location: spec.location.url("").trim_end_matches('/').to_string(),
            bucket: spec.location.bucket.clone(),
            prefix: spec.location.prefix.clone(),
            quarantine_prefix: ddb_lake_writer::s3::default_quarantine_prefix(&spec.location.prefix),
            source_table: spec.source_table.clone(),
            partition_key: spec.partition_key.clone(),
            sort_key: spec.sort_key.clone(),
            redaction_key_env: spec.needs_redaction_key().then(|| spec.redaction_key_env.clone()),
        }
    }
}

async fn glue_client(aws: &AwsArgs) -> aws_sdk_glue::Client {
    aws_sdk_glue::Client::new(&super::aws_config(aws.endpoint_url.as_deref(), aws.region.as_deref()).await)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the I/O runtime")
}

/// Runs a `schema` subcommand.
pub fn run(cmd: SchemaCommand) -> anyhow::Result<()> {
    match cmd {
        SchemaCommand::Plan { spec, aws } => {
            let catalog = catalog_definition(&load_spec(spec.as_deref())?);
            runtime()?.block_on(async {
                let client = glue_client(&aws).await;
                let p = plan(&client, &catalog).await?;
                out!("{}", p.describe())?;
                if !p.breaking().is_empty() {
                    outln!("apply would refuse the breaking changes above unless given --force")?;
                }
                Ok(())
            })
        }
        SchemaCommand::Apply { spec, aws, force } => {
            let catalog = catalog_definition(&load_spec(spec.as_deref())?);
            runtime()?.block_on(async {
                let client = glue_client(&aws).await;
                let p = plan(&client, &catalog).await?;
                out!("{}", p.describe())?;
                if p.is_empty() {
                    return Ok(());
                }
                apply(&client, &p, force).await?;
                outln!("applied: database `{}` matches the spec", p.database)?;
                Ok(())
            })
        }
        SchemaCommand::Ddl { spec } => {
            let catalog = catalog_definition(&load_spec(spec.as_deref())?);
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "CREATE DATABASE IF NOT EXISTS {};\n",
                ddb_lake_glue_schema::ddl::quote_identifier(&catalog.database_name)
            )?;
            for t in &catalog.tables {
                writeln!(out, "{}", create_table(&catalog.database_name, t))?;
            }
            Ok(())
        }
        SchemaCommand::Export { spec, format: _, out } => {
            let spec = load_spec(spec.as_deref())?;
            let catalog = catalog_definition(&spec);
            let json = serde_json::to_string_pretty(&Export { catalog: &catalog, lake: LakeFacts::of(&spec) })? + "\n";
            if out.as_os_str() == "-" {
                std::io::stdout().lock().write_all(json.as_bytes())?;
            } else {
                std::fs::write(&out, json).with_context(|| format!("cannot write {}", out.display()))?;
                outln!("wrote {} table definitions to {}", catalog.tables.len(), out.display())?;
            }
            Ok(())
        }
    }
}
