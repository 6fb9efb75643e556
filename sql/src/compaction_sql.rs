//! The statements of a compaction run (docs/compaction.md), generated from the spec and
//! versioned like the views: Athena runs all of them (the compaction state machine the CDK app
//! deploys), and the embedded engine runs the very same `select` of the steps that fold rows
//! (`history`, `state`) when `ddb-lake compact --lake DIR` runs.
//!
//! A statement is a template: `{{name}}` stands for a parameter's value, written as a typed
//! SQL literal ([`render`]; the state machine fills them with `States.Format` from the plan's
//! own answer, which no input of an execution can change). In run order:
//!
//! 1. `plan` (Athena only): the run's `through` (the day before yesterday, UTC), its id, the
//!    cutoff (text objects last modified before it may be removed), when it started, and the
//!    latest run's `through`;
//! 2. `batches`: the days with text objects up to `through`, in batches of at most
//!    [`BATCH_DAYS`] days, so that each `history` statement writes at most that many
//!    partitions (Athena's limit per INSERT INTO is 100);
//! 3. `history`, per table: `INSERT INTO <table>_compacted` the text rows of a batch's days;
//! 4. `state`, per table (`changes` first, the others join it): `INSERT INTO <table>_state`
//!    the rows of the items that exist at the watermark;
//! 5. `row` (Athena only): the run's `compactions` object (the header line, then the run's
//!    row, tab-separated), which the state machine puts under [`CompactionSql::marker_key`]:
//!    from then on the run counts;
//! 6. `obsolete` (Athena only): the keys of the objects the run made redundant (the folded
//!    text objects last modified before the cutoff, the earlier runs' states, what runs that
//!    never got their row left), which the state machine deletes.

use ddb_lake_core::object_key::MARKER_TEXT_EXTENSION;
use ddb_lake_core::schema::{
    is_compacted, BuiltInTable, COMPACTED_SUFFIX, COMPACTION_ID_COLUMN, PARTITION_COLUMN, STATE_SUFFIX,
};
use ddb_lake_core::spec::LakeSpec;
use ddb_lake_glue_schema::definition::{table_definitions, TableDefinition};
use serde::Serialize;

use crate::files::{self, Kind, Param, ParamType, SqlFile, SqlFileError};
use crate::views::{column_list, qualified_column_list, GENERATED_SOURCE};

/// Version of the compaction statements (bumped whenever one changes).
pub const COMPACTION_SQL_VERSION: u32 = 2;

/// Days per `history` statement: the partitions one INSERT INTO may write in Athena.
pub const BATCH_DAYS: u32 = 100;

/// Text objects last modified less than this many minutes before a run starts stay (they may
/// still be in flight when the run lists them); the next run folds and removes them.
pub const CUTOFF_MINUTES: u32 = 15;

/// The event names of a deleted item's row.
pub(crate) const TOMBSTONES: &str = "('REMOVE', 'INCREMENTAL_REMOVE')";

/// What a statement does in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// The run's values.
    Plan,
    /// The days to fold, in batches.
    Batches,
    /// One table's history of one batch.
    History,
    /// One table's state at the watermark.
    State,
    /// The run's `compactions` row.
    Row,
    /// The keys the run made redundant.
    Obsolete,
}

/// One statement of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// Its name, e.g. `compact_history_changes`.
    pub name: String,
    /// Its step.
    pub step: Step,
    /// The table it writes (`history`, `state`).
    pub table: Option<String>,
    /// What it does, in plain words.
    pub question: String,
    /// The query, with `{{param}}` placeholders: what the embedded engine runs for `history`
    /// and `state`.
    pub select: String,
    /// What Athena runs: `INSERT INTO <table>` + `select` for `history` and `state`, else `select`.
    pub sql: String,
}

