//! A lake table as a DataFusion table that streams its objects.
//!
//! [`LakeTable`] lists a table's objects once (`<table>/dt=<day>/*.gz` under the lake folder)
//! and, for each query, reads only the days its filters on `dt` can match: a filter that
//! names no other column is evaluated against each day of the listing, and the scan reads
//! the objects of the days it holds for (DataFusion applies the filter to the rows again, so
//! pruning only ever removes objects that have no matching row). The objects are read in
//! parallel, one group per target partition (balanced by size), each group on a blocking
//! thread that decodes one object at a time into record batches of the session's batch size,
//! with only the columns the query needs; a bounded channel hands the batches on. Memory is
//! a few batches per partition, whatever the lake's size.
//!
//! Each scan tells the planner how many rows and bytes it will produce, estimated from the
//! objects' stored size and the density of rows measured on the first MiB of the table's
//! first object the first time a query scans it (`Density`); with that the planner hashes a
//! join's smaller side.
//!
//! The rows are decoded by the rules of `docs/row-format.md` that Athena's LazySimpleSerDe
//! applies, only the columns a query reads ([`ddb_lake_core::rowfmt::SerdeCells`]: the other
//! fields are stepped over), each cell parsed from its text straight into its Arrow type by
//! the column parsers of [`crate::columns`]. A row whose cells fail a filter the scan can test
//! on its text ([`crate::prefilter`]: equalities, IN lists and "does not contain" on a text
//! column) is dropped before any of its cells is decoded ([`ddb_lake_core::rowfmt::fields_pass`]:
//! only the fields up to the last one tested are stepped through); the scan tells DataFusion
//! those filters are exact, so it does not apply them again.
//!
//! A filter that another operator fills in while the query runs (a join's dynamic filter: the
//! keys of its build side, such as `current_items` under every current view) reaches the scan
//! too ([`LakeScanExec`]). It is tested on the rows that passed those tests, one buffer of
//! text at a time, with only the columns it reads decoded; a row it leaves out is not decoded
//! further (EXPLAIN ANALYZE counts them: `dynamic_filtered_rows`).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::array::new_null_array;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::compute::kernels::boolean::and;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DataFusionError, Statistics};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::physical_expr::{snapshot_physical_expr, snapshot_physical_expr_opt};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation, PushedDown,
};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, StatisticsArgs};
use ddb_lake_core::rowfmt::{fields_pass, DecodeError, SerdeCells};
use ddb_lake_glue_schema::definition::TableDefinition;
use flate2::read::MultiGzDecoder;

use crate::columns::{column_array, table_schema};
use crate::error::LocalError;
use crate::prefilter::RowTest;

/// The partition column every lake table has.
const DT: &str = "dt";

/// Decoded bytes of a table's first object that its density is measured on: enough rows for
/// an estimate, whatever the object's size.
const DENSITY_SAMPLE: u64 = 1 << 20;

/// Counts the bytes read through it (the gzip bytes a density sample took).
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The scan's metric of the rows its dynamic filters left out (EXPLAIN ANALYZE shows it).
const DYNAMIC_FILTERED_ROWS: &str = "dynamic_filtered_rows";

/// Batches a partition may have decoded ahead of the query.
const BATCHES_AHEAD: usize = 2;

/// What the queries of one engine read: text objects opened and their bytes as stored (gzip),
/// and Parquet objects scanned with the bytes fetched from them.
#[derive(Debug, Default)]
pub struct ReadCounters {
    objects: AtomicU64,
    bytes: AtomicU64,
}

