//! The lake spec: one TOML file that tells the normalizer, the catalog, the SQL runner and
//! the deployment what the lake looks like.
//!
//! Read once at start-up ([`LakeSpec::from_file`] / [`LakeSpec::from_toml`]) by the CLI and
//! the Lambda function; everything that follows takes the validated [`LakeSpec`]. Unknown
//! keys, bad names, paths that do not parse, unknown types and duplicate columns are
//! refused before anything is written, with the file, the line and the fix. With no spec
//! at all, [`LakeSpec::default`] still produces the `changes` and `attributes` tables.
//! The reference is `docs/lake-spec.md`.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::path::{AttributePath, Segment};
use crate::schema::{
    col, common_columns, BuiltInTable, TableSchema, COMMON_COLUMNS, ELEMENT_INDEX_COLUMN, PARTITION_COLUMN,
};
use crate::secret_names::{SecretNames, DEFAULT_SECRET_NAMES};

/// Glue database used when the spec names none.
pub const DEFAULT_DATABASE: &str = "ddb_lake";
/// Lake location used when there is no spec (the local default).
pub const DEFAULT_LOCATION: &str = "s3://ddb-lake-local/lake";
/// Partition key attribute assumed when the spec names none.
pub const DEFAULT_PARTITION_KEY: &str = "pk";
/// Sort key attribute assumed when the spec names none.
pub const DEFAULT_SORT_KEY: &str = "sk";
/// Gzip level used when the spec names none (level 1 measured ~3x faster than 6; see the benchmark).
pub const DEFAULT_GZIP_LEVEL: u32 = 1;
/// First day of the partition projection range when the spec names none.
pub const DEFAULT_PROJECTION_START: &str = "2020-01-01";
/// Environment variable holding the key for hashed redaction, unless the spec names another.
pub const DEFAULT_REDACTION_KEY_ENV: &str = "DDB_LAKE_REDACTION_KEY";
/// Default margin W of a backfill, in seconds: stream records later than the export's time
/// minus W win over its rows (docs/snapshots.md says why 5 minutes).
pub const DEFAULT_SNAPSHOT_MARGIN_SECONDS: u32 = 300;
/// Largest margin a spec may set (a day: the stream's own retention).
pub const MAX_SNAPSHOT_MARGIN_SECONDS: i64 = 86_400;

/// A spec that cannot be used, with where and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// The spec file (or `<inline spec>`).
    pub file: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// Type of a declared column, as Athena/Glue name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `string`: text; numbers keep their digits; maps, lists and sets become JSON.
    String,
    /// `bigint`: whole numbers that fit 64 bits.
    Bigint,
    /// `int`: whole numbers that fit 32 bits.
    Int,
    /// `double`: the number's text, read by Athena as a double.
    Double,
    /// `decimal(p,s)`: exact, never rounded (a number with more fractional digits is refused).
    Decimal(u8, u8),
    /// `boolean`: BOOL values.
    Boolean,
}

impl ColumnType {
    fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase();
        Some(match t.as_str() {
            "string" => ColumnType::String,
            "bigint" => ColumnType::Bigint,
            "int" => ColumnType::Int,
            "double" => ColumnType::Double,
            "boolean" => ColumnType::Boolean,
            _ => {
                let inner = t.strip_prefix("decimal(")?.strip_suffix(')')?;
                let (p, s) = inner.split_once(',')?;
                let p: u8 = p.trim().parse().ok()?;
                let s: u8 = s.trim().parse().ok()?;
                if !(1..=38).contains(&p) || s > p {
                    return None;
                }
                ColumnType::Decimal(p, s)
            }
        })
    }

    /// The Glue / Athena type name.
    pub fn sql_name(&self) -> String {
        match self {
            ColumnType::String => "string".into(),
            ColumnType::Bigint => "bigint".into(),
            ColumnType::Int => "int".into(),
            ColumnType::Double => "double".into(),
            ColumnType::Decimal(p, s) => format!("decimal({p},{s})"),
            ColumnType::Boolean => "boolean".into(),
        }
    }
}

/// What redaction does to a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactAction {
    /// The value is not written at all.
    Drop,
    /// The value is replaced by the hex HMAC-SHA256 of its text under the redaction key.
    Hash,
}

/// One redaction rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// Values at this path (and below it) are redacted; `[]` matches any list position.
    pub path: AttributePath,
    /// Drop or hash.
    pub action: RedactAction,
}

