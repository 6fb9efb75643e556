//! The versioned SQL files under `sql/views` and `sql/questions`: header, body, parameters.
//!
//! Every file starts with a header of `-- key: value` lines (name, kind, question,
//! version, reads, param, chart) and is compiled into the binary, so `ddb-lake sql` works
//! from anywhere. Parameters are written `{{name}}` in the body and substituted as typed,
//! quoted literals ([`SqlFile::render`]) — never as pasted text. `sql/manifest.toml`
//! records each file's version and the SHA-256 of its body; a test fails when a body
//! changes without a version bump.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// A view (registered before questions run) or a question (a query to answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `CREATE VIEW <name> AS <body>`.
    View,
    /// A query.
    Question,
}

/// Type of a parameter, which decides how its value is written into the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A whole number, written as digits.
    Int,
    /// A day `YYYY-MM-DD`, written as a string literal (it is compared with `dt`).
    Date,
    /// Text, written as a string literal with `'` doubled.
    Text,
}

/// A declared parameter (serialized as `{"name", "type", "default", "help"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Param {
    /// Name, used as `{{name}}`.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Default value (as a user would type it).
    pub default: String,
    /// What it means.
    pub help: String,
}

/// One SQL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFile {
    /// Name (the view's name, or the question's).
    pub name: String,
    /// View or question.
    pub kind: Kind,
    /// The question it answers, in plain words.
    pub question: String,
    /// Version, bumped whenever the body changes.
    pub version: u32,
    /// Tables and views it reads.
    pub reads: Vec<String>,
    /// Parameters.
    pub params: Vec<Param>,
    /// Column drawn as a bar chart in table output, if any.
    pub chart: Option<String>,
    /// The CloudWatch metric the question is published as, if any (`-- metric:`).
    pub metric: Option<MetricSpec>,
    /// The SQL after the header.
    pub body: String,
    /// Path in the repository (for messages).
    pub path: &'static str,
}

/// A question published as a CloudWatch metric: `-- metric: NAME value=COLUMN
/// [dimensions=COLUMN,…] [schedule=EXPRESSION]` (docs/operations.md, "Answers as metrics").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MetricSpec {
    /// The metric's name (in the stack's metrics namespace).
    pub name: String,
    /// The answer column that is the metric's value (a number).
    pub value: String,
    /// The answer columns that are its dimensions (at most 30, CloudWatch's limit).
    pub dimensions: Vec<String>,
    /// When the stack publishes it: an EventBridge Scheduler `rate(…)` or `cron(…)` expression
    /// (default `rate(1 hour)`).
    pub schedule: String,
}

/// The default schedule of a published question.
pub const DEFAULT_METRIC_SCHEDULE: &str = "rate(1 hour)";

fn parse_metric(path: &str, text: &str) -> Result<MetricSpec, SqlFileError> {
    let err = |m: &str| SqlFileError::Header {
        path: path.into(),
        message: format!(
            "metric `{text}`: {m} (write `-- metric: NAME value=COLUMN dimensions=COLUMN,… schedule=rate(1 hour)`)"
        ),
    };
    let ident = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    let (head, schedule) = match text.split_once("schedule=") {
        Some((head, schedule)) => (head, schedule.trim()),
        None => (text, DEFAULT_METRIC_SCHEDULE),
    };
    let schedule_ok = |s: &str| {
        (s.starts_with("rate(") || s.starts_with("cron(")) && s.ends_with(')') && !s.contains(['\'', '"', '\n'])
    };
    if !schedule_ok(schedule) {
        return Err(err("schedule must be rate(…) or cron(…)"));
    }
    let mut words = head.split_whitespace();
    let name = words.next().filter(|n| ident(n)).ok_or_else(|| err("needs a name of letters, digits and _"))?;
    let (mut value, mut dimensions) = (None, Vec::new());
    for word in words {
        match word.split_once('=') {
            Some(("value", v)) if ident(v) => value = Some(v.to_owned()),
            Some(("dimensions", d)) if d.split(',').all(ident) => {
                dimensions = d.split(',').map(str::to_owned).collect()
            }
            _ => return Err(err(&format!("`{word}` is not value=COLUMN or dimensions=COLUMN,…"))),
        }
    }
    if dimensions.len() > 30 {
        return Err(err("CloudWatch takes at most 30 dimensions"));
    }
    let value = value.ok_or_else(|| err("needs value=COLUMN"))?;
    Ok(MetricSpec { name: name.to_owned(), value, dimensions, schedule: schedule.to_owned() })
}