impl ReadCounters {
    /// Objects opened and their stored bytes, since the engine opened.
    pub fn get(&self) -> (u64, u64) {
        (self.objects.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }

    fn add(&self, bytes: u64) {
        self.add_many(1, bytes);
    }

    /// Counts `objects` objects of `bytes` bytes read.
    pub(crate) fn add_many(&self, objects: u64, bytes: u64) {
        self.objects.fetch_add(objects, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// One object of the table.
#[derive(Debug, Clone)]
struct LakeFile {
    dt: String,
    path: PathBuf,
    bytes: u64,
}

/// A table of the local lake, read from its objects at each query.
#[derive(Debug)]
pub struct LakeTable {
    schema: SchemaRef,
    /// Columns stored in the objects (the schema's first ones; `dt` follows).
    stored: usize,
    files: Vec<LakeFile>,
    /// Measured at the first scan (a query that never reads the table never opens one).
    density: OnceLock<Density>,
    read: Arc<ReadCounters>,
}

/// Rows and decoded text bytes per stored (gzip) byte, measured on one object of a table
/// when a query first scans it: what the scan's size estimates are made of.
#[derive(Debug, Clone, Copy, Default)]
struct Density {
    rows: f64,
    text: f64,
}

impl Density {
    /// Measured on the first [`DENSITY_SAMPLE`] of `file`'s rows (not counted in
    /// [`ReadCounters`]: it is read to plan, not to answer): rows and text per gzip byte read
    /// to get them.
    fn of(file: &LakeFile) -> Result<Density, LocalError> {
        let opened = std::fs::File::open(&file.path).map_err(io(&file.path))?;
        let counted = Counted { inner: opened, bytes: 0 };
        let mut reader = BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(counted));
        let (mut lines, mut text, mut whole) = (0u64, 0u64, false);
        while text < DENSITY_SAMPLE {
            let buf = reader.fill_buf().map_err(io(&file.path))?;
            if buf.is_empty() {
                whole = true;
                break;
            }
            lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
            text += buf.len() as u64;
            let n = buf.len();
            reader.consume(n);
        }
        let stored = if whole { file.bytes } else { reader.get_ref().get_ref().bytes }.max(1) as f64;
        // The first line is the header.
        Ok(Density { rows: lines.saturating_sub(1) as f64 / stored, text: text as f64 / stored })
    }

    /// Estimated rows and decoded bytes of `stored` bytes of objects.
    fn statistics(&self, stored: u64, schema: &Schema) -> Statistics {
        let estimate = |per_byte: f64| {
            if stored == 0 {
                Precision::Exact(0)
            } else {
                Precision::Inexact((per_byte * stored as f64).round() as usize)
            }
        };
        Statistics {
            num_rows: estimate(self.rows),
            total_byte_size: estimate(self.text),
            column_statistics: Statistics::unknown_column(schema),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LocalError + '_ {
    move |source| LocalError::Io { path: path.to_path_buf(), source }
}

/// The entries of a folder, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>, LocalError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io(dir))?.collect::<Result<_, _>>().map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

impl LakeTable {
    /// Lists the objects of table `def` under `root` (none when its folder does not exist).
    pub fn open(root: &Path, def: &TableDefinition, read: Arc<ReadCounters>) -> Result<LakeTable, LocalError> {
        let schema = table_schema(def);
        let stored = def.storage_descriptor.columns.len();
        let dir = root.join(&def.name);
        let mut files = Vec::new();
        if dir.exists() {
            for part in sorted_entries(&dir)? {
                let name = part.file_name().to_string_lossy().into_owned();
                let Some(dt) = name.strip_prefix("dt=") else { continue };
                for o in sorted_entries(&part.path())? {
                    if o.file_name().to_string_lossy().ends_with(".gz") {
                        let bytes = o.metadata().map_err(io(&o.path()))?.len();
                        files.push(LakeFile { dt: dt.to_owned(), path: o.path(), bytes });
                    }
                }
            }
        }
        Ok(LakeTable { schema, stored, files, density: OnceLock::new(), read })
    }

    /// The table's [`Density`], measured on its first object (the rows of a table are alike).
    fn density(&self) -> datafusion::error::Result<Density> {
        if let Some(d) = self.density.get() {
            return Ok(*d);
        }
        let d = self
            .files
            .first()
            .map(Density::of)
            .transpose()
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .unwrap_or_default();
        Ok(*self.density.get_or_init(|| d))
    }

    /// The days whose objects can hold rows that pass every filter on `dt` alone; `None`
    /// when no filter is on `dt` alone.
    fn days_to_read(
        &self,
        state: &dyn Session,
        filters: &[Expr],
    ) -> datafusion::error::Result<Option<BTreeSet<String>>> {
        let on_dt: Vec<&Expr> = filters.iter().filter(|f| is_dt_filter(f)).collect();
        if on_dt.is_empty() {
            return Ok(None);
        }
        let days: Vec<&str> = self.files.iter().map(|f| f.dt.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
        let schema = Arc::new(Schema::new(vec![Field::new(DT, DataType::Utf8, true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(days.clone())) as ArrayRef])?;
        let df_schema = DFSchema::try_from(schema)?;
        let mut keep = vec![true; days.len()];
        for filter in on_dt {
            let unqualified = filter
                .clone()
                .transform_up(|e| match e {
                    Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))),
                    other => Ok(Transformed::no(other)),
                })?
                .data;
            let expr = state.create_physical_expr(unqualified, &df_schema)?;
            let result = expr.evaluate(&batch)?.into_array(days.len())?;
            let result = result
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| DataFusionError::Plan(format!("the filter {filter} on dt is not a predicate")))?;
            for (i, k) in keep.iter_mut().enumerate() {
                // NULL: no row passes.
                *k &= result.is_valid(i) && result.value(i);
            }
        }
        Ok(Some(days.iter().zip(keep).filter(|(_, k)| *k).map(|(d, _)| (*d).to_owned()).collect()))
    }
}

/// Whether a filter names `dt` and no other column.
fn is_dt_filter(filter: &Expr) -> bool {
    let columns = filter.column_refs();
    !columns.is_empty() && columns.iter().all(|c| c.name == DT)
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if RowTest::from_filter(f, &self.schema, self.stored).is_some() {
                    // Every row the scan hands on passed the test (crate::prefilter), whether
                    // the query reads its column or not: DataFusion need not apply it again.
                    TableProviderFilterPushDown::Exact
                } else if is_dt_filter(f) {
                    // Inexact: the scan only leaves out days; DataFusion applies the filter to
                    // the rows too.
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let days = self.days_to_read(state, filters)?;
        let mut files: Vec<LakeFile> =
            self.files.iter().filter(|f| days.as_ref().is_none_or(|d| d.contains(&f.dt))).cloned().collect();
        let columns: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let schema = Arc::new(self.schema.project(&columns)?);
        // Largest first onto the group with the fewest bytes so far.
        let groups = state.config().target_partitions().max(1).min(files.len().max(1));
        files.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
        let mut parts: Vec<(u64, Vec<LakeFile>)> = vec![(0, Vec::new()); groups];
        for f in files {
            let smallest = parts.iter_mut().min_by_key(|(bytes, _)| *bytes).expect("at least one group");
            smallest.0 += f.bytes;
            smallest.1.push(f);
        }
        let density = self.density()?;
        let statistics = LakeStatistics {
            total: Arc::new(density.statistics(parts.iter().map(|(bytes, _)| bytes).sum(), &schema)),
            partitions: parts.iter().map(|(bytes, _)| Arc::new(density.statistics(*bytes, &schema))).collect(),
        };
        let objects = parts.iter().map(|(_, files)| files.len()).sum();
        let tests: Arc<[RowTest]> =
            filters.iter().filter_map(|f| RowTest::from_filter(f, &self.schema, self.stored)).collect();
        let metrics = ExecutionPlanMetricsSet::new();
        let partitions: Vec<ObjectsPartition> = parts
            .into_iter()
            .enumerate()
            .map(|(partition, (_, mut files))| {
                files.sort_by(|a, b| a.path.cmp(&b.path));
                ObjectsPartition {
                    partition,
                    metrics: metrics.clone(),
                    schema: schema.clone(),
                    columns: columns.clone(),
                    stored: self.stored,
                    files,
                    read: self.read.clone(),
                    tests: tests.clone(),
                    runtime: Arc::new([]),
                }
            })
            .collect();
        Ok(Arc::new(LakeScanExec::new(schema, partitions, limit, objects, Arc::new(statistics), metrics)?))
    }
}

/// Estimated size of a scan, overall and per partition.
#[derive(Debug)]
struct LakeStatistics {
    total: Arc<Statistics>,
    partitions: Vec<Arc<Statistics>>,
}

/// The scan of a lake table: DataFusion's streaming table over the objects to read, with
/// estimates of its rows and bytes (from the table's [`Density`]). The estimates let the
/// planner build a join's hash table on its smaller side (`current_items`, not all of
/// `attributes`) and hold the one row of `latest_snapshot` rather than all of `changes`
/// where it joins without keys; without them it keeps the join's first side, whatever its size.
///
/// A filter that a join or a TopK fills in while the query runs (a dynamic filter: the keys of
/// a join's build side, once it is built) is handed to the scan, which tests it on the rows
/// that passed the [`RowTest`]s, decoding only the columns it reads, and decodes the rest of
/// a row only when it passes. The scan says it does not apply such a filter (the join still
/// matches every row it gets): it only leaves out rows that could not match.
#[derive(Debug)]
struct LakeScanExec {
    inner: Arc<StreamingTableExec>,
    /// What `inner` reads, kept to build it again with the filters pushed down at run time.
    partitions: Vec<ObjectsPartition>,
    limit: Option<usize>,
    objects: usize,
    statistics: Arc<LakeStatistics>,
    /// Rows the dynamic filters left out (`dynamic_filtered_rows`, per partition).
    metrics: ExecutionPlanMetricsSet,
}

impl LakeScanExec {
    fn new(
        schema: SchemaRef,
        partitions: Vec<ObjectsPartition>,
        limit: Option<usize>,
        objects: usize,
        statistics: Arc<LakeStatistics>,
        metrics: ExecutionPlanMetricsSet,
    ) -> datafusion::error::Result<Self> {
        let streams = partitions.iter().map(|p| Arc::new(p.clone()) as Arc<dyn PartitionStream>).collect();
        let inner = StreamingTableExec::try_new(schema, streams, None, Vec::new(), false, limit)?;
        Ok(LakeScanExec { inner: Arc::new(inner), partitions, limit, objects, statistics, metrics })
    }

    /// The same scan with these filters tested at run time (and metrics of its own).
    fn with_runtime(&self, runtime: Arc<[Arc<dyn PhysicalExpr>]>) -> datafusion::error::Result<Self> {
        let metrics = ExecutionPlanMetricsSet::new();
        let partitions = self
            .partitions
            .iter()
            .map(|p| ObjectsPartition { runtime: runtime.clone(), metrics: metrics.clone(), ..p.clone() })
            .collect();
        LakeScanExec::new(self.inner.schema(), partitions, self.limit, self.objects, self.statistics.clone(), metrics)
    }

    /// The filters tested at run time (the same in every partition).
    fn runtime(&self) -> &[Arc<dyn PhysicalExpr>] {
        self.partitions.first().map_or(&[], |p| &p.runtime)
    }
}

impl DisplayAs for LakeScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "LakeScanExec: objects={}, ", self.objects)?;
        let runtime = self.runtime();
        if !runtime.is_empty() {
            let shown: Vec<String> = runtime.iter().map(|r| r.to_string()).collect();
            write!(f, "runtime_filters=[{}], ", shown.join(", "))?;
        }
        self.inner.fmt_as(t, f)
    }
}

