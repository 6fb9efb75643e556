//! Every view and canned question exactly as Athena gets it, in the order it must be created.
//!
//! Called by `ddb-lake sql export` (which serializes [`NamedQueries`] as JSON for the CDK app,
//! which publishes each entry as an Athena named query), by `ddb-lake sql create-views`
//! (which runs each view's statement in Athena, one after another) and by the local engine
//! ([`crate::local::LocalLake::open`], which registers the very same view statements), so the
//! three cannot drift apart.
//!
//! Order: the generated `history_<table>` and `live_<table>` views of every compacted table
//! ([`history_view`], [`live_view`]; they read tables only), then the views of `sql/views` in
//! [`files::all`] order (each after the views it reads), then one generated `current_<table>`
//! view per declared table of the spec ([`current_table_view`], which reads `current_items`),
//! then the questions in file order.
//! A view's SQL is `CREATE OR REPLACE VIEW <name> AS\n<body>` ([`create_view_sql`]); a
//! question's is its body with every parameter at its default ([`SqlFile::render`] with no
//! values).

use ddb_lake_core::spec::LakeSpec;
use ddb_lake_glue_schema::definition::table_definitions;
use serde::Serialize;

use crate::compaction_sql::{compaction_sql, CompactionSql};
use crate::files::{self, Kind, MetricSpec, Param, SqlFile, SqlFileError};
use ddb_lake_core::schema::{is_compacted, BuiltInTable, COMPACTED_SUFFIX, STATE_SUFFIX};

use crate::views::{current_table_view, history_view, live_view};

pub use crate::views::GENERATED_SOURCE;

/// Version of the generated `current_<table>` views.
pub const GENERATED_VERSION: u32 = 4;

/// Version of the generated `history_<table>` and `live_<table>` views.
pub const COMPACTION_VIEWS_VERSION: u32 = 3;

/// One view or question, as Athena should get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedQuery {
    /// The view's or question's name.
    pub name: String,
    /// `view` or `question`.
    pub kind: Kind,
    /// Version from the file's header (bumped whenever the body changes).
    pub version: u32,
    /// What it answers, in plain words.
    pub question: String,
    /// Tables and views it reads.
    pub reads: Vec<String>,
    /// Declared parameters (`sql` has them at their defaults).
    pub params: Vec<Param>,
    /// The file it comes from (`sql/views/…`, `sql/questions/…`), or [`GENERATED_SOURCE`].
    pub source: String,
    /// The statement: `CREATE OR REPLACE VIEW …` for a view, the rendered query for a question.
    pub sql: String,
    /// The CloudWatch metric a question is published as (`null` otherwise).
    pub metric: Option<PublishedMetric>,
}

/// A question published as a CloudWatch metric, as the stack runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedMetric {
    /// The header's metric.
    #[serde(flatten)]
    pub spec: MetricSpec,
    /// What Athena runs: the dimensions' columns then the value's, from the question at its
    /// defaults, without the rows CloudWatch cannot take (a NULL, an empty or too long
    /// dimension value, a NULL value).
    pub sql: String,
}

/// The statement that publishes `spec` from the question `rendered`.
pub fn metric_sql(spec: &MetricSpec, rendered: &str) -> String {
    let mut columns: Vec<String> = spec.dimensions.iter().map(|d| format!("CAST({d} AS varchar) AS {d}")).collect();
    columns.push(format!("CAST({v} AS double) AS {v}", v = spec.value));
    let mut keep: Vec<String> =
        spec.dimensions.iter().map(|d| format!("length(CAST({d} AS varchar)) BETWEEN 1 AND 1024")).collect();
    keep.push(format!("{} IS NOT NULL", spec.value));
    format!("SELECT {}\nFROM (\n{rendered}\n) q\nWHERE {}", columns.join(", "), keep.join(" AND "))
}

/// Every named query of a lake, and the Glue database they run in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedQueries {
    /// The spec's Glue database.
    pub database: String,
    /// Views (in creation order), then questions.
    pub queries: Vec<NamedQuery>,
    /// The statements of a compaction run (run by the compaction state machine).
    pub compaction: CompactionSql,
}

impl NamedQueries {
    /// The views, in creation order.
    pub fn views(&self) -> impl Iterator<Item = &NamedQuery> {
        self.queries.iter().filter(|q| q.kind == Kind::View)
    }
}