/// A file or parameter that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SqlFileError {
    /// The header is incomplete or malformed.
    #[error("{path}: {message}")]
    Header {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// `--param` names a parameter the file does not have.
    #[error("`{name}` has no parameter `{param}` (it has: {known})")]
    UnknownParam {
        /// The file.
        name: String,
        /// The parameter given.
        param: String,
        /// The parameters it has.
        known: String,
    },
    /// A value does not fit its parameter's type.
    #[error("parameter `{param}` = {value:?} is not {expected}")]
    BadValue {
        /// The parameter.
        param: String,
        /// The value given.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// `entity` names no entity of the spec.
    #[error("entity={value:?} is not an entity of the spec {spec} ({known}); give one of its entities, or entity=* for every item")]
    UnknownEntity {
        /// The value given.
        value: String,
        /// The spec's origin.
        spec: String,
        /// What the spec declares.
        known: String,
    },
}

/// The parameter of the questions that can be asked per entity (`[[entities]]`).
pub const ENTITY_PARAM: &str = "entity";

/// The `entity` value that asks about every item (no entity can be called this).
pub const EVERY_ENTITY: &str = "*";

/// Whether the `entity` value among `values` (the last one given) names an entity of `spec`,
/// or is [`EVERY_ENTITY`]: a misspelt entity would otherwise answer with nothing.
pub fn check_entity(spec: &ddb_lake_core::spec::LakeSpec, values: &[(String, String)]) -> Result<(), SqlFileError> {
    let Some((_, value)) = values.iter().rev().find(|(k, _)| k == ENTITY_PARAM) else {
        return Ok(());
    };
    if value == EVERY_ENTITY || spec.entities.iter().any(|e| &e.name == value) {
        return Ok(());
    }
    Err(SqlFileError::UnknownEntity {
        value: value.clone(),
        spec: spec.origin.clone(),
        known: if spec.entities.is_empty() {
            "it declares no [[entities]]; docs/lake-spec.md shows how".into()
        } else {
            format!("it declares: {}", spec.entities.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", "))
        },
    })
}

macro_rules! sql_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../", $path)))),*]
    };
}

/// Every file: views first (in dependency order), then questions.
pub const FILES: &[(&str, &str)] = sql_files!(
    "views/unique_changes.sql",
    "views/latest_snapshot.sql",
    "views/item_versions.sql",
    "views/current_items.sql",
    "views/current_attributes.sql",
    "questions/popular_field_mappings.sql",
    "questions/least_popular_field_mappings.sql",
    "questions/popular_settings.sql",
    "questions/write_traffic_by_customer.sql",
    "questions/writes_by_hour.sql",
    "questions/writes_by_weekday.sql",
    "questions/changes_by_kind.sql",
    "questions/recorded_errors.sql",
    "questions/most_changed_settings.sql",
    "questions/deletions.sql",
    "questions/rejected_cells.sql",
);

/// The manifest text (`sql/manifest.toml`).
pub const MANIFEST: &str = include_str!("../manifest.toml");

fn parse_param(path: &str, text: &str) -> Result<Param, SqlFileError> {
    let err = |m: &str| SqlFileError::Header { path: path.into(), message: format!("param `{text}`: {m}") };
    let mut parts = text.splitn(4, ' ');
    let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(|| err("needs a name"))?;
    if !name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') {
        return Err(err("names are lowercase letters, digits and _"));
    }
    let kind = match parts.next() {
        Some("int") => ParamType::Int,
        Some("date") => ParamType::Date,
        Some("text") => ParamType::Text,
        _ => return Err(err("type must be int, date or text")),
    };
    let default = parts.next().ok_or_else(|| err("needs a default"))?.to_owned();
    let p = Param { name: name.into(), kind, default, help: parts.next().unwrap_or("").trim().to_owned() };
    literal(&p, &p.default).map_err(|_| err("the default does not fit the type"))?;
    Ok(p)
}