impl ExecutionPlan for LakeScanExec {
    fn name(&self) -> &str {
        "LakeScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::error::Result<TreeNodeRecursion>,
    ) -> datafusion::error::Result<TreeNodeRecursion> {
        // The runtime filters too: a join fills in its dynamic filter only when a node of its
        // probe side holds it.
        if self.inner.apply_expressions(f)? == TreeNodeRecursion::Stop {
            return Ok(TreeNodeRecursion::Stop);
        }
        for filter in self.runtime() {
            if f(filter)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn reset_state(self: Arc<Self>) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        // A join that is reset (a recursive query's next round) drops its dynamic filter and
        // fills in no other: a scan that kept it would test the keys of the join's last round.
        if self.runtime().is_empty() {
            return Ok(self);
        }
        Ok(Arc::new(self.with_runtime(Arc::new([]))?))
    }

    fn handle_child_pushdown_result(
        &self,
        phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> datafusion::error::Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        let offered: Vec<Arc<dyn PhysicalExpr>> =
            child_pushdown_result.parent_filters.into_iter().map(|f| f.filter).collect();
        // Never "pushed down": the node above still applies each filter. The scan takes the
        // dynamic ones (filled in while the query runs) to leave out rows early; a static
        // filter is one its node applies to the rows anyway.
        let no = vec![PushedDown::No; offered.len()];
        let dynamic: Vec<Arc<dyn PhysicalExpr>> = offered
            .into_iter()
            .filter(|f| phase == FilterPushdownPhase::Post && is_dynamic(f))
            .filter(|f| !self.runtime().iter().any(|held| held.as_ref() == f.as_ref()))
            .collect();
        if dynamic.is_empty() {
            return Ok(FilterPushdownPropagation::with_parent_pushdown_result(no));
        }
        let runtime: Arc<[Arc<dyn PhysicalExpr>]> = self.runtime().iter().cloned().chain(dynamic).collect();
        let updated = self.with_runtime(runtime)?;
        Ok(FilterPushdownPropagation::with_parent_pushdown_result(no).with_updated_node(Arc::new(updated)))
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal("a lake table scan has no children".into()))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        self.inner.execute(partition, context)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> datafusion::error::Result<Arc<Statistics>> {
        Ok(match args.partition() {
            None => self.statistics.total.clone(),
            Some(p) => self.statistics.partitions.get(p).cloned().unwrap_or_else(|| self.statistics.total.clone()),
        })
    }
}

/// Some objects of a table, read in turn.
#[derive(Debug, Clone)]
struct ObjectsPartition {
    /// Its place among the scan's partitions (for its metrics).
    partition: usize,
    metrics: ExecutionPlanMetricsSet,
    /// The projected schema.
    schema: SchemaRef,
    /// The table's columns to produce, by position (`stored` is `dt`).
    columns: Vec<usize>,
    stored: usize,
    files: Vec<LakeFile>,
    read: Arc<ReadCounters>,
    /// What a row's cells must pass to be kept ([`crate::prefilter`]).
    tests: Arc<[RowTest]>,
    /// Dynamic filters on the projected columns, tested on the rows that pass `tests`.
    runtime: Arc<[Arc<dyn PhysicalExpr>]>,
}

/// Whether `filter` holds a dynamic filter (one its producer fills in while the query runs).
fn is_dynamic(filter: &Arc<dyn PhysicalExpr>) -> bool {
    snapshot_physical_expr_opt(filter.clone()).is_ok_and(|s| s.transformed)
}

impl PartitionStream for ObjectsPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batch_size = ctx.session_config().batch_size().max(1);
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema.clone(), BATCHES_AHEAD);
        let tx = builder.tx();
        let left_out = MetricBuilder::new(&self.metrics).counter(DYNAMIC_FILTERED_ROWS, self.partition);
        let (schema, columns, stored, files, read, tests, runtime) = (
            self.schema.clone(),
            self.columns.clone(),
            self.stored,
            self.files.clone(),
            self.read.clone(),
            self.tests.clone(),
            self.runtime.clone(),
        );
        builder.spawn_blocking(move || {
            for file in &files {
                let mut send = |batch: RecordBatch| tx.blocking_send(Ok(batch)).is_ok();
                let scan = ObjectScan {
                    schema: &schema,
                    columns: &columns,
                    stored,
                    batch_size,
                    tests: &tests,
                    runtime: &runtime,
                    left_out: &left_out,
                };
                if !read_object(file, &scan, &read, &mut send)? {
                    // The query needs no more rows (a LIMIT, or it was cancelled).
                    break;
                }
            }
            Ok(())
        });
        builder.build()
    }
}

