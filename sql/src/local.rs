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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondArray, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::prelude::{SessionConfig, SessionContext};
use ddb_lake_core::spec::LakeSpec;
use ddb_lake_glue_schema::definition::TableDefinition;

use crate::files;
use crate::named_queries::named_queries;
use crate::scan::{LakeTable, ReadCounters};

/// A local engine problem.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The lake folder cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An object does not follow the row format.
    #[error("{path} does not follow the row format: {message}")]
    Format {
        /// The object.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The SQL engine refused or failed a statement.
    #[error("{context}: {source}")]
    Sql {
        /// What was being run.
        context: String,
        /// The engine's error.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A SQL file is malformed.
    #[error(transparent)]
    File(#[from] files::SqlFileError),
}

/// A query's answer, as text (NULL is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Option<String>>>,
}

fn arrow_type(glue_type: &str) -> DataType {
    let t = glue_type.to_ascii_lowercase();
    match t.as_str() {
        "bigint" => DataType::Int64,
        "int" => DataType::Int32,
        "double" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "timestamp" => DataType::Timestamp(TimeUnit::Millisecond, None),
        _ => match t.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')).and_then(|r| r.split_once(',')) {
            Some((p, s)) => DataType::Decimal128(p.trim().parse().unwrap_or(38), s.trim().parse().unwrap_or(0)),
            None => DataType::Utf8,
        },
    }
}

/// The Arrow schema of a table: its columns, then `dt`.
pub fn table_schema(def: &TableDefinition) -> SchemaRef {
    let mut fields: Vec<Field> =
        def.storage_descriptor.columns.iter().map(|c| Field::new(&c.name, arrow_type(&c.kind), true)).collect();
    fields.extend(def.partition_keys.iter().map(|c| Field::new(&c.name, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = scale.max(0) as usize;
    if frac.len() > scale {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(frac.bytes()).chain(std::iter::repeat_n(b'0', scale - frac.len())) {
        v = v.checked_mul(10)?.checked_add((b - b'0') as i128)?;
    }
    Some(if neg { -v } else { v })
}

fn parse_timestamp(text: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc().timestamp_millis())
}

/// One column's values → an Arrow array (unparseable values are NULL, as in Athena).
pub(crate) fn column_array(kind: &DataType, values: &[Option<&str>]) -> ArrayRef {
    match kind {
        DataType::Int64 => {
            let mut b = Int64Builder::new();
            values.iter().for_each(|v| b.append_option(v.and_then(|t| t.trim().parse().ok())));
            Arc::new(b.finish())
        }
        DataType::Int32 => {
            let mut b = Int32Builder::new();
            values.iter().for_each(|v| b.append_option(v.and_then(|t| t.trim().parse().ok())));
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::new();
            values.iter().for_each(|v| b.append_option(v.and_then(|t| t.trim().parse().ok())));
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::new();
            values.iter().for_each(|v| {
                b.append_option(v.and_then(|t| match t.to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                }))
            });
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, _) => {
            let mut b = TimestampMillisecondBuilder::new();
            values.iter().for_each(|v| b.append_option(v.and_then(parse_timestamp)));
            Arc::new(b.finish())
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::new();
            values.iter().for_each(|v| b.append_option(v.and_then(|t| parse_decimal(t, *s))));
            Arc::new(b.finish().with_precision_and_scale(*p, *s).unwrap_or_else(|_| Decimal128Builder::new().finish()))
        }
        _ => {
            let mut b = StringBuilder::new();
            values.iter().for_each(|v| b.append_option(*v));
            Arc::new(b.finish())
        }
    }
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
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(options.memory_limit, 1.0)
            .build_arc()
            .map_err(sql_err("starting the engine"))?;
        // Joins hash their smaller side, which the scans' size estimates tell the planner
        // ([`crate::scan`]): for a current view that is current_items (one row per item that
        // exists), not the history of `attributes` or a declared table, which streams past it.
        let config = SessionConfig::new().with_batch_size(options.batch_size.max(1));
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        register_day_of_week(&ctx);
        let mut relations = Vec::new();
        let read = Arc::new(ReadCounters::default());
        let defs = ddb_lake_glue_schema::definition::table_definitions(spec);
        for def in &defs {
            let table = LakeTable::open(root, def, read.clone())?;
            ctx.register_table(def.name.as_str(), Arc::new(table))
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
        let batches = df.collect().await.map_err(sql_err)?;
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut rows = Vec::new();
        let options = FormatOptions::default();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_like_the_serde() {
        assert_eq!(
            parse_decimal("-12345678901234567890123456789012345678", 0),
            Some(-12345678901234567890123456789012345678)
        );
        assert_eq!(parse_decimal("1.50", 2), Some(150));
        assert_eq!(parse_decimal("1.505", 2), None);
        assert_eq!(parse_decimal("abc", 0), None);
        assert_eq!(parse_timestamp("2026-11-02 10:00:00.250"), Some(1_793_613_600_250));
        let a = column_array(&DataType::Int64, &[Some("5"), Some("x"), None]);
        assert_eq!((a.null_count(), a.len()), (2, 3));
    }
}