/// Parses one file.
pub fn parse(path: &'static str, text: &str) -> Result<SqlFile, SqlFileError> {
    let err = |m: String| SqlFileError::Header { path: path.into(), message: m };
    let mut fields: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut body_start = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("-- ") else { break };
        let Some((k, v)) = rest.split_once(':') else { break };
        if !matches!(k, "name" | "kind" | "question" | "version" | "reads" | "param" | "chart" | "metric") {
            break;
        }
        fields.entry(k).or_default().push(v.trim());
        body_start += line.len() + 1;
    }
    let one = |k: &str| -> Result<&str, SqlFileError> {
        match fields.get(k).map(|v| v.as_slice()) {
            Some([v]) => Ok(v),
            _ => Err(err(format!("header needs exactly one `-- {k}:` line"))),
        }
    };
    let kind = match one("kind")? {
        "view" => Kind::View,
        "question" => Kind::Question,
        other => return Err(err(format!("kind `{other}` is not view or question"))),
    };
    let version = one("version")?.parse().map_err(|_| err("version must be a whole number".into()))?;
    let params = fields
        .get("param")
        .map(|ps| ps.iter().map(|p| parse_param(path, p)).collect())
        .transpose()?
        .unwrap_or_default();
    let body = text[body_start.min(text.len())..].trim().trim_end_matches(';').trim().to_owned();
    if body.is_empty() {
        return Err(err("no SQL after the header".into()));
    }
    let file = SqlFile {
        name: one("name")?.to_owned(),
        kind,
        question: one("question")?.to_owned(),
        version,
        reads: one("reads")?.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
        params,
        chart: fields.get("chart").and_then(|c| c.first()).map(|c| c.to_string()),
        metric: fields.get("metric").and_then(|m| m.first()).map(|m| parse_metric(path, m)).transpose()?,
        body,
        path,
    };
    if file.metric.is_some() && file.kind != Kind::Question {
        return Err(err("only a question can be published as a metric".into()));
    }
    let expected_stem = path.rsplit('/').next().and_then(|f| f.strip_suffix(".sql"));
    if expected_stem != Some(file.name.as_str()) {
        return Err(err(format!("name `{}` differs from the file name", file.name)));
    }
    Ok(file)
}

/// Every file, parsed (views first).
pub fn all() -> Result<Vec<SqlFile>, SqlFileError> {
    FILES.iter().map(|(p, t)| parse(p, t)).collect()
}