/// The statement that creates (or replaces) view `name` with `body`.
pub fn create_view_sql(name: &str, body: &str) -> String {
    format!("CREATE OR REPLACE VIEW {name} AS\n{body}")
}

fn from_file(f: &SqlFile) -> Result<NamedQuery, SqlFileError> {
    let rendered = f.render(&[])?;
    Ok(NamedQuery {
        name: f.name.clone(),
        kind: f.kind,
        version: f.version,
        question: f.question.clone(),
        reads: f.reads.clone(),
        params: f.params.clone(),
        source: format!("sql/{}", f.path),
        metric: f.metric.as_ref().map(|spec| PublishedMetric { spec: spec.clone(), sql: metric_sql(spec, &rendered) }),
        sql: match f.kind {
            Kind::View => create_view_sql(&f.name, &rendered),
            Kind::Question => rendered,
        },
    })
}

/// Every view and question of the lake `spec` describes, in creation order.
pub fn named_queries(spec: &LakeSpec) -> Result<NamedQueries, SqlFileError> {
    let all = files::all()?;
    let mut queries = Vec::with_capacity(all.len() + 3 * spec.tables.len() + 4);
    let defs = table_definitions(spec);
    for def in defs.iter().filter(|d| !d.is_parquet() && is_compacted(&d.name)) {
        let compactions = BuiltInTable::Compactions.name().to_owned();
        for (prefix, body, question, other) in [
            (
                "history",
                history_view(def),
                format!("Every row of {} ever written: its text objects and its compacted history", def.name),
                format!("{}{COMPACTED_SUFFIX}", def.name),
            ),
            (
                "live",
                live_view(def),
                format!("The rows of {} that current state is decided from: the latest compaction's state and the text objects", def.name),
                format!("{}{STATE_SUFFIX}", def.name),
            ),
        ] {
            let name = format!("{prefix}_{}", def.name);
            queries.push(NamedQuery {
                sql: create_view_sql(&name, &body),
                name,
                kind: Kind::View,
                version: COMPACTION_VIEWS_VERSION,
                question,
                reads: vec![def.name.clone(), other, compactions.clone()],
                params: Vec::new(),
                source: GENERATED_SOURCE.into(),
                metric: None,
            });
        }
    }
    for f in all.iter().filter(|f| f.kind == Kind::View) {
        queries.push(from_file(f)?);
    }
    for def in defs.iter().filter(|d| spec.tables.iter().any(|t| t.name == d.name)) {
        let name = format!("current_{}", def.name);
        queries.push(NamedQuery {
            sql: create_view_sql(&name, &current_table_view(def)),
            name,
            kind: Kind::View,
            version: GENERATED_VERSION,
            question: format!("Current rows of {}: each item's latest version, retried duplicates collapsed", def.name),
            reads: vec![format!("live_{}", def.name), "current_items".into()],
            params: Vec::new(),
            source: GENERATED_SOURCE.into(),
            metric: None,
        });
    }
    for f in all.iter().filter(|f| f.kind == Kind::Question) {
        queries.push(from_file(f)?);
    }
    Ok(NamedQueries { database: spec.database.clone(), queries, compaction: compaction_sql(spec)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_has_only_the_file_views() {
        let q = named_queries(&LakeSpec::default()).unwrap();
        let views: Vec<&str> = q.views().map(|v| v.name.as_str()).collect();
        assert_eq!(
            views,
            [
                "history_changes",
                "live_changes",
                "history_attributes",
                "live_attributes",
                "unique_changes",
                "latest_snapshot",
                "item_versions",
                "current_items",
                "current_attributes"
            ]
        );
        assert_eq!(q.database, LakeSpec::default().database);
        let json = serde_json::to_value(&q.queries[4]).unwrap();
        assert_eq!(json["kind"], "view");
        assert!(json["sql"].as_str().unwrap().starts_with("CREATE OR REPLACE VIEW unique_changes AS\n"));
        let with_param = q.queries.iter().find(|q| !q.params.is_empty()).expect("a question with a parameter");
        let p = serde_json::to_value(&with_param.params[0]).unwrap();
        let mut keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["default", "help", "name", "type"]);
        assert!(["int", "date", "text"].contains(&p["type"].as_str().unwrap()), "{p}");
    }
}
