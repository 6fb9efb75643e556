//! The lake spec: one TOML file that tells the normalizer, the catalog, the SQL runner and
//! the deployment what the lake looks like.
//!
//! Read once at start-up ([`LakeSpec::from_file`] / [`LakeSpec::from_toml`]) by the CLI and
//! the Lambda function; everything that follows takes the validated [`LakeSpec`]. Unknown
//! keys, bad names, paths that do not parse, unknown types and duplicate columns are
//! refused before anything is written, with the file, the line and the fix. With no spec
//! at all, [`LakeSpec::default`] still produces the `changes` and `attributes` tables.
//! The reference is `docs/lake-spec.md`.

mod check;
mod explain;
mod file;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::path::{AttributePath, Segment};
use crate::schema::{col, common_columns, BuiltInTable, TableSchema, ELEMENT_INDEX_COLUMN};
use crate::secret_names::SecretNames;

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
    /// Which items the table takes (`[tables.when]`); `None`: every item.
    pub when: Option<EntityRule>,
}

/// One entity type of a single-table design (`[[entities]]`): the items its rule takes are
/// this entity, and the `entity` column of `changes` and `attributes` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// The entity's name (an identifier; the value of the `entity` column).
    pub name: String,
    /// Which items are this entity.
    pub when: EntityRule,
}

/// Which items a table takes, or which items an entity is, in a single-table design
/// (`[tables.when]`, `[entities.when]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityRule {
    /// Items whose partition key is a string starting with this.
    PkPrefix(String),
    /// Items whose sort key is a string starting with this.
    SkPrefix(String),
    /// Items whose top-level attribute `attribute` is the string `equals`.
    Attribute {
        /// The attribute's name.
        attribute: String,
        /// The value it must have.
        equals: String,
    },
}

impl EntityRule {
    /// Whether an item with these keys and top-level string attribute lookup matches.
    pub fn matches<'a>(
        &self,
        pk: Option<&str>,
        sk: Option<&str>,
        string_attribute: impl Fn(&str) -> Option<&'a str>,
    ) -> bool {
        match self {
            EntityRule::PkPrefix(p) => pk.is_some_and(|v| v.starts_with(p.as_str())),
            EntityRule::SkPrefix(p) => sk.is_some_and(|v| v.starts_with(p.as_str())),
            EntityRule::Attribute { attribute, equals } => string_attribute(attribute) == Some(equals.as_str()),
        }
    }
}

/// What an [`EntityRule`] constrains: a key or a top-level attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleSubject<'a> {
    PartitionKey,
    SortKey,
    Attribute(&'a str),
}

/// How an [`EntityRule`] constrains its subject's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleText<'a> {
    StartsWith(&'a str),
    Is(&'a str),
}

impl EntityRule {
    /// The rule as a subject and a condition on its text; an attribute rule on a key
    /// attribute (`partition_key`, `sort_key`) constrains that key.
    fn constraint<'r>(&'r self, partition_key: &str, sort_key: Option<&str>) -> (RuleSubject<'r>, RuleText<'r>) {
        match self {
            EntityRule::PkPrefix(p) => (RuleSubject::PartitionKey, RuleText::StartsWith(p)),
            EntityRule::SkPrefix(p) => (RuleSubject::SortKey, RuleText::StartsWith(p)),
            EntityRule::Attribute { attribute, equals } => {
                let subject = if attribute == partition_key {
                    RuleSubject::PartitionKey
                } else if Some(attribute.as_str()) == sort_key {
                    RuleSubject::SortKey
                } else {
                    RuleSubject::Attribute(attribute)
                };
                (subject, RuleText::Is(equals))
            }
        }
    }

    /// Whether no item can match both rules, whatever its values: only rules on the same key
    /// or attribute can exclude each other (two prefixes neither of which starts the other,
    /// two different values, a value that does not start with the prefix). Rules on different
    /// keys or attributes can always both match one item.
    pub fn excludes(&self, other: &EntityRule, partition_key: &str, sort_key: Option<&str>) -> bool {
        let (a_on, a) = self.constraint(partition_key, sort_key);
        let (b_on, b) = other.constraint(partition_key, sort_key);
        if a_on != b_on {
            return false;
        }
        match (a, b) {
            (RuleText::StartsWith(p), RuleText::StartsWith(q)) => !p.starts_with(q) && !q.starts_with(p),
            (RuleText::Is(v), RuleText::Is(w)) => v != w,
            (RuleText::StartsWith(p), RuleText::Is(v)) | (RuleText::Is(v), RuleText::StartsWith(p)) => {
                !v.starts_with(p)
            }
        }
    }
}

impl std::fmt::Display for EntityRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntityRule::PkPrefix(p) => write!(f, "items whose partition key starts with {p:?}"),
            EntityRule::SkPrefix(p) => write!(f, "items whose sort key starts with {p:?}"),
            EntityRule::Attribute { attribute, equals } => write!(f, "items whose attribute {attribute} is {equals:?}"),
        }
    }
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
    /// `s3://bucket/prefix` (the prefix may be empty; a trailing `/` is dropped), or `None` when
    /// the bucket is not a valid bucket name or a prefix folder is empty, `.`, `..` or holds
    /// anything but letters, digits and `_-.=`.
    pub fn parse(text: &str) -> Option<LakeLocation> {
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
    /// Entity types of a single-table design (`[[entities]]`), in spec order; when there are
    /// any, `changes` and `attributes` end with an `entity` column.
    pub entities: Vec<Entity>,
    /// Margin W of a backfilled snapshot, in seconds (`[backfill] margin_seconds`).
    pub snapshot_margin_seconds: u32,
    /// Whether attributes whose names look like secrets ([`crate::secret_names::DEFAULT_SECRET_NAMES`], the rule
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
            entities: Vec::new(),
            snapshot_margin_seconds: DEFAULT_SNAPSHOT_MARGIN_SECONDS,
            default_drop: true,
            keep_names: Vec::new(),
        }
    }
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

    /// Validates spec text; `file` names it in messages (the checks, section by section, are
    /// in `spec/check.rs`).
    pub fn from_toml(text: &str, file: &str) -> Result<Self, SpecError> {
        check::read(text, file)
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

    /// The first millisecond of `projection_start` (UTC): rows of an earlier day sit in a
    /// partition Athena's projection never reads.
    pub fn projection_start_millis(&self) -> i64 {
        chrono::NaiveDate::parse_from_str(&self.projection_start, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(0, |t| t.and_utc().timestamp_millis())
    }

    /// The entity an item is (`[[entities]]`): the first whose rule matches its string keys
    /// and top-level string attributes (the spec refuses rules one item could meet twice).
    pub fn entity_of<'a>(
        &self,
        pk: Option<&str>,
        sk: Option<&str>,
        string_attribute: impl Fn(&str) -> Option<&'a str>,
    ) -> Option<&str> {
        self.entities.iter().find(|e| e.when.matches(pk, sk, &string_attribute)).map(|e| e.name.as_str())
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
        out.push(BuiltInTable::Compactions.schema());
        out
    }

    /// The tables an item's rows go to, in the order the writer counts them:
    /// [`BuiltInTable::ITEM_TABLES`], then the declared tables in spec order, then `_rejects`.
    pub fn item_table_schemas(&self) -> Vec<TableSchema> {
        let mut out = Vec::with_capacity(BuiltInTable::ALL.len() + self.tables.len());
        let with_entity = !self.entities.is_empty();
        out.extend(BuiltInTable::ITEM_TABLES.map(|t| t.item_schema(with_entity)));
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
}
