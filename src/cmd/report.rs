//! `ddb-lake report`: every canned question's answer as one self-contained HTML page, with a
//! chart per question (sql/src/report.rs), from a local lake or from Athena.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use ddb_lake_sql::files::{self, Kind};
use ddb_lake_sql::report::{html, Meta, Section};

use super::sql::{open_local, parse_param, query_local, run_athena, EngineArgs};

/// `ddb-lake report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    engine: EngineArgs,
    /// Where to write the page.
    #[arg(long, value_name = "FILE", default_value = "report.html")]
    out: PathBuf,
    /// A parameter value, NAME=VALUE, for every question that has that parameter (e.g.
    /// from=2026-11-01); the others keep their defaults.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let questions: Vec<_> = files::all()?.into_iter().filter(|f| f.kind == Kind::Question).collect();
    if let Some((name, _)) =
        args.params.iter().find(|(n, _)| !questions.iter().any(|q| q.params.iter().any(|p| &p.name == n)))
    {
        anyhow::bail!("no question has a parameter `{name}` (see `ddb-lake sql show NAME`)");
    }
    files::check_entity(&super::load_spec(args.engine.spec.as_deref())?, &args.params)?;
    let engine = &args.engine;
    let spec_shown = engine.spec.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "the default spec".into());
    let dir = engine.local.clone().unwrap_or_else(|| PathBuf::from("lake"));
    let source = if engine.athena {
        format!(
            "Athena, database {} (spec {spec_shown})",
            engine.athena_args.database.clone().unwrap_or_else(|| {
                super::load_spec(engine.spec.as_deref()).map(|s| s.database).unwrap_or_default()
            })
        )
    } else {
        format!("the local lake {} (spec {spec_shown}), embedded engine", dir.display())
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the I/O runtime")?;
    let mut sections = Vec::new();
    runtime.block_on(async {
        let lake = if engine.athena {
            None
        } else {
            Some(open_local(&dir, engine.spec.as_deref(), &engine.memory.options()).await?)
        };
        for q in &questions {
            let params: Vec<(String, String)> =
                args.params.iter().filter(|(n, _)| q.params.iter().any(|p| &p.name == n)).cloned().collect();
            eprintln!("report: {}", q.name);
            let answer = async {
                let sql = q.render(&params)?;
                match &lake {
                    Some(lake) => query_local(lake, &sql).await,
                    None => run_athena(engine, &sql).await,
                }
            }
            .await
            .map_err(|e| format!("{e:#}"));
            let shown = q
                .params
                .iter()
                .map(|p| {
                    let v = params.iter().rev().find(|(n, _)| n == &p.name).map(|(_, v)| v.clone());
                    (p.name.clone(), v.unwrap_or_else(|| p.default.clone()))
                })
                .collect();
            sections.push(Section {
                name: &q.name,
                question: &q.question,
                version: q.version,
                params: shown,
                chart: q.chart.as_deref(),
                answer,
            });
        }
        anyhow::Ok(())
    })?;
    let made_at = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let page = html(&Meta { source: &source, made_at: &made_at }, &sections);
    let tmp = args.out.with_extension("html.tmp");
    std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(page.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, &args.out))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let failed: Vec<String> =
        sections.iter().filter_map(|s| s.answer.as_ref().err().map(|e| format!("{}: {e}", s.name))).collect();
    outln!(
        "wrote {}: {} questions, {} answered ({} KB)",
        args.out.display(),
        sections.len(),
        sections.len() - failed.len(),
        page.len().div_ceil(1024)
    )?;
    if !failed.is_empty() {
        anyhow::bail!("{} questions have no answer (the page says why):\n  {}", failed.len(), failed.join("\n  "));
    }
    Ok(())
}
