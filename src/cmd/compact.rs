//! `ddb-lake compact`: fold a lake's closed days into Parquet history and a current-state
//! snapshot at the watermark (docs/compaction.md).

use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use ddb_lake_sql::compaction::{compact_local, default_through, CompactOptions};

use super::{human_bytes, load_spec};

/// How long one compaction statement may run in Athena by default (a batch of 100 days of a
/// large table takes minutes).
const STATEMENT_TIMEOUT_SECS: u64 = 3600;

/// Variable a test sets to stop a run after that many steps, as if it were killed.
const STOP_AFTER_VAR: &str = "DDB_LAKE_COMPACT_STOP_AFTER";

/// `ddb-lake compact`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The lake: a local folder laid out like the S3 prefix (as `normalize`, `backfill` and
    /// `demo` write it), folded by the embedded engine; or s3://BUCKET/PREFIX, folded by
    /// Athena (the statements the deployed compaction state machine runs; the views must
    /// exist: `ddb-lake sql create-views`).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
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
    /// With --lake s3://…: where Athena runs the statements (and where S3 is).
    #[command(flatten)]
    athena: super::sql::AthenaArgs,
}

fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| format!("`{text}` is not a day written YYYY-MM-DD"))
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = load_spec(args.spec.as_deref())?;
    if let Some(rest) = args.lake.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            anyhow::bail!("--lake {} names no bucket: write s3://BUCKET/PREFIX", args.lake);
        }
        let lake = S3Lake { url: &args.lake, bucket, prefix: prefix.trim_end_matches('/') };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the I/O runtime")?;
        return runtime
            .block_on(compact_s3(&lake, &spec, args.spec.as_deref(), args.through, &args.athena))
            .with_context(|| format!("compacting {} in Athena", args.lake));
    }
    let root = PathBuf::from(&args.lake);
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

/// A lake in S3.
struct S3Lake<'a> {
    url: &'a str,
    bucket: &'a str,
    /// Without a trailing `/`; may be empty.
    prefix: &'a str,
}

/// A run id as the plan makes it: `<YYYY-MM-DD>_<yyyyMMddTHHmmssSSS>Z`.
fn is_run_id(id: &str) -> bool {
    let Some((day, stamp)) = id.split_once('_') else { return false };
    parse_day(day).is_ok()
        && stamp.len() == 19
        && stamp.ends_with('Z')
        && stamp.bytes().enumerate().all(|(i, b)| if i == 8 { b == b'T' } else { i == 18 || b.is_ascii_digit() })
}