/// Where the tenant (customer) of an item comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRule {
    /// A top-level attribute of the item (new image, else old image, else keys).
    Attribute(String),
    /// The part of the partition key after `prefix`, up to `separator` (e.g. `CLIENT#42#…` → `42`).
    KeyPrefix {
        /// Text the partition key starts with.
        prefix: String,
        /// Ends the tenant part; empty means "to the end".
        separator: String,
    },
}

/// A column of a declared table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredColumn {
    /// Column name.
    pub name: String,
    /// Where the value comes from. For an exploded table, paths that start with the explode
    /// path and `[]` are read from the element.
    pub path: AttributePath,
    /// Column type.
    pub kind: ColumnType,
    /// Comment for the catalog.
    pub comment: Option<String>,
    /// Whether the value is hashed (a redaction rule covers the path).
    pub hashed: bool,
}

/// A table declared in the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredTable {
    /// Table name.
    pub name: String,
    /// Comment for the catalog.
    pub comment: Option<String>,
    /// The list whose elements each become a row.
    pub explode: Option<AttributePath>,
    /// The columns, in order.
    pub columns: Vec<DeclaredColumn>,
}

/// `s3://bucket/prefix`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeLocation {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl LakeLocation {
    /// `s3://bucket/prefix/<relative>`.
    pub fn url(&self, relative: &str) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}/{}", self.bucket, relative)
        } else {
            format!("s3://{}/{}/{}", self.bucket, self.prefix, relative)
        }
    }
}

/// A validated lake spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeSpec {
    /// Where the spec came from (for messages).
    pub origin: String,
    /// The DynamoDB table the stream belongs to.
    pub source_table: String,
    /// Attribute written to the `pk` column.
    pub partition_key: String,
    /// Attribute written to the `sk` column.
    pub sort_key: Option<String>,
    /// Where the lake lives.
    pub location: LakeLocation,
    /// Glue database.
    pub database: String,
    /// Gzip level 0–9.
    pub gzip_level: u32,
    /// First day of the partition projection range (`YYYY-MM-DD`).
    pub projection_start: String,
    /// Tenant rule.
    pub tenant: Option<TenantRule>,
    /// Redaction rules.
    pub redactions: Vec<Redaction>,
    /// Environment variable that holds the redaction key.
    pub redaction_key_env: String,
    /// Declared tables.
    pub tables: Vec<DeclaredTable>,
    /// Margin W of a backfilled snapshot, in seconds (`[backfill] margin_seconds`).
    pub snapshot_margin_seconds: u32,
    /// Whether attributes whose names look like secrets ([`DEFAULT_SECRET_NAMES`], the rule
    /// [`LakeSpec::secret_names`]) are dropped
    /// (`[redaction] default_drop`, default true).
    pub default_drop: bool,
    /// Attribute names the default drop keeps (`[redaction] keep`), in ASCII lowercase.
    pub keep_names: Vec<String>,
}

impl Default for LakeSpec {
    fn default() -> Self {
        LakeSpec {
            origin: "<default spec>".into(),
            source_table: "ddb-table".into(),
            partition_key: DEFAULT_PARTITION_KEY.into(),
            sort_key: Some(DEFAULT_SORT_KEY.into()),
            location: LakeLocation { bucket: "ddb-lake-local".into(), prefix: "lake".into() },
            database: DEFAULT_DATABASE.into(),
            gzip_level: DEFAULT_GZIP_LEVEL,
            projection_start: DEFAULT_PROJECTION_START.into(),
            tenant: None,
            redactions: Vec::new(),
            redaction_key_env: DEFAULT_REDACTION_KEY_ENV.into(),
            tables: Vec::new(),
            snapshot_margin_seconds: DEFAULT_SNAPSHOT_MARGIN_SECONDS,
            default_drop: true,
            keep_names: Vec::new(),
        }
    }
}