/// What a scan makes of each object.
struct ObjectScan<'a> {
    /// The projected schema.
    schema: &'a SchemaRef,
    /// The table's columns to produce, by position (`stored` is `dt`).
    columns: &'a [usize],
    stored: usize,
    batch_size: usize,
    /// What a row's cells must pass to be kept.
    tests: &'a [RowTest],
    /// Dynamic filters on the projected columns (see [`LakeScanExec`]).
    runtime: &'a [Arc<dyn PhysicalExpr>],
    /// Counts the rows they leave out.
    left_out: &'a Count,
}

/// The dynamic filters of a scan, tested on the rows of one buffer of text at a time: only
/// the columns they read are decoded for that, into a batch of the projected schema whose
/// other columns are NULL.
struct RuntimeTest<'a> {
    filters: &'a [Arc<dyn PhysicalExpr>],
    /// The columns the filters read: positions in the projected schema.
    read: Vec<usize>,
    cells: SerdeCells,
}

impl<'a> RuntimeTest<'a> {
    fn new(filters: &'a [Arc<dyn PhysicalExpr>], scan: &ObjectScan) -> Option<Self> {
        if filters.is_empty() {
            return None;
        }
        let read: BTreeSet<usize> = filters.iter().flat_map(collect_columns).map(|c| c.index()).collect();
        let read: Vec<usize> = read.into_iter().collect();
        let stored: Vec<usize> = read.iter().map(|&i| scan.columns[i]).filter(|&c| c < scan.stored).collect();
        Some(RuntimeTest { filters, read, cells: SerdeCells::new(&stored) })
    }