/// Compacts the lake in S3 by running the compaction statements in Athena, in the order and
/// with the values the compaction state machine uses (docs/compaction.md, "In AWS").
async fn compact_s3(
    lake: &S3Lake<'_>,
    spec: &ddb_lake_core::spec::LakeSpec,
    spec_path: Option<&std::path::Path>,
    through_arg: Option<NaiveDate>,
    athena_args: &super::sql::AthenaArgs,
) -> anyhow::Result<()> {
    use ddb_lake_sql::compaction_sql::{compaction_sql, render, Step};
    let statements = compaction_sql(spec)?;
    let one = |step: Step| statements.of(step).next().with_context(|| format!("no {step:?} statement"));
    let athena = super::sql::Athena::connect(athena_args, spec_path, STATEMENT_TIMEOUT_SECS).await?;
    let aws = super::aws_config(athena_args.endpoint_url.as_deref(), athena_args.region.as_deref()).await;
    let s3 = super::s3_client(&aws, athena_args.endpoint_url.is_some());
    let run = async |what: &str, sql: &str| -> anyhow::Result<Vec<Vec<Option<String>>>> {
        eprintln!("compact: {what}");
        Ok(athena.run(sql).await.with_context(|| format!("{what}: Athena refused or failed the statement"))?.rows)
    };

    // 1. The run's values, from Athena's clock (as the state machine gets them).
    let plan = run("plan", &one(Step::Plan)?.sql).await?;
    let cell = |i: usize, name: &str| -> anyhow::Result<String> {
        plan.first().and_then(|r| r.get(i).cloned().flatten()).with_context(|| format!("the plan answered no {name}"))
    };
    let (mut through, mut id, cutoff, started, previous) =
        (cell(0, "through")?, cell(1, "compaction_id")?, cell(2, "cutoff")?, cell(3, "started")?, cell(4, "previous")?);
    if let Some(day) = through_arg {
        let stamp = id.split_once('_').map(|(_, s)| s.to_owned()).unwrap_or_default();
        through = day.format("%Y-%m-%d").to_string();
        id = format!("{through}_{stamp}");
    }
    if parse_day(&through).is_err() || !is_run_id(&id) || !id.starts_with(&through) {
        anyhow::bail!("the plan answered through {through:?} and run {id:?}, which are not a day and a run id");
    }
    if previous.as_str() > through.as_str() {
        anyhow::bail!(
            "{} is already compacted through {previous}; a run folds the days up to a later --through, or the same \
             day again to fold late records; nothing was written",
            lake.url
        );
    }
    let value = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let values = vec![
        value("through", &through),
        value("compaction_id", &id),
        value("cutoff", &cutoff),
        value("started", &started),
    ];

    // 2. The days to fold, in batches.
    let batches: Vec<(String, String)> = run("batches", &render(&one(Step::Batches)?.sql, &values)?)
        .await?
        .into_iter()
        .filter_map(|r| Some((r.first()?.clone()?, r.get(1)?.clone()?)))
        .collect();
    if batches.is_empty() {
        outln!("nothing to compact in {} through {through}: no text objects of those days", lake.url)?;
        return Ok(());
    }
    eprintln!("compact: run {id}: {} batches of days through {through}", batches.len());

    // 3. History, a batch at a time; 4. the state, changes first.
    for (first, last) in &batches {
        parse_day(first).and(parse_day(last)).map_err(|e| anyhow::anyhow!("the batches query answered {e}"))?;
        let mut batch = values.clone();
        batch.extend([value("first_day", first), value("last_day", last)]);
        for s in statements.of(Step::History) {
            run(&format!("{} {first}..{last}", s.name), &render(&s.sql, &batch)?).await?;
        }
    }
    for s in statements.of(Step::State) {
        run(&s.name, &render(&s.sql, &values)?).await?;
    }

    // 5. The run's row: from here on it counts.
    let row = run("row", &render(&one(Step::Row)?.sql, &values)?).await?;
    let object =
        row.first().and_then(|r| r.first().cloned().flatten()).context("the row statement answered nothing")?;
    let relative = ddb_lake_core::object_key::ObjectKey::compaction_marker_text(&through, &id);
    let key = if lake.prefix.is_empty() { relative.to_string() } else { format!("{}/{relative}", lake.prefix) };
    s3.put_object().bucket(lake.bucket).key(&key).body(object.clone().into_bytes().into()).send().await.map_err(
        |e| anyhow::anyhow!("cannot write s3://{}/{key}: {}", lake.bucket, aws_sdk_s3::error::DisplayErrorContext(&e)),
    )?;
    let fields: Vec<&str> = object.lines().nth(1).unwrap_or_default().split('\t').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or("?");

    // 6. What the run made redundant.
    let obsolete: Vec<String> = run("obsolete", &render(&one(Step::Obsolete)?.sql, &values)?)
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    let inside = if lake.prefix.is_empty() { String::new() } else { format!("{}/", lake.prefix) };
    if let Some(outside) = obsolete.iter().find(|k| !k.starts_with(&inside)) {
        anyhow::bail!("the obsolete query named {outside}, outside {}; nothing was removed", lake.url);
    }
    for chunk in obsolete.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|k| aws_sdk_s3::types::ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()?;
        let delete = aws_sdk_s3::types::Delete::builder().set_objects(Some(objects)).quiet(true).build()?;
        let out = s3.delete_objects().bucket(lake.bucket).delete(delete).send().await.map_err(|e| {
            anyhow::anyhow!("cannot remove objects of {}: {}", lake.url, aws_sdk_s3::error::DisplayErrorContext(&e))
        })?;
        if let Some(e) = out.errors().first() {
            anyhow::bail!(
                "S3 refused to remove {} of the objects, e.g. {}: {}; they are read as before, and the next run removes them",
                out.errors().len(),
                e.key().unwrap_or_default(),
                e.message().unwrap_or_default()
            );
        }
    }
    outln!("compacted {} through {through} (run {id}, in Athena)", lake.url)?;
    outln!("  folded   {} text objects, {} bytes", field(3), field(4))?;
    outln!("  state    {} items", field(5))?;
    outln!("  removed  {} objects it made redundant", obsolete.len())?;
    Ok(())
}
