//! The embedded SQL engine: the local lake folder registered with the very table
//! definitions glue-schema gives Glue, queried with Apache DataFusion.
//!
//! Called by `ddb-lake sql run|query --local DIR` and `ddb-lake demo`. Every object is read
//! the way Athena's LazySimpleSerDe reads it: header row skipped, fields split on unescaped
//! TABs, `\N` is NULL, the escape byte taken literally, line-break symbols left as they are
//! (Athena does not decode them either); a value that does not parse as its column's type
//! is NULL, as in Athena. `dt` comes from the partition folder. The tables stream their
//! objects at each query and read only the days a filter on `dt` can match
//! ([`crate::scan`]). Views from `sql/views` and
//! a `current_<table>` view per declared table are registered before questions run (the
//! same `CREATE OR REPLACE VIEW` statements Athena gets, from [`crate::named_queries`]), and
//! `day_of_week` is provided with Trino's meaning (1 = Monday … 7 = Sunday).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Builder, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::prelude::{SessionConfig, SessionContext};
use ddb_lake_core::spec::LakeSpec;

use crate::named_queries::named_queries;
use crate::scan::{LakeTable, ReadCounters};

pub use crate::error::LocalError;

/// A query's answer, as text (NULL is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Option<String>>>,
}

/// Trino's `day_of_week`: ISO weekday, 1 = Monday … 7 = Sunday.
fn register_day_of_week(ctx: &SessionContext) {
    let f = Arc::new(|args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let ts = arrays[0]
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or_else(|| datafusion::error::DataFusionError::Plan("day_of_week takes a timestamp".into()))?;
        let mut b = Int64Builder::new();
        for v in ts.iter() {
            b.append_option(v.and_then(chrono::DateTime::from_timestamp_millis).map(|t| {
                use chrono::Datelike;
                t.weekday().number_from_monday() as i64
            }));
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    });
    ctx.register_udf(create_udf(
        "day_of_week",
        vec![DataType::Timestamp(TimeUnit::Millisecond, None)],
        DataType::Int64,
        Volatility::Immutable,
        f,
    ));
}

/// How ORDER BY places NULLs when a query does not say: last, ascending or descending, as
/// Trino (Athena engine 3) does (DataFusion's own default, `nulls_max`, puts them first under
/// DESC).
const TRINO_NULL_ORDERING: &str = "nulls_last";

/// How answers print timestamps: as Athena prints a `timestamp(3)`, `2019-09-11 12:13:30.000`
/// (Arrow's default is `2019-09-11T12:13:30`).
const TRINO_TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// Default of [`LocalOptions::memory_limit`]: 256 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

/// How the embedded engine runs a lake's questions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOptions {
    /// Bytes DataFusion's memory pool lends to sorts, aggregations, windows and joins; past
    /// it, sorts and aggregations spill to the system's temporary folder, and what cannot
    /// spill fails with an error naming the limit (`--memory-limit`).
    pub memory_limit: usize,
    /// Rows per record batch read from the objects.
    pub batch_size: usize,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions { memory_limit: DEFAULT_MEMORY_LIMIT, batch_size: 8192 }
    }
}

/// The local lake, registered and ready for SQL.
pub struct LocalLake {
    ctx: SessionContext,
    /// Tables and views registered.
    pub relations: Vec<String>,
    read: Arc<ReadCounters>,
    memory_limit: usize,
}

impl LocalLake {
    /// Registers every table of `spec` found under `root` (a folder laid out like the S3
    /// prefix), then the views, with the default [`LocalOptions`].
    pub async fn open(root: &Path, spec: &LakeSpec) -> Result<LocalLake, LocalError> {
        Self::open_with(root, spec, &LocalOptions::default()).await
    }