    /// The filters as they are now, `None` while every one still passes every row (a join's
    /// filter before its build side is read).
    fn current(&self) -> datafusion::error::Result<Option<Vec<Arc<dyn PhysicalExpr>>>> {
        let mut now = Vec::with_capacity(self.filters.len());
        for f in self.filters {
            let snapshot = snapshot_physical_expr(f.clone())?;
            let passes_all = snapshot
                .downcast_ref::<Literal>()
                .is_some_and(|l| l.value() == &datafusion::common::ScalarValue::Boolean(Some(true)));
            if !passes_all {
                now.push(snapshot);
            }
        }
        Ok((!now.is_empty()).then_some(now))
    }

    /// Which of the lines of `text` at `lines` (start and end) pass every filter of `now`.
    fn passing(
        &mut self,
        now: &[Arc<dyn PhysicalExpr>],
        text: &[u8],
        lines: &[(usize, usize)],
        scan: &ObjectScan,
        file: &LakeFile,
    ) -> datafusion::error::Result<BooleanArray> {
        self.cells.clear();
        for &(start, end) in lines {
            self.cells.push_line(&text[start..end]).map_err(|e| undecodable(file, e))?;
        }
        let rows = lines.len();
        let read = &self.read;
        let batch =
            batch(&self.cells, scan.schema, scan.columns, scan.stored, file, |i| read.binary_search(&i).is_ok())?;
        let mut passing: Option<BooleanArray> = None;
        for f in now {
            let result = f.evaluate(&batch)?.into_array(rows)?;
            let result = result
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| DataFusionError::Internal(format!("the dynamic filter {f} is not a predicate")))?
                .clone();
            passing = Some(match passing {
                None => result,
                Some(p) => and(&p, &result)?,
            });
        }
        Ok(passing.unwrap_or_else(|| BooleanArray::from(vec![true; rows])))
    }
}

/// Decodes one object into batches of `batch_size` rows handed to `send`; `false` when
/// `send` wants no more.
fn read_object(
    file: &LakeFile,
    scan: &ObjectScan,
    read: &ReadCounters,
    send: &mut dyn FnMut(RecordBatch) -> bool,
) -> datafusion::error::Result<bool> {
    let ObjectScan { schema, columns, stored, batch_size, tests, runtime, left_out } = *scan;
    let failed = |e: std::io::Error| DataFusionError::External(Box::new(io(&file.path)(e)));
    let opened = std::fs::File::open(&file.path).map_err(failed)?;
    read.add(file.bytes);
    let mut reader = BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(opened));
    // Only the stored columns the query reads are decoded; `dt` comes from the folder.
    let kept: Vec<usize> = columns.iter().copied().filter(|&c| c < stored).collect();
    let mut cells = SerdeCells::new(&kept);
    // The columns the tests are on, in order, each with its tests (whether the query reads
    // the column or not).
    let mut tested: Vec<(usize, Vec<&RowTest>)> = Vec::new();
    for test in tests {
        match tested.iter_mut().find(|(column, _)| *column == test.column) {
            Some((_, same)) => same.push(test),
            None => tested.push((test.column, vec![test])),
        }
    }
    tested.sort_by_key(|(column, _)| *column);
    let tested_fields: Vec<usize> = tested.iter().map(|(column, _)| *column).collect();
    let mut scratch = Vec::new();
    let mut header = true;
    // Whether a line (without its LF) holds a row that passes the tests.
    let mut wanted = |line: &[u8]| -> datafusion::error::Result<bool> {
        // skip.header.line.count = 1; empty lines hold no row.
        if std::mem::take(&mut header) || line.is_empty() {
            return Ok(false);
        }
        // A row the tests drop is not decoded further.
        let passes = |place: usize, cell: Option<&[u8]>| tested[place].1.iter().all(|t| t.passes(cell));
        Ok(tested.is_empty()
            || fields_pass(line, &tested_fields, &mut scratch, passes).map_err(|e| undecodable(file, e))?)
    };
    // One wanted line into `cells`, a batch sent when full; `false` when `send` wants no more.
    let mut keep = |line: &[u8]| -> datafusion::error::Result<bool> {
        cells.push_line(line).map_err(|e| undecodable(file, e))?;
        if cells.rows() == batch_size {
            if !send(batch(&cells, schema, columns, stored, file, |_| true)?) {
                return Ok(false);
            }
            cells.clear();
        }
        Ok(true)
    };
    let mut runtime = RuntimeTest::new(runtime, scan);
    // Where the wanted lines of one buffer lie, while dynamic filters are to be tested on them.
    let mut held: Vec<(usize, usize)> = Vec::new();
    // A line is decoded where the gunzipped text lies in the reader's buffer; only one that
    // runs past the buffer's end is gathered in `partial` first (and kept untested by the
    // dynamic filters: they only leave out what the join would).
    let mut partial = Vec::new();
    loop {
        let text = reader.fill_buf().map_err(failed)?;
        if text.is_empty() {
            break;
        }
        let now = match &runtime {
            Some(r) => r.current()?,
            None => None,
        };
        held.clear();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', text) {
            if !partial.is_empty() {
                partial.extend_from_slice(&text[start..end]);
                if wanted(&partial)? && !keep(&partial)? {
                    return Ok(false);
                }
                partial.clear();
            } else if wanted(&text[start..end])? {
                if now.is_some() {
                    held.push((start, end));
                } else if !keep(&text[start..end])? {
                    // The query needs no more rows.
                    return Ok(false);
                }
            }
            start = end + 1;
        }
        if let (Some(now), Some(r)) = (&now, &mut runtime) {
            if !held.is_empty() {
                let passing = r.passing(now, text, &held, scan, file)?;
                for (i, &(a, b)) in held.iter().enumerate() {
                    if !(passing.is_valid(i) && passing.value(i)) {
                        left_out.add(1);
                    } else if !keep(&text[a..b])? {
                        return Ok(false);
                    }
                }
            }
        }
        partial.extend_from_slice(&text[start..]);
        let used = text.len();
        reader.consume(used);
    }
    // The last line, when the text does not end with LF.
    if !partial.is_empty() && wanted(&partial)? && !keep(&partial)? {
        return Ok(false);
    }
    if cells.rows() > 0 && !send(batch(&cells, schema, columns, stored, file, |_| true)?) {
        return Ok(false);
    }
    Ok(true)
}