/// SHA-256 (hex) of a body.
pub fn checksum(body: &str) -> String {
    Sha256::digest(body.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders a value as the SQL literal for its parameter.
fn literal(p: &Param, value: &str) -> Result<String, SqlFileError> {
    let bad = |expected| SqlFileError::BadValue { param: p.name.clone(), value: value.into(), expected };
    match p.kind {
        ParamType::Int => value.trim().parse::<i64>().map(|n| n.to_string()).map_err(|_| bad("a whole number")),
        ParamType::Date => chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
            .map(|d| format!("'{}'", d.format("%Y-%m-%d")))
            .map_err(|_| bad("a day written YYYY-MM-DD")),
        ParamType::Text => {
            if value.chars().any(char::is_control) {
                Err(bad("text without control characters"))
            } else {
                Ok(format!("'{}'", value.replace('\'', "''")))
            }
        }
    }
}

impl SqlFile {
    /// The body with every `{{param}}` replaced by the typed literal of its value (`values`
    /// overrides defaults).
    pub fn render(&self, values: &[(String, String)]) -> Result<String, SqlFileError> {
        for (k, _) in values {
            if !self.params.iter().any(|p| &p.name == k) {
                return Err(SqlFileError::UnknownParam {
                    name: self.name.clone(),
                    param: k.clone(),
                    known: if self.params.is_empty() {
                        "none".into()
                    } else {
                        self.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                    },
                });
            }
        }
        // One pass over the body: a substituted value is never read again, so a text value
        // holding `{{other}}` stays text.
        let mut sql = String::with_capacity(self.body.len());
        let mut rest = self.body.as_str();
        while let Some(at) = rest.find("{{") {
            sql.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let Some(end) = after.find("}}") else { break };
            let name = &after[..end];
            match self.params.iter().find(|p| p.name == name) {
                Some(p) => {
                    let value =
                        values.iter().rev().find(|(k, _)| k == &p.name).map(|(_, v)| v.as_str()).unwrap_or(&p.default);
                    sql.push_str(&literal(p, value)?);
                }
                // Not a parameter: the text stays as it is.
                None => sql.push_str(&rest[at..at + 2 + end + 2]),
            }
            rest = &after[end + 2..];
        }
        sql.push_str(rest);
        Ok(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_header_names_its_columns_and_schedule() {
        let m =
            parse_metric("q.sql", "RecordedErrors value=items dimensions=error_code,tenant schedule=cron(0 * * * ? *)")
                .unwrap();
        assert_eq!(
            m,
            MetricSpec {
                name: "RecordedErrors".into(),
                value: "items".into(),
                dimensions: vec!["error_code".into(), "tenant".into()],
                schedule: "cron(0 * * * ? *)".into()
            }
        );
        let plain = parse_metric("q.sql", "Items value=items").unwrap();
        assert_eq!((plain.dimensions.len(), plain.schedule.as_str()), (0, DEFAULT_METRIC_SCHEDULE));
        for bad in [
            "",
            "Items",
            "Items value=",
            "Items value=a;b",
            "Items value=n dims=x",
            "Items value=n schedule=hourly",
            "Items value=n schedule=rate(1 hour')",
            "Bad-Name value=n",
        ] {
            let e = parse_metric("q.sql", bad).unwrap_err().to_string();
            assert!(e.contains("q.sql") && e.contains("write `-- metric:"), "{bad}: {e}");
        }
    }

    #[derive(serde::Deserialize)]
    struct Manifest {
        file: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        version: u32,
        sha256: String,
    }

    /// A body that changes must come with a version bump and a manifest entry.
    #[test]
    fn manifest_guards_versions() {
        let manifest: Manifest = toml::from_str(MANIFEST).unwrap();
        let files = all().unwrap();
        let mut problems = Vec::new();
        for f in &files {
            let sum = checksum(&f.body);
            match manifest.file.iter().find(|e| e.name == f.name) {
                None => problems.push(format!("{} is not in sql/manifest.toml", f.path)),
                Some(e) if e.version == f.version && e.sha256 != sum => problems.push(format!(
                    "{}: the body changed but the version is still {}: bump `-- version:` and the manifest",
                    f.path, f.version
                )),
                Some(e) if e.version != f.version || e.sha256 != sum => problems
                    .push(format!("{}: the manifest says version {}, the file {}", f.path, e.version, f.version)),
                Some(_) => {}
            }
        }
        let entries: String = files
            .iter()
            .map(|f| {
                format!(
                    "[[file]]\nname = \"{}\"\nversion = {}\nsha256 = \"{}\"\n\n",
                    f.name,
                    f.version,
                    checksum(&f.body)
                )
            })
            .collect();
        if manifest.file.len() != files.len() {
            problems.push(format!("the manifest has {} entries for {} files", manifest.file.len(), files.len()));
        }
        assert!(problems.is_empty(), "{}\n\nentries for the current files:\n{entries}", problems.join("\n"));
    }

    #[test]
    fn text_parameters_are_substituted_once_whatever_they_hold() {
        let f = parse(
            "questions/x.sql",
            "-- name: x\n-- kind: question\n-- question: q\n-- version: 1\n-- reads: changes\n\
             -- param: a text x first\n-- param: b text y second\nSELECT {{a}} AS a, {{b}} AS b, '{{c}}' AS c",
        )
        .unwrap();
        let sql = f.render(&[("a".into(), "it's {{b}}".into()), ("b".into(), r"{{a}} \' ''".into())]).unwrap();
        assert_eq!(sql, r"SELECT 'it''s {{b}}' AS a, '{{a}} \'' ''''' AS b, '{{c}}' AS c");
    }

    #[test]
    fn an_entity_value_must_name_an_entity_of_the_spec() {
        let plain = ddb_lake_core::spec::LakeSpec::default();
        let given = |v: &str| vec![("top".to_owned(), "3".to_owned()), (ENTITY_PARAM.to_owned(), v.to_owned())];
        assert_eq!(check_entity(&plain, &given(EVERY_ENTITY)), Ok(()));
        assert_eq!(check_entity(&plain, &[]), Ok(()));
        let e = check_entity(&plain, &given("user")).unwrap_err().to_string();
        assert!(
            e.contains("entity=\"user\" is not an entity of the spec <default spec> (it declares no [[entities]]"),
            "{e}"
        );
        let mut spec = plain.clone();
        spec.entities.push(ddb_lake_core::spec::Entity {
            name: "user".into(),
            when: ddb_lake_core::spec::EntityRule::SkPrefix("USER#".into()),
        });
        assert_eq!(check_entity(&spec, &given("user")), Ok(()));
        let e = check_entity(&spec, &given("users")).unwrap_err().to_string();
        assert!(e.contains("(it declares: user); give one of its entities, or entity=* for every item"), "{e}");
    }

    #[test]
    fn parameters_are_typed_literals() {
        let f = parse(
            "questions/x.sql",
            "-- name: x\n-- kind: question\n-- question: q\n-- version: 1\n-- reads: changes\n-- param: top int 5 rows\n-- param: who text a b\n-- param: from date 2026-01-01 first day\nSELECT {{top}}, {{who}}, {{from}}",
        )
        .unwrap();
        assert_eq!(f.render(&[]).unwrap(), "SELECT 5, 'a', '2026-01-01'");
        let v = |k: &str, x: &str| vec![(k.to_string(), x.to_string())];
        assert_eq!(f.render(&v("who", "o'brien")).unwrap(), "SELECT 5, 'o''brien', '2026-01-01'");
        assert!(matches!(f.render(&v("top", "1; DROP TABLE x")), Err(SqlFileError::BadValue { .. })));
        assert!(matches!(f.render(&v("from", "2026-13-01")), Err(SqlFileError::BadValue { .. })));
        assert!(matches!(f.render(&v("nope", "1")), Err(SqlFileError::UnknownParam { .. })));
    }

    #[test]
    fn every_file_parses_with_a_header() {
        for f in all().unwrap() {
            assert!(!f.question.is_empty() && f.version >= 1 && !f.reads.is_empty(), "{}", f.path);
        }
    }
}