    /// [`LocalLake::open`] with these options.
    pub async fn open_with(root: &Path, spec: &LakeSpec, options: &LocalOptions) -> Result<LocalLake, LocalError> {
        if !root.is_dir() {
            return Err(LocalError::Io {
                path: root.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such lake folder (run `ddb-lake demo` or `ddb-lake normalize` first)",
                ),
            });
        }
        let sql_err = |context: &str| {
            let context = context.to_owned();
            move |source| LocalError::Sql { context, source }
        };
        // No cache of folder listings: a Parquet table is listed at each scan, so a statement
        // sees the objects a compaction wrote a moment before (the text tables list once, at
        // open, in [`crate::scan`]).
        //
        // The pool shares the limit fairly among the operators that can spill (each sort or
        // aggregation of each partition gets an even part of what the others cannot give
        // back), where DataFusion's default lends first come, first served: one partition's
        // sort could hold most of it while the other's merge, which cannot spill, failed for
        // lack of it. The process's peak fell too (popular_settings on the 1 GB lake: peak RSS
        // 569-611 MB with the default, 332 MB with this; docs/performance.md).
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .with_memory_pool(Arc::new(TrackConsumersPool::new(
                FairSpillPool::new(options.memory_limit),
                std::num::NonZeroUsize::new(5).expect("5 is not zero"),
            )))
            .build_arc()
            .map_err(sql_err("starting the engine"))?;
        // Joins hash their smaller side, which the scans' size estimates tell the planner
        // ([`crate::scan`]): for a current view that is current_items (one row per item that
        // exists), not the history of `attributes` or a declared table, which streams past it.
        let mut config = SessionConfig::new().with_batch_size(options.batch_size.max(1));
        // Trino's (Athena's) order: NULLs last whether ascending or descending, where
        // DataFusion's default treats NULL as the largest value (first under DESC).
        config.options_mut().sql_parser.default_null_ordering = TRINO_NULL_ORDERING.into();
        // A partial aggregation that finds (almost) as many groups as rows in its first batch
        // hands its rows on unaggregated from then on: DataFusion's probe waits for 100,000
        // rows by default, and a partial step whose fair share of the pool is small emits
        // early before that, which restarts its group count, so the probe never fired:
        // current_attributes' DISTINCT hashed 3.35 M rows twice (docs/performance.md).
        config.options_mut().execution.skip_partial_aggregation_probe_rows_threshold = options.batch_size.max(1);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        register_day_of_week(&ctx);
        let mut relations = Vec::new();
        let read = Arc::new(ReadCounters::default());
        let defs = ddb_lake_glue_schema::definition::table_definitions(spec);
        for def in &defs {
            let table: Arc<dyn datafusion::catalog::TableProvider> = if def.is_parquet() {
                crate::parquet::parquet_table(root, def)?
            } else {
                Arc::new(LakeTable::open(root, def, read.clone())?)
            };
            ctx.register_table(def.name.as_str(), table)
                .map_err(|source| LocalError::Sql { context: format!("registering table {}", def.name), source })?;
            relations.push(def.name.clone());
        }
        let mut lake = LocalLake { ctx, relations, read, memory_limit: options.memory_limit };
        // The very statements Athena gets (`ddb-lake sql create-views`), in the same order.
        for view in named_queries(spec)?.views() {
            lake.create_view(&view.name, &view.sql).await?;
        }
        Ok(lake)
    }

    async fn create_view(&mut self, name: &str, statement: &str) -> Result<(), LocalError> {
        self.ctx
            .sql(statement)
            .await
            .map_err(|source| LocalError::Sql { context: format!("creating view {name}"), source })?;
        self.relations.push(name.to_owned());
        Ok(())
    }

    /// Objects the queries have read since the lake was opened, and their bytes as stored.
    pub fn read(&self) -> (u64, u64) {
        self.read.get()
    }

    /// Runs one statement and streams its record batches (for answers too big to hold).
    pub async fn stream(&self, sql: &str) -> Result<datafusion::execution::SendableRecordBatchStream, LocalError> {
        let err = |source| LocalError::Sql { context: "running the statement".into(), source };
        self.ctx.sql(sql).await.map_err(err)?.execute_stream().await.map_err(err)
    }

    /// Runs one statement and returns its rows as text.
    pub async fn query(&self, sql: &str) -> Result<Answer, LocalError> {
        let limit = self.memory_limit;
        let sql_err = |source: datafusion::error::DataFusionError| {
            let context = match source.find_root() {
                datafusion::error::DataFusionError::ResourcesExhausted(_) => format!(
                    "running the query (it needs more memory than the limit of {} MiB: raise --memory-limit)",
                    limit >> 20
                ),
                _ => "running the query".into(),
            };
            LocalError::Sql { context, source }
        };
        let df = self.ctx.sql(sql).await.map_err(sql_err)?;
        let schema = df.schema().clone();
        let plan = df.create_physical_plan().await.map_err(sql_err)?;
        let batches = datafusion::physical_plan::collect(plan.clone(), self.ctx.task_ctx()).await.map_err(sql_err)?;
        count_parquet_reads(&plan, &self.read);
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut rows = Vec::new();
        let options = FormatOptions::default().with_timestamp_format(Some(TRINO_TIMESTAMP_FORMAT));
        for batch in &batches {
            let formatters: Vec<ArrayFormatter> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<_, _>>()
                .map_err(|e| sql_err(e.into()))?;
            for r in 0..batch.num_rows() {
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .zip(&formatters)
                        .map(|(c, f)| (!c.is_null(r)).then(|| f.value(r).to_string()))
                        .collect(),
                );
            }
        }
        Ok(Answer { columns, rows })
    }
}