/// The error of an object whose text breaks the row format.
fn undecodable(file: &LakeFile, e: DecodeError) -> DataFusionError {
    DataFusionError::External(Box::new(LocalError::Format { path: file.path.clone(), message: e.to_string() }))
}

/// The projected columns of `cells` (rows of one day) as a batch: stored columns from their
/// decoded text, straight into their Arrow types; `dt` from the folder; a column for which
/// `decoded` is false NULL in every row (`cells` keeps only the others).
fn batch(
    cells: &SerdeCells,
    schema: &SchemaRef,
    columns: &[usize],
    stored: usize,
    file: &LakeFile,
    decoded: impl Fn(usize) -> bool,
) -> datafusion::error::Result<RecordBatch> {
    let rows = cells.rows();
    // The stored columns come in the order `cells` keeps them.
    let mut slot = 0;
    let arrays = columns
        .iter()
        .zip(schema.fields())
        .enumerate()
        .map(|(i, (&c, field))| {
            if !decoded(i) {
                return Ok(new_null_array(field.data_type(), rows));
            }
            if c >= stored {
                return Ok(Arc::new(StringArray::from(vec![file.dt.as_str(); rows])) as ArrayRef);
            }
            let (text, cells) = cells.column_bytes(slot);
            slot += 1;
            column_array(field.data_type(), text, cells).ok_or_else(|| undecodable(file, DecodeError::NotUtf8(c)))
        })
        .collect::<datafusion::error::Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows)),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A gzip object of a header and `rows` rows of about 60 bytes, then `tail` appended.
    fn object(dir: &Path, rows: usize, tail: &[u8]) -> (LakeFile, u64) {
        let mut plain = b"event_name\tpath\tvalue\n".to_vec();
        for n in 0..rows {
            let line = format!("MODIFY\tfieldMappings[{}].fieldId\tcustomfield_{:08}\n", n % 97, n * 7919 % 1_000_003);
            plain.extend_from_slice(line.as_bytes());
        }
        let text = plain.len() as u64;
        let mut body = gzip_bytes(&plain);
        body.extend_from_slice(tail);
        let path = dir.join(format!("object-{rows}.tsv.gz"));
        std::fs::write(&path, &body).unwrap();
        (LakeFile { dt: "2026-11-01".into(), path, bytes: body.len() as u64 }, text)
    }

    /// A row's event_name and value.
    type KeptRow = (Option<String>, Option<String>);

    /// The rows `path` holds, read as the scan reads them (the columns event_name and value
    /// kept, path stepped over), or the error that stopped it.
    fn read_kept(path: &Path) -> Result<Vec<KeptRow>, String> {
        use datafusion::arrow::array::AsArray;
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_name", DataType::Utf8, true),
            Field::new("value", DataType::Utf8, true),
        ]));
        let bytes = std::fs::metadata(path).unwrap().len();
        let file = LakeFile { dt: "2026-11-01".into(), path: path.to_path_buf(), bytes };
        let mut rows = Vec::new();
        let mut send = |b: RecordBatch| {
            let (names, values) = (b.column(0).as_string::<i32>(), b.column(1).as_string::<i32>());
            for r in 0..b.num_rows() {
                let cell = |a: &StringArray| (!a.is_null(r)).then(|| a.value(r).to_owned());
                rows.push((cell(names), cell(values)));
            }
            true
        };
        let left_out = Count::new();
        let scan = ObjectScan {
            schema: &schema,
            columns: &[0, 2],
            stored: 3,
            batch_size: 2,
            tests: &[],
            runtime: &[],
            left_out: &left_out,
        };
        read_object(&file, &scan, &ReadCounters::default(), &mut send).map_err(|e| e.to_string())?;
        Ok(rows)
    }

    /// The rows `file` (event_name, path, value) holds as (path, value), read as the scan reads
    /// them with these row tests and dynamic filters, and how many the filters left out.
    fn read_path_value(
        file: &LakeFile,
        tests: &[RowTest],
        runtime: &[Arc<dyn PhysicalExpr>],
    ) -> (Vec<(String, String)>, usize) {
        use datafusion::arrow::array::AsArray;
        let schema = Arc::new(Schema::new(vec![
            Field::new("path", DataType::Utf8, true),
            Field::new("value", DataType::Utf8, true),
        ]));
        let left_out = Count::new();
        let mut rows = Vec::new();
        let mut send = |b: RecordBatch| {
            let (paths, values) = (b.column(0).as_string::<i32>(), b.column(1).as_string::<i32>());
            for r in 0..b.num_rows() {
                rows.push((paths.value(r).to_owned(), values.value(r).to_owned()));
            }
            true
        };
        let scan = ObjectScan {
            schema: &schema,
            columns: &[1, 2],
            stored: 3,
            batch_size: 2,
            tests,
            runtime,
            left_out: &left_out,
        };
        assert!(read_object(file, &scan, &ReadCounters::default(), &mut send).unwrap());
        (rows, left_out.value())
    }

    fn gzip_bytes(plain: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(plain).unwrap();
        gz.finish().unwrap()
    }

    /// `plain` gzip'd into the file `name` of `dir`.
    fn gzip(dir: &Path, name: &str, plain: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, gzip_bytes(plain)).unwrap();
        path
    }

    #[test]
    fn kept_text_is_checked_and_the_rest_stepped_over() {
        let dir = tempfile::tempdir().unwrap();
        // Four rows in batches of two: escapes, NULL, empty, unicode, a short row; the
        // column not kept holds bytes that are not UTF-8.
        let body = b"event_name\tpath\tvalue\nMODIFY\tp\xff\ta\\\tb\xc3\xa9\nREMOVE\tq\t\\N\nINSERT\tr\t\nX\n";
        let good = gzip(dir.path(), "good.gz", body);
        let got = read_kept(&good).unwrap();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            got,
            vec![(s("MODIFY"), s("a\tb\u{e9}")), (s("REMOVE"), None), (s("INSERT"), s("")), (s("X"), None)]
        );
        // A kept cell that is not UTF-8 stops the scan, naming the object and the field.
        let bad = gzip(dir.path(), "bad.gz", b"event_name\tpath\tvalue\nMODIFY\tp\tok\nMODIFY\tp\tv\xff\n");
        let err = read_kept(&bad).unwrap_err();
        assert!(err.contains("bad.gz") && err.contains("field 2 is not valid UTF-8"), "{err}");
    }

    #[test]
    fn rows_that_fail_a_pushed_filter_are_dropped_in_the_scan() {
        use crate::prefilter::{CellTest, RowTest};
        let dir = tempfile::tempdir().unwrap();
        // path without "[", value "a" or "b<TAB>c" (escaped in the object) and event_name
        // MODIFY or INSERT (a column the query does not read: tested all the same); a NULL
        // path fails.
        let body = b"event_name\tpath\tvalue\nMODIFY\tx[0]\ta\nMODIFY\tx\ta\nREMOVE\tx\tb\\\tc\nMODIFY\t\\N\ta\n\
                     MODIFY\ty\tz\nINSERT\tw\tb\\\tc\nMODIFY\tv\tb\tc\n";
        let path = gzip(dir.path(), "filtered.tsv.gz", body);
        let tests = [
            RowTest { column: 1, test: CellTest::Lacks(b"[".to_vec()) },
            RowTest { column: 2, test: CellTest::OneOf(vec![b"a".to_vec(), b"b\tc".to_vec()]) },
            RowTest { column: 0, test: CellTest::OneOf(vec![b"MODIFY".to_vec(), b"INSERT".to_vec()]) },
        ];
        let bytes = std::fs::metadata(&path).unwrap().len();
        let file = LakeFile { dt: "2026-11-01".into(), path, bytes };
        let row = |p: &str, v: &str| (p.to_owned(), v.to_owned());
        // The last line has an unescaped TAB: its value is "b" (a fourth field follows).
        assert_eq!(read_path_value(&file, &tests, &[]), (vec![row("x", "a"), row("w", "b\tc")], 0));
    }

    #[test]
    fn rows_a_dynamic_filter_leaves_out_are_not_handed_on() {
        use crate::prefilter::CellTest;
        use datafusion::logical_expr::Operator;
        use datafusion::physical_expr::expressions::{lit, BinaryExpr, Column, DynamicFilterPhysicalExpr};
        let dir = tempfile::tempdir().unwrap();
        let values = ["a", "b", "a", "c", "a\tb", "b"];
        let mut body = b"event_name\tpath\tvalue\n".to_vec();
        for (n, v) in values.iter().enumerate() {
            body.extend_from_slice(format!("MODIFY\tp{n}\t{}\n", v.replace('\t', "\\\t")).as_bytes());
        }
        let path = gzip(dir.path(), "dynamic.tsv.gz", &body);
        let bytes = std::fs::metadata(&path).unwrap().len();
        let file = LakeFile { dt: "2026-11-01".into(), path, bytes };
        // As a join hands it on: true for every row until its build side is read.
        let value: Arc<dyn PhysicalExpr> = Arc::new(Column::new("value", 1));
        let dynamic = Arc::new(DynamicFilterPhysicalExpr::new(vec![value.clone()], lit(true)));
        let runtime: Vec<Arc<dyn PhysicalExpr>> = vec![dynamic.clone()];
        let every: Vec<(String, String)> =
            values.iter().enumerate().map(|(n, v)| (format!("p{n}"), (*v).to_owned())).collect();
        assert_eq!(read_path_value(&file, &[], &runtime), (every.clone(), 0));
        // Filled in: value = 'a' OR value = 'a<TAB>b' (the escaped cell decoded first).
        let is =
            |text: &str| -> Arc<dyn PhysicalExpr> { Arc::new(BinaryExpr::new(value.clone(), Operator::Eq, lit(text))) };
        dynamic.update(Arc::new(BinaryExpr::new(is("a"), Operator::Or, is("a\tb")))).unwrap();
        let kept: Vec<(String, String)> = every.iter().filter(|(_, v)| v == "a" || v == "a\tb").cloned().collect();
        assert_eq!(read_path_value(&file, &[], &runtime), (kept.clone(), every.len() - kept.len()));
        // A row the row tests drop is not tested again, nor counted.
        let tests = [RowTest { column: 1, test: CellTest::OneOf(vec![b"p0".to_vec(), b"p1".to_vec()]) }];
        assert_eq!(read_path_value(&file, &tests, &runtime), (vec![kept[0].clone()], 1));
    }

    #[test]
    fn a_reset_scan_forgets_its_dynamic_filters() {
        use datafusion::physical_expr::expressions::{lit, Column, DynamicFilterPhysicalExpr};
        let schema = Arc::new(Schema::new(vec![Field::new("value", DataType::Utf8, true)]));
        let partition = ObjectsPartition {
            partition: 0,
            metrics: ExecutionPlanMetricsSet::new(),
            schema: schema.clone(),
            columns: vec![0],
            stored: 1,
            files: Vec::new(),
            read: Arc::new(ReadCounters::default()),
            tests: Arc::new([]),
            runtime: Arc::new([]),
        };
        let statistics =
            Arc::new(LakeStatistics { total: Arc::new(Statistics::new_unknown(&schema)), partitions: Vec::new() });
        let scan =
            LakeScanExec::new(schema, vec![partition], None, 0, statistics, ExecutionPlanMetricsSet::new()).unwrap();
        let value: Arc<dyn PhysicalExpr> = Arc::new(Column::new("value", 0));
        let dynamic: Arc<dyn PhysicalExpr> = Arc::new(DynamicFilterPhysicalExpr::new(vec![value], lit(true)));
        let held: Arc<dyn ExecutionPlan> = Arc::new(scan.with_runtime(Arc::new([dynamic])).unwrap());
        let shown = |plan: &Arc<dyn ExecutionPlan>| {
            datafusion::physical_plan::displayable(plan.as_ref()).one_line().to_string()
        };
        assert!(shown(&held).contains("runtime_filters=[DynamicFilter"), "{}", shown(&held));
        let reset = held.reset_state().unwrap();
        assert!(!shown(&reset).contains("runtime_filters"), "{}", shown(&reset));
    }

    #[test]
    fn lines_that_cross_the_readers_buffer_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        // 20,000 rows of about 60 bytes (1.2 MB of text: lines cross the end of the reader's
        // 256 KiB buffer again and again), one row of 600 KB (longer than the buffer), an
        // empty line, and a last row without LF.
        let long = "é".repeat(300_000);
        let mut plain = b"event_name\tpath\tvalue\n".to_vec();
        let mut expected = Vec::new();
        for n in 0..20_000 {
            let value = if n == 7_000 { long.clone() } else { format!("customfield_{:08}", n * 7919 % 1_000_003) };
            plain.extend_from_slice(format!("MODIFY\tfieldMappings[{}].fieldId\t{value}\n", n % 97).as_bytes());
            expected.push((Some("MODIFY".to_owned()), Some(value)));
        }
        plain.extend_from_slice(b"\nREMOVE\tlast\t\\N");
        expected.push((Some("REMOVE".to_owned()), None));
        assert!(plain.len() > 1_200_000);
        let path = gzip(dir.path(), "lines.tsv.gz", &plain);
        assert_eq!(read_kept(&path).unwrap(), expected);
    }

    #[test]
    fn density_is_measured_on_the_first_mib_only() {
        let dir = tempfile::tempdir().unwrap();
        // A small object is read whole: exact.
        let (small, text) = object(dir.path(), 1_000, b"");
        let d = Density::of(&small).unwrap();
        assert!(((d.rows * small.bytes as f64) - 1_000.0).abs() < 0.5, "{d:?}");
        assert!(((d.text * small.bytes as f64) - text as f64).abs() < 0.5, "{d:?}");
        // A large one: about 8 MB of rows, then bytes that are not gzip. The sample stops
        // long before them, and its estimate is close to the truth.
        let rows = 160_000;
        let (large, text) = object(dir.path(), rows, b"this is not gzip");
        assert!(text > 7 * DENSITY_SAMPLE, "{text}");
        let d = Density::of(&large).unwrap();
        let estimated = d.rows * large.bytes as f64;
        assert!((estimated / rows as f64 - 1.0).abs() < 0.1, "{estimated} rows estimated, {rows} there");
        let estimated = d.text * large.bytes as f64;
        assert!((estimated / text as f64 - 1.0).abs() < 0.1, "{estimated} bytes estimated, {text} there");
    }
}