/// Every statement of a compaction run, for `ddb-lake sql export` (key `compaction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompactionSql {
    /// [`COMPACTION_SQL_VERSION`].
    pub version: u32,
    /// [`GENERATED_SOURCE`].
    pub source: String,
    /// [`BATCH_DAYS`].
    pub batch_days: u32,
    /// [`CUTOFF_MINUTES`].
    pub cutoff_minutes: u32,
    /// The parameters (`default`: an example value).
    pub params: Vec<Param>,
    /// The key of the run's `compactions` row under the lake's prefix, with placeholders.
    pub marker_key: String,
    /// The `compactions` header line (the `row` statement's first line).
    pub marker_header: String,
    /// The statements, in run order (`history` and `state` once per table).
    pub statements: Vec<Statement>,
}

impl CompactionSql {
    /// The statements of `step`, in run order.
    pub fn of(&self, step: Step) -> impl Iterator<Item = &Statement> {
        self.statements.iter().filter(move |s| s.step == step)
    }

    /// The `select` of `step` for `table`.
    pub fn select(&self, step: Step, table: &str) -> Option<&str> {
        self.of(step).find(|s| s.table.as_deref() == Some(table)).map(|s| s.select.as_str())
    }
}

fn param(name: &str, kind: ParamType, example: &str, help: &str) -> Param {
    Param { name: name.into(), kind, default: example.into(), help: help.into() }
}

/// The parameters of the statements.
pub fn params() -> Vec<Param> {
    vec![
        param("through", ParamType::Date, "2026-01-01", "the last day folded (the watermark is its end)"),
        param(
            "compaction_id",
            ParamType::Text,
            "2026-01-01_20260103T000000000Z",
            "the run: <through>_<start, UTC, yyyyMMddTHHmmssSSSZ>",
        ),
        param("first_day", ParamType::Date, "2025-12-01", "the first day of a batch"),
        param("last_day", ParamType::Date, "2026-01-01", "the last day of a batch"),
        param(
            "cutoff",
            ParamType::Text,
            "2026-01-02T23:45:00.000Z",
            "ISO 8601, UTC: text objects last modified after it are not removed by this run",
        ),
        param("started", ParamType::Text, "2026-01-03 00:00:00.000", "when the run started, as the lake writes times"),
    ]
}

/// `template` with every `{{param}}` replaced by the typed literal of its value in `values`
/// (the examples otherwise).
pub fn render(template: &str, values: &[(String, String)]) -> Result<String, SqlFileError> {
    let file = SqlFile {
        name: "compaction".into(),
        kind: Kind::Question,
        question: String::new(),
        version: COMPACTION_SQL_VERSION,
        reads: Vec::new(),
        params: params(),
        chart: None,
        metric: None,
        body: template.to_owned(),
        path: GENERATED_SOURCE,
    };
    file.render(values)
}

/// `"$path"` as the object's key in its bucket.
const KEY_OF_PATH: &str = r#"regexp_replace("$path", '^s3://[^/]+/', '')"#;

/// The text objects of the compacted tables up to `through`, last modified before the cutoff:
/// `SELECT "$path" AS path, "$file_size" AS size …` (Athena only).
fn folded_objects(text: &[&TableDefinition]) -> String {
    text.iter()
        .map(|d| {
            format!(
                "SELECT \"$path\" AS path, \"$file_size\" AS size FROM {} WHERE {PARTITION_COLUMN} <= {{{{through}}}} \
                 AND \"$file_modified_time\" <= from_iso8601_timestamp({{{{cutoff}}}})",
                d.name
            )
        })
        .collect::<Vec<_>>()
        .join("\n  UNION ALL ")
}