// ---- the file as written -------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    source: SourceSection,
    lake: LakeSection,
    #[serde(default)]
    format: Option<FormatSection>,
    #[serde(default)]
    partitioning: Option<PartitioningSection>,
    #[serde(default)]
    tenant: Option<TenantSection>,
    #[serde(default)]
    redaction: Option<RedactionSection>,
    #[serde(default)]
    tables: Vec<TableSection>,
    #[serde(default)]
    backfill: Option<BackfillSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackfillSection {
    margin_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSection {
    table: Spanned<String>,
    partition_key: Option<Spanned<String>>,
    sort_key: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LakeSection {
    location: Spanned<String>,
    database: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatSection {
    kind: Option<Spanned<String>>,
    gzip_level: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitioningSection {
    granularity: Option<Spanned<String>>,
    projection_start: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantSection {
    attribute: Option<Spanned<String>>,
    key_prefix: Option<Spanned<String>>,
    separator: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedactionSection {
    key_env: Option<Spanned<String>>,
    default_drop: Option<bool>,
    #[serde(default)]
    keep: Vec<String>,
    #[serde(default)]
    rule: Vec<RuleSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSection {
    path: Spanned<String>,
    action: Spanned<RedactAction>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableSection {
    name: Spanned<String>,
    comment: Option<String>,
    explode: Option<Spanned<String>>,
    #[serde(default)]
    columns: Vec<ColumnSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnSection {
    name: Spanned<String>,
    path: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    comment: Option<String>,
}

/// Whether `name` is usable as a Glue/Athena table or column name: lowercase ASCII letter,
/// then lowercase letters, digits and `_`, at most 128 characters.
pub fn is_identifier(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn suggest_identifier(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let out = out.trim_matches('_').to_owned();
    if out.is_empty() || !out.as_bytes()[0].is_ascii_lowercase() {
        format!("c_{out}")
    } else {
        out
    }
}

/// The spec being read, its file name and text: turns a span into the line of an error.
struct SpecText<'a> {
    file: &'a str,
    text: &'a str,
}

impl SpecText<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text.as_bytes()[..offset.min(self.text.len())].iter().filter(|&&b| b == b'\n').count() + 1
    }
    fn err<T>(
        &self,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Result<T, SpecError> {
        Err(SpecError {
            file: self.file.to_owned(),
            line: span.map(|s| self.line_of(s.start)),
            message: message.into(),
            fix: fix.into(),
        })
    }
    fn identifier(&self, what: &str, s: &Spanned<String>) -> Result<String, SpecError> {
        let name = s.get_ref();
        if is_identifier(name) {
            Ok(name.clone())
        } else {
            self.err(
                Some(s.span()),
                format!("{what} `{name}` is not usable as a Glue/Athena name"),
                format!(
                    "use lowercase letters, digits and `_`, starting with a letter (at most 128), e.g. `{}`",
                    suggest_identifier(name)
                ),
            )
        }
    }
    fn path(&self, s: &Spanned<String>) -> Result<AttributePath, SpecError> {
        AttributePath::parse(s.get_ref()).or_else(|e| {
            self.err(
                Some(s.span()),
                e.to_string(),
                "write paths as name.name[3].name, `[]` for every element, and [\"odd name\"] for names with other characters",
            )
        })
    }
}

fn parse_location(text: &str) -> Option<LakeLocation> {
    let rest = text.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && !bucket.contains("..");
    let prefix = prefix.trim_end_matches('/');
    let prefix_ok = prefix.is_empty()
        || prefix.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|c| c.is_ascii_alphanumeric() || b"_-.=".contains(&c))
        });
    (bucket_ok && prefix_ok).then(|| LakeLocation { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
}

fn valid_day(text: &str) -> bool {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() && text.len() == 10
}

impl LakeSpec {
    /// Reads and validates a spec file.
    pub fn from_file(path: &Path) -> Result<Self, SpecError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: file.clone(),
            line: None,
            message: format!("cannot read the spec: {e}"),
            fix: "check the path given with --spec (or DDB_LAKE_SPEC_PATH)".into(),
        })?;
        Self::from_toml(&text, &file)
    }

    /// Validates spec text; `file` names it in messages.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, SpecError> {
        let spec_text = SpecText { file, text };
        let raw: SpecFile = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let message = e.message().trim().to_owned();
                let fix = if message.contains("unknown field") {
                    "remove or rename the key; docs/lake-spec.md lists every key"
                } else if message.contains("missing field") {
                    "add the key; docs/lake-spec.md shows a complete example"
                } else {
                    "fix the TOML syntax at that line"
                };
                return spec_text.err(e.span(), message, fix);
            }
        };
        let mut spec = LakeSpec { origin: file.to_owned(), ..LakeSpec::default() };

        let table = raw.source.table.get_ref().trim();
        if table.is_empty() || table.len() > 255 {
            return spec_text.err(
                Some(raw.source.table.span()),
                "source.table is empty or longer than 255",
                "name the DynamoDB table",
            );
        }
        spec.source_table = table.to_owned();
        if let Some(pk) = &raw.source.partition_key {
            if pk.get_ref().is_empty() {
                return spec_text.err(
                    Some(pk.span()),
                    "source.partition_key is empty",
                    "name the table's partition key attribute",
                );
            }
            spec.partition_key = pk.get_ref().clone();
        }
        spec.sort_key = match &raw.source.sort_key {
            Some(sk) if sk.get_ref().is_empty() => None,
            Some(sk) => Some(sk.get_ref().clone()),
            None => Some(DEFAULT_SORT_KEY.into()),
        };

        spec.location =
            match parse_location(raw.lake.location.get_ref()) {
                Some(l) => l,
                None => return spec_text.err(
                    Some(raw.lake.location.span()),
                    format!("lake.location `{}` is not an S3 location", raw.lake.location.get_ref()),
                    "write s3://bucket/prefix: a valid bucket name, prefix folders of letters, digits, `_-.=`, no `..`",
                ),
            };
        if let Some(db) = &raw.lake.database {
            spec.database = spec_text.identifier("lake.database", db)?;
        }

        if let Some(f) = &raw.format {
            if let Some(k) = &f.kind {
                if k.get_ref() != "tsv" {
                    return spec_text.err(
                        Some(k.span()),
                        format!("format.kind `{}` is not supported", k.get_ref()),
                        "use kind = \"tsv\" (LazySimpleSerDe, see docs/row-format.md)",
                    );
                }
            }
            if let Some(l) = &f.gzip_level {
                if !(0..=9).contains(l.get_ref()) {
                    return spec_text.err(
                        Some(l.span()),
                        format!("format.gzip_level {} is out of range", l.get_ref()),
                        "use 0 (store) to 9 (smallest); 1 is the default",
                    );
                }
                spec.gzip_level = *l.get_ref() as u32;
            }
        }
        if let Some(p) = &raw.partitioning {
            if let Some(g) = &p.granularity {
                if g.get_ref() != "day" {
                    return spec_text.err(
                        Some(g.span()),
                        format!("partitioning.granularity `{}` is not supported", g.get_ref()),
                        "use granularity = \"day\" (dt=YYYY-MM-DD)",
                    );
                }
            }
            if let Some(s) = &p.projection_start {
                if !valid_day(s.get_ref()) {
                    return spec_text.err(
                        Some(s.span()),
                        format!("partitioning.projection_start `{}` is not a date", s.get_ref()),
                        "write YYYY-MM-DD, the first day the lake may hold",
                    );
                }
                spec.projection_start = s.get_ref().clone();
            }
        }
        if let Some(m) = raw.backfill.as_ref().and_then(|b| b.margin_seconds.as_ref()) {
            if !(0..=MAX_SNAPSHOT_MARGIN_SECONDS).contains(m.get_ref()) {
                return spec_text.err(
                    Some(m.span()),
                    format!("backfill.margin_seconds {} is out of range", m.get_ref()),
                    "give 0 to 86400 seconds: how far before the export's time stream records still win over it (default 300)",
                );
            }
            spec.snapshot_margin_seconds = *m.get_ref() as u32;
        }
        if let Some(t) = &raw.tenant {
            spec.tenant = match (&t.attribute, &t.key_prefix) {
                (Some(a), None) if !a.get_ref().is_empty() => Some(TenantRule::Attribute(a.get_ref().clone())),
                (None, Some(p)) => Some(TenantRule::KeyPrefix {
                    prefix: p.get_ref().clone(),
                    separator: t.separator.clone().unwrap_or_else(|| "#".into()),
                }),
                (Some(a), Some(_)) => {
                    return spec_text.err(
                        Some(a.span()),
                        "tenant has both attribute and key_prefix",
                        "keep one: attribute = \"clientKey\" or key_prefix = \"CLIENT#\"",
                    )
                }
                _ => {
                    return spec_text.err(
                        None,
                        "[tenant] needs attribute or key_prefix",
                        "add attribute = \"clientKey\" or key_prefix = \"CLIENT#\", or remove [tenant]",
                    )
                }
            };
        }
        let mut keys = vec![spec.partition_key.clone()];
        keys.extend(spec.sort_key.clone());
        if let Some(r) = &raw.redaction {
            if let Some(env) = &r.key_env {
                let ok = !env.get_ref().is_empty()
                    && env.get_ref().bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
                if !ok {
                    return spec_text.err(
                        Some(env.span()),
                        format!("redaction.key_env `{}` is not an environment variable name", env.get_ref()),
                        "use uppercase letters, digits and `_`",
                    );
                }
                spec.redaction_key_env = env.get_ref().clone();
            }
            if let Some(d) = r.default_drop {
                spec.default_drop = d;
            }
            spec.keep_names = r.keep.iter().map(|k| k.to_ascii_lowercase()).collect();
            if r.rule.len() > 64 {
                return spec_text.err(None, "more than 64 redaction rules", "merge rules on a common parent path");
            }
            for rule in &r.rule {
                let path = spec_text.path(&rule.path)?;
                if let Some(Segment::Name(first)) = path.0.first() {
                    if path.0.len() == 1 && keys.contains(first) {
                        return spec_text.err(
                            Some(rule.path.span()),
                            format!("`{first}` is a key attribute and cannot be redacted"),
                            "key attributes identify items; redact other attributes",
                        );
                    }
                }
                spec.redactions.push(Redaction { path, action: *rule.action.get_ref() });
            }
        }

        if let Some(TenantRule::Attribute(a)) = &spec.tenant {
            let tenant_path = AttributePath(vec![Segment::Name(a.clone())]);
            if let Some((name, pattern)) = spec.default_dropped(&tenant_path) {
                return spec_text.err(
                    raw.tenant.as_ref().and_then(|t| t.attribute.as_ref()).map(|a| a.span()),
                    format!("tenant.attribute `{name}` looks like a secret (its name contains `{pattern}`) and is dropped by default"),
                    format!("add a rule path = \"{a}\", action = \"hash\" (the tenant column then holds the hash), or [redaction] keep = [\"{name}\"]"),
                );
            }
            if let Some(r) =
                spec.redactions.iter().find(|r| r.action == RedactAction::Drop && tenant_path.may_start_with(&r.path))
            {
                return spec_text.err(
                    raw.tenant.as_ref().and_then(|t| t.attribute.as_ref()).map(|a| a.span()),
                    format!("tenant.attribute `{a}` is dropped by redaction rule `{}`: every table's tenant column would hold it", r.path),
                    "make that rule action = \"hash\" (the tenant column then holds the hash), or take the tenant from another attribute",
                );
            }
        }

        let mut table_names: HashSet<String> = BuiltInTable::ALL.iter().map(|t| t.name().to_string()).collect();
        for t in &raw.tables {
            let name = spec_text.identifier("table name", &t.name)?;
            if !table_names.insert(name.clone()) {
                return spec_text.err(
                    Some(t.name.span()),
                    format!("table `{name}` is declared twice (or is a built-in table)"),
                    "give every table its own name; `changes`, `attributes`, `_rejects` and `snapshots` are always there",
                );
            }
            let explode = match &t.explode {
                Some(e) => {
                    let p = spec_text.path(e)?;
                    if p.has_each() || p.0.iter().any(|s| matches!(s, Segment::Index(_))) {
                        return spec_text.err(
                            Some(e.span()),
                            format!("explode `{}` must name one list, without positions", e.get_ref()),
                            "write the list's path, e.g. explode = \"fieldMappings\"",
                        );
                    }
                    Some(p)
                }
                None => None,
            };
            if t.columns.is_empty() {
                return spec_text.err(
                    Some(t.name.span()),
                    format!("table `{name}` has no columns"),
                    "add [[tables.columns]] entries with name, path and type",
                );
            }
            let mut col_names: HashSet<String> = COMMON_COLUMNS.iter().map(|s| s.to_string()).collect();
            col_names.insert(PARTITION_COLUMN.into());
            if explode.is_some() {
                col_names.insert(ELEMENT_INDEX_COLUMN.into());
            }
            let mut columns = Vec::new();
            for c in &t.columns {
                let cname = spec_text.identifier("column name", &c.name)?;
                if !col_names.insert(cname.clone()) {
                    return spec_text.err(
                        Some(c.name.span()),
                        format!(
                            "column `{cname}` appears twice in table `{name}` (or reuses a column every table has)"
                        ),
                        format!(
                            "rename it; every table already has {}, {} and {}",
                            COMMON_COLUMNS.join(", "),
                            ELEMENT_INDEX_COLUMN,
                            PARTITION_COLUMN
                        ),
                    );
                }
                let path = spec_text.path(&c.path)?;
                if path.has_each() {
                    let under_explode = explode.as_ref().is_some_and(|e| {
                        path.0.len() > e.0.len()
                            && path.0[..e.0.len()] == e.0[..]
                            && path.0[e.0.len()] == Segment::Each
                            && !path.0[e.0.len() + 1..].contains(&Segment::Each)
                    });
                    if !under_explode {
                        return spec_text.err(
                            Some(c.path.span()),
                            format!("path `{}` uses `[]` outside the exploded list", c.path.get_ref()),
                            "`[]` may only follow the table's explode path once, e.g. fieldMappings[].fieldId",
                        );
                    }
                }
                let kind = match ColumnType::parse(c.kind.get_ref()) {
                    Some(k) => k,
                    None => {
                        return spec_text.err(
                            Some(c.kind.span()),
                            format!("type `{}` is not known", c.kind.get_ref()),
                            "use string, bigint, int, double, boolean or decimal(p,s) with 1 <= p <= 38, s <= p",
                        )
                    }
                };
                if let Some((secret, pattern)) = spec.default_dropped(&path) {
                    return spec_text.err(
                        Some(c.path.span()),
                        format!(
                            "column `{cname}` of table `{name}` reads `{}`, and `{secret}` looks like a secret \
                             (its name contains `{pattern}`): ddb-lake drops it by default",
                            c.path.get_ref()
                        ),
                        format!(
                            "remove the column, hash it with a rule (path = \"{}\", action = \"hash\"), or keep the \
                             attribute with [redaction] keep = [\"{secret}\"]",
                            c.path.get_ref()
                        ),
                    );
                }
                let mut hashed = false;
                for r in &spec.redactions {
                    if path.may_start_with(&r.path) {
                        match r.action {
                            RedactAction::Drop => {
                                return spec_text.err(
                                    Some(c.path.span()),
                                    format!(
                                    "column `{cname}` of table `{name}` reads `{}`, which redaction rule `{}` drops",
                                    c.path.get_ref(),
                                    r.path
                                ),
                                    "remove the column, or make the rule action = \"hash\"",
                                )
                            }
                            RedactAction::Hash if kind != ColumnType::String => {
                                return spec_text.err(
                                    Some(c.kind.span()),
                                    format!(
                                    "column `{cname}` of table `{name}` reads `{}`, which redaction rule `{}` hashes, \
                                         but has type {}",
                                    c.path.get_ref(),
                                    r.path,
                                    kind.sql_name()
                                ),
                                    "hashed values are text: use type = \"string\"",
                                )
                            }
                            RedactAction::Hash => hashed = true,
                        }
                    }
                }
                columns.push(DeclaredColumn { name: cname, path, kind, comment: c.comment.clone(), hashed });
            }
            spec.tables.push(DeclaredTable { name, comment: t.comment.clone(), explode, columns });
        }
        Ok(spec)
    }

    /// The default drop's rule for this spec: which attribute names it takes.
    pub fn secret_names(&self) -> SecretNames {
        SecretNames::new(self.default_drop, &self.keep_names)
    }

    /// Whether the default drop takes the value at `path`: the first name on it that looks
    /// like a secret (with the pattern), unless a rule covers that point or lies under it
    /// (the spec says what to do there).
    pub fn default_dropped(&self, path: &AttributePath) -> Option<(String, &'static str)> {
        let secrets = self.secret_names();
        for (depth, seg) in path.0.iter().enumerate() {
            let Segment::Name(name) = seg else { continue };
            let Some(pattern) = secrets.pattern_in(name) else { continue };
            let here = AttributePath(path.0[..=depth].to_vec());
            if self.redactions.iter().any(|r| r.path.may_start_with(&here) || here.may_start_with(&r.path)) {
                return None;
            }
            return Some((name.clone(), pattern));
        }
        None
    }

    /// Whether any redaction rule hashes (and so needs the key).
    pub fn needs_redaction_key(&self) -> bool {
        self.redactions.iter().any(|r| r.action == RedactAction::Hash)
    }

    /// Every table of the lake, each with its columns in file order: the tables rows of items
    /// go to (the built-in ones, then the declared ones in spec order; see
    /// [`LakeSpec::item_table_schemas`]), then `snapshots`.
    pub fn table_schemas(&self) -> Vec<TableSchema> {
        let mut out = self.item_table_schemas();
        out.push(BuiltInTable::Snapshots.schema());
        out
    }

    /// The tables an item's rows go to, in the order the writer counts them:
    /// [`BuiltInTable::ITEM_TABLES`], then the declared tables in spec order, then `_rejects`.
    pub fn item_table_schemas(&self) -> Vec<TableSchema> {
        let mut out = Vec::with_capacity(BuiltInTable::ALL.len() + self.tables.len());
        out.extend(BuiltInTable::ITEM_TABLES.map(BuiltInTable::schema));
        for t in &self.tables {
            let mut columns = common_columns();
            if t.explode.is_some() {
                columns.push(col(ELEMENT_INDEX_COLUMN, "int", "position of the element in the exploded list"));
            }
            for c in &t.columns {
                let mut comment = c.comment.clone().unwrap_or_else(|| format!("from {}", c.path));
                if c.hashed {
                    comment.push_str(" (HMAC-SHA256, redacted)");
                }
                columns.push(col(&c.name, &c.kind.sql_name(), &comment));
            }
            let comment = t.comment.clone().unwrap_or_else(|| match &t.explode {
                Some(e) => format!("one row per element of {e}"),
                None => "one row per new image".into(),
            });
            out.push(TableSchema { name: t.name.clone(), comment, columns });
        }
        out.push(BuiltInTable::Rejects.schema());
        out
    }

    /// A plain-words account of the spec, for `ddb-lake spec check`.
    pub fn explain(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "spec {} is valid", self.origin);
        let _ = writeln!(
            s,
            "  source table     {} (pk column ← `{}`, sk column ← {})",
            self.source_table,
            self.partition_key,
            self.sort_key.as_deref().map(|k| format!("`{k}`")).unwrap_or_else(|| "none".into())
        );
        let _ = writeln!(s, "  lake             {}  (Glue database `{}`)", self.location.url(""), self.database);
        let _ = writeln!(
            s,
            "  row format       tab-separated, LazySimpleSerDe, gzip level {}, header row",
            self.gzip_level
        );
        let _ = writeln!(
            s,
            "  partitions       dt=YYYY-MM-DD (UTC day of ApproximateCreationDateTime), projected from {}",
            self.projection_start
        );
        let tenant = match &self.tenant {
            None => "none (tenant column is NULL)".to_owned(),
            Some(TenantRule::Attribute(a)) => format!("attribute `{a}`"),
            Some(TenantRule::KeyPrefix { prefix, separator }) => {
                format!("partition key after `{prefix}` up to `{separator}`")
            }
        };
        let _ = writeln!(s, "  tenant           {tenant}");
        if self.default_drop {
            let kept = if self.keep_names.is_empty() {
                String::new()
            } else {
                format!("; kept: {}", self.keep_names.join(", "))
            };
            let _ = writeln!(
                s,
                "  default drop     attributes whose name contains {} (any depth, any case){kept}",
                DEFAULT_SECRET_NAMES.join(", ")
            );
        } else {
            let _ = writeln!(s, "  default drop     off ([redaction] default_drop = false)");
        }
        for r in &self.redactions {
            let _ = writeln!(
                s,
                "  redact           {} → {:?}{}",
                r.path,
                r.action,
                if r.action == RedactAction::Hash {
                    format!(" (key from ${})", self.redaction_key_env)
                } else {
                    String::new()
                }
            );
        }
        let _ = writeln!(s, "tables:");
        for t in self.table_schemas() {
            let _ = writeln!(s, "  {:<18} {}", t.name, t.comment);
            let cols: Vec<String> = t.columns.iter().map(|c| format!("{} {}", c.name, c.sql_type)).collect();
            let _ = writeln!(s, "      columns: {}", cols.join(", "));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const EXAMPLE: &str = include_str!("../../../docs/examples/sync-configurations.toml");

    #[test]
    fn the_backfill_margin_is_read_and_bounded() {
        let base = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n";
        assert_eq!(LakeSpec::from_toml(base, "t.toml").unwrap().snapshot_margin_seconds, 300);
        let spec = LakeSpec::from_toml(&format!("{base}[backfill]\nmargin_seconds = 0\n"), "t.toml").unwrap();
        assert_eq!(spec.snapshot_margin_seconds, 0);
        let e = LakeSpec::from_toml(&format!("{base}[backfill]\nmargin_seconds = 90000\n"), "t.toml").unwrap_err();
        assert!(e.to_string().contains("t.toml:6: backfill.margin_seconds 90000 is out of range"), "{e}");
        let e = LakeSpec::from_toml(&format!("{base}[[tables]]\nname = \"snapshots\"\n"), "t.toml").unwrap_err();
        assert!(e.to_string().contains("is a built-in table"), "{e}");
    }

    #[test]
    fn the_documented_example_is_valid() {
        let spec = LakeSpec::from_toml(EXAMPLE, "example.toml").unwrap();
        assert_eq!(spec.location.bucket, "acme-config-lake");
        assert!(spec.tables.iter().any(|t| t.explode.is_some()));
        assert!(spec.explain().contains("field_mappings"));
    }

    fn err(text: &str) -> SpecError {
        LakeSpec::from_toml(text, "lake.toml").unwrap_err()
    }

    const BASE: &str = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n";

    #[test]
    fn typo_names_file_line_and_fix() {
        let e = err(&format!("{BASE}[[tables]]\nname = \"x\"\nexplod = \"a\"\n"));
        assert_eq!(e.file, "lake.toml");
        assert_eq!(e.line, Some(7));
        assert!(e.message.contains("unknown field `explod`"), "{e}");
        assert!(e.to_string().contains("fix:"));
    }

    #[test]
    fn bad_identifiers_types_paths_and_duplicates() {
        let e = err(&format!("{BASE}[[tables]]\nname = \"Field Mappings\"\n[[tables.columns]]\nname=\"a\"\npath=\"a\"\ntype=\"string\"\n"));
        assert!(e.fix.contains("field_mappings"), "{e}");
        let e = err(&format!(
            "{BASE}[[tables]]\nname = \"t1\"\n[[tables.columns]]\nname=\"a\"\npath=\"a\"\ntype=\"varchar\"\n"
        ));
        assert_eq!(e.line, Some(10));
        let e = err(&format!(
            "{BASE}[[tables]]\nname = \"t1\"\n[[tables.columns]]\nname=\"a\"\npath=\"a..b\"\ntype=\"string\"\n"
        ));
        assert!(e.message.contains("a..b"));
        let e = err(&format!("{BASE}[[tables]]\nname = \"t1\"\n[[tables.columns]]\nname=\"a\"\npath=\"a\"\ntype=\"string\"\n[[tables.columns]]\nname=\"a\"\npath=\"b\"\ntype=\"string\"\n"));
        assert!(e.message.contains("appears twice"), "{e}");
        let e = err(&format!(
            "{BASE}[[tables]]\nname = \"t1\"\n[[tables.columns]]\nname=\"pk\"\npath=\"b\"\ntype=\"string\"\n"
        ));
        assert!(e.message.contains("appears twice"), "{e}");
        let e = err("[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://b/../x\"\n");
        assert_eq!(e.line, Some(4));
        let e = err(&format!(
            "{BASE}[[tables]]\nname = \"changes\"\n[[tables.columns]]\nname=\"a\"\npath=\"a\"\ntype=\"string\"\n"
        ));
        assert!(e.message.contains("declared twice"));
    }

    #[test]
    fn redaction_rules_are_checked() {
        let e = err(&format!("{BASE}[redaction]\n[[redaction.rule]]\npath = \"pk\"\naction = \"drop\"\n"));
        assert!(e.message.contains("key attribute"));
        let e = err(&format!("{BASE}[redaction]\n[[redaction.rule]]\npath = \"secret\"\naction = \"drop\"\n[[tables]]\nname = \"t1\"\n[[tables.columns]]\nname=\"s\"\npath=\"secret.x\"\ntype=\"string\"\n"));
        assert!(e.message.contains("drops"), "{e}");
        let ok = LakeSpec::from_toml(&format!("{BASE}[redaction]\n[[redaction.rule]]\npath = \"m[].secret\"\naction = \"hash\"\n[[tables]]\nname = \"t1\"\nexplode = \"m\"\n[[tables.columns]]\nname=\"s\"\npath=\"m[].secret\"\ntype=\"string\"\n"), "x").unwrap();
        assert!(ok.tables[0].columns[0].hashed);
        assert!(ok.needs_redaction_key());
    }
}