/// Adds what the Parquet scans of an executed plan read to `read`: the objects they were
/// given (after pruning by partition) and the bytes they fetched (`bytes_scanned`: only the
/// column chunks and pages a query needs, as Athena bills them).
fn count_parquet_reads(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>, read: &ReadCounters) {
    use datafusion::datasource::physical_plan::FileScanConfig;
    use datafusion::datasource::source::DataSourceExec;
    if let Some(scan) = plan.downcast_ref::<DataSourceExec>() {
        if let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() {
            let objects = config.file_groups.iter().map(|g| g.len() as u64).sum();
            let bytes = plan.metrics().and_then(|m| m.sum_by_name("bytes_scanned")).map_or(0, |v| v.as_usize() as u64);
            read.add_many(objects, bytes);
        }
    }
    for child in plan.children() {
        count_parquet_reads(child, read);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer's single column to `sql` on an empty lake.
    async fn column(sql: &str) -> Vec<Option<String>> {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::open(dir.path(), &LakeSpec::default()).await.unwrap();
        lake.query(sql).await.unwrap().rows.into_iter().map(|mut r| r.remove(0)).collect()
    }

    #[tokio::test]
    async fn nulls_sort_last_both_ways_as_in_trino() {
        let values = "SELECT x FROM (VALUES (1), (NULL), (2)) AS t(x)";
        let (two, one) = (Some("2".to_owned()), Some("1".to_owned()));
        assert_eq!(column(&format!("{values} ORDER BY x DESC")).await, [two.clone(), one.clone(), None]);
        assert_eq!(column(&format!("{values} ORDER BY x")).await, [one.clone(), two.clone(), None]);
        // Said outright, the query still decides.
        assert_eq!(column(&format!("{values} ORDER BY x DESC NULLS FIRST")).await, [None, two, one]);
    }

    #[tokio::test]
    async fn timestamps_print_as_athena_prints_them() {
        let answer = column("SELECT CAST('2019-09-11 12:13:30' AS TIMESTAMP)").await;
        assert_eq!(answer, [Some("2019-09-11 12:13:30.000".to_owned())]);
        let answer = column("SELECT CAST('2019-09-11 12:13:30.25' AS TIMESTAMP)").await;
        assert_eq!(answer, [Some("2019-09-11 12:13:30.250".to_owned())]);
    }
}