/// The `select` of `<changes>_state` (`def` is `changes`): `item_versions` over the rows up
/// to `through`, from the very view file (one rule, docs/snapshots.md), with the table's own
/// columns (the view also has `entity` when the table does not).
fn changes_state_select(def: &TableDefinition) -> Result<String, SqlFileError> {
    let missing =
        |message: &str| SqlFileError::Header { path: "views/item_versions.sql".into(), message: message.into() };
    let view = files::all()?
        .into_iter()
        .find(|f| f.name == "item_versions")
        .ok_or_else(|| missing("is missing: the state of `changes` is its rule"))?;
    let body = view.render(&[])?;
    let from = "FROM live_changes c";
    if body.matches(from).count() != 1 {
        return Err(missing("must read `FROM live_changes c` exactly once"));
    }
    let body =
        body.replace(from, &format!("FROM (SELECT * FROM live_changes WHERE {PARTITION_COLUMN} <= {{{{through}}}}) c"));
    Ok(format!(
        "SELECT {}, {{{{compaction_id}}}} AS {COMPACTION_ID_COLUMN}\nFROM (\n{body}\n) v",
        qualified_column_list(def, "v", true)
    ))
}

/// The `select` of `<table>_state` (not `changes`): the table's rows up to `through` of the
/// items the run's `changes_state` says exist. No DISTINCT: a row the text holds twice (a
/// re-delivered batch) stays twice, as in the text, and every reader collapses it; a DISTINCT
/// over every current row of `attributes` ran out of the engine's memory on the 1 GB
/// benchmark lake (an aggregation that cannot spill enough).
fn table_state_select(def: &TableDefinition) -> String {
    format!(
        "SELECT {cols}, {{{{compaction_id}}}} AS {COMPACTION_ID_COLUMN}\n\
         FROM (SELECT * FROM live_{name} WHERE {PARTITION_COLUMN} <= {{{{through}}}}) t\n\
         JOIN (SELECT item_key, event_name, event_time, sequence_number FROM changes{STATE_SUFFIX}\n\
               WHERE {COMPACTION_ID_COLUMN} = {{{{compaction_id}}}} AND event_name NOT IN {TOMBSTONES}) s\n  \
         ON t.item_key = s.item_key AND t.event_name = s.event_name AND t.event_time = s.event_time\n \
         AND coalesce(t.sequence_number, '') = coalesce(s.sequence_number, '')",
        cols = qualified_column_list(def, "t", true),
        name = def.name,
    )
}

/// The `select` of `<table>_compacted` for a batch: the text rows of its days, the partition
/// column last (as INSERT INTO wants it).
fn history_select(def: &TableDefinition) -> String {
    format!(
        "SELECT {}, {{{{compaction_id}}}} AS {COMPACTION_ID_COLUMN}, {PARTITION_COLUMN}\nFROM {}\n\
         WHERE {PARTITION_COLUMN} BETWEEN {{{{first_day}}}} AND {{{{last_day}}}}",
        column_list(def, false),
        def.name
    )
}

/// Every statement of a compaction run of the lake `spec` describes.
pub fn compaction_sql(spec: &LakeSpec) -> Result<CompactionSql, SqlFileError> {
    let defs = table_definitions(spec);
    let mut text: Vec<&TableDefinition> = defs.iter().filter(|d| !d.is_parquet() && is_compacted(&d.name)).collect();
    // `changes` first: the other states join its state.
    let changes = BuiltInTable::Changes.name();
    text.sort_by_key(|d| d.name != changes);
    let compactions = BuiltInTable::Compactions.name();
    let mut statements = Vec::new();
    let plain = |name: &str, step, question: String, select: String| Statement {
        name: name.into(),
        step,
        table: None,
        question,
        sql: select.clone(),
        select,
    };

    statements.push(plain(
        "compaction_plan",
        Step::Plan,
        "The run's values: through (the day before yesterday, UTC), id, cutoff, start, and the latest run's through"
            .into(),
        format!(
            "SELECT p.through, p.through || '_' || p.stamp AS {COMPACTION_ID_COLUMN}, p.cutoff, p.started,\n       \
             coalesce(c.previous, '0000-00-00') AS previous\n\
             FROM (\n  SELECT CAST(current_date - INTERVAL '2' DAY AS varchar) AS through,\n         \
             format_datetime(current_timestamp AT TIME ZONE 'UTC', 'yyyyMMdd''T''HHmmssSSS''Z''') AS stamp,\n         \
             format_datetime(current_timestamp AT TIME ZONE 'UTC' - INTERVAL '{CUTOFF_MINUTES}' MINUTE, \
             'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''') AS cutoff,\n         \
             format_datetime(current_timestamp AT TIME ZONE 'UTC', 'yyyy-MM-dd HH:mm:ss.SSS') AS started\n) p\n\
             CROSS JOIN (SELECT max(through) AS previous FROM {compactions}) c"
        ),
    ));

    let days = text
        .iter()
        .map(|d| {
            format!("SELECT DISTINCT {PARTITION_COLUMN} FROM {} WHERE {PARTITION_COLUMN} <= {{{{through}}}}", d.name)
        })
        .collect::<Vec<_>>()
        .join("\n    UNION ");
    statements.push(plain(
        "compaction_batches",
        Step::Batches,
        format!("The days with text objects up to through, in batches of at most {BATCH_DAYS} days (first_day, last_day)"),
        format!(
            "SELECT min({PARTITION_COLUMN}) AS first_day, max({PARTITION_COLUMN}) AS last_day\n\
             FROM (\n  SELECT {PARTITION_COLUMN}, floor(CAST(row_number() OVER (ORDER BY {PARTITION_COLUMN}) - 1 AS double) / {BATCH_DAYS}) AS batch\n  \
             FROM (\n    {days}\n  ) d\n) b\nGROUP BY batch\nORDER BY first_day"
        ),
    ));

    // One INSERT INTO per table and step: the history of a batch, then the state.
    let insert = |step: Step, def: &TableDefinition, select: String| {
        let (suffix, name, question) = match step {
            Step::History => (COMPACTED_SUFFIX, "history", "The text rows of {t} in the days first_day..last_day"),
            _ => (STATE_SUFFIX, "state", "The rows of {t} of every item at the end of through"),
        };
        let target = format!("{}{suffix}", def.name);
        Statement {
            name: format!("compact_{name}_{}", def.name),
            step,
            question: format!("{}, into {target}", question.replace("{t}", &def.name)),
            sql: format!("INSERT INTO {target}\n{select}"),
            table: Some(target),
            select,
        }
    };
    for def in &text {
        statements.push(insert(Step::History, def, history_select(def)));
    }
    for def in &text {
        let select = if def.name == changes { changes_state_select(def)? } else { table_state_select(def) };
        statements.push(insert(Step::State, def, select));
    }

    let folded = folded_objects(&text);
    // The object's first line: the column names, as every text object of the lake has.
    let header = BuiltInTable::Compactions
        .schema()
        .columns
        .iter()
        .map(|c| format!("'{}'", c.name))
        .collect::<Vec<_>>()
        .join(" || chr(9) || ");
    statements.push(plain(
        "compaction_row",
        Step::Row,
        "The run's compactions object: the header line and the run's row, tab-separated".into(),
        format!(
            "SELECT {header} || chr(10)\n    || {{{{compaction_id}}}} || chr(9) || {{{{through}}}} || chr(9)\n    \
             || format_datetime(CAST(CAST({{{{through}}}} AS date) + INTERVAL '1' DAY AS timestamp), 'yyyy-MM-dd HH:mm:ss.SSS') || chr(9)\n    \
             || CAST(f.objects AS varchar) || chr(9) || CAST(f.bytes AS varchar) || chr(9) || CAST(s.items AS varchar) || chr(9)\n    \
             || {{{{started}}}} || chr(10) AS object\n\
             FROM (SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM (\n  \
             SELECT DISTINCT path, size FROM (\n  {folded}\n  ) o) u) f\n\
             CROSS JOIN (SELECT count(*) AS items FROM changes{STATE_SUFFIX}\n  \
             WHERE {COMPACTION_ID_COLUMN} = {{{{compaction_id}}}} AND event_name NOT IN {TOMBSTONES}) s"
        ),
    ));

    let mut obsolete = vec![folded.replace("\"$path\" AS path, \"$file_size\" AS size", "\"$path\" AS path")];
    for def in &text {
        obsolete.push(format!(
            "SELECT \"$path\" AS path FROM {}{STATE_SUFFIX} WHERE {COMPACTION_ID_COLUMN} < {{{{compaction_id}}}}",
            def.name
        ));
        obsolete.push(format!(
            "SELECT \"$path\" AS path FROM {}{COMPACTED_SUFFIX} WHERE {COMPACTION_ID_COLUMN} < {{{{compaction_id}}}}\n    \
             AND {COMPACTION_ID_COLUMN} NOT IN (SELECT {COMPACTION_ID_COLUMN} FROM {compactions})",
            def.name
        ));
    }
    statements.push(plain(
        "compaction_obsolete",
        Step::Obsolete,
        "The keys of the objects the run made redundant: folded text objects, earlier states, leftovers of unfinished runs"
            .into(),
        format!(
            "SELECT DISTINCT {} AS \"Key\"\nFROM (\n  {}\n) o",
            KEY_OF_PATH.replace("\"$path\"", "path"),
            obsolete.join("\n  UNION ALL ")
        ),
    ));

    let header = BuiltInTable::Compactions.schema().header_row();
    let marker_header = String::from_utf8_lossy(&header).trim_end_matches(['\n', '\r']).to_owned();
    Ok(CompactionSql {
        version: COMPACTION_SQL_VERSION,
        source: GENERATED_SOURCE.into(),
        batch_days: BATCH_DAYS,
        cutoff_minutes: CUTOFF_MINUTES,
        params: params(),
        marker_key: format!(
            "{compactions}/{PARTITION_COLUMN}={{{{through}}}}/compaction_{{{{compaction_id}}}}.{MARKER_TEXT_EXTENSION}"
        ),
        marker_header,
        statements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_statement_is_the_view_over_the_folded_days() {
        let sql = compaction_sql(&LakeSpec::default()).unwrap();
        let state =
            render(sql.select(Step::State, "changes_state").unwrap(), &[("through".into(), "2026-12-03".into())])
                .unwrap();
        assert!(state.contains("FROM (SELECT * FROM live_changes WHERE dt <= '2026-12-03') c"), "{state}");
        assert!(!state.contains("FROM live_changes c"), "{state}");
    }

    #[test]
    fn changes_comes_first_and_every_compacted_table_has_its_steps() {
        let sql = compaction_sql(&LakeSpec::default()).unwrap();
        let names: Vec<&str> = sql.statements.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "compaction_plan",
                "compaction_batches",
                "compact_history_changes",
                "compact_history_attributes",
                "compact_state_changes",
                "compact_state_attributes",
                "compaction_row",
                "compaction_obsolete"
            ]
        );
        let id = "2026-12-03_20261205T233900000Z";
        let key = sql.marker_key.replace("{{through}}", "2026-12-03").replace("{{compaction_id}}", id);
        assert_eq!(key, ddb_lake_core::object_key::ObjectKey::compaction_marker_text("2026-12-03", id).as_str());
        assert!(sql.marker_header.starts_with("compaction_id\tthrough\t"), "{}", sql.marker_header);
    }

    #[test]
    fn values_are_typed_literals() {
        let through = [("through".to_string(), "2026-12-03".to_string())];
        assert_eq!(render("dt <= {{through}}", &through).unwrap(), "dt <= '2026-12-03'");
        let bad = [("through".to_string(), "2026-12-03' OR '1'='1".to_string())];
        assert!(render("dt <= {{through}}", &bad).is_err());
        let quote = [("compaction_id".to_string(), "a'b".to_string())];
        assert_eq!(render("{{compaction_id}}", &quote).unwrap(), "'a''b'");
    }
}
