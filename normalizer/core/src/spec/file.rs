//! The spec file as written: one struct per TOML section, every key with its place in the
//! file (`Spanned`) so that a check can name the line. Unknown keys are refused
//! (`deny_unknown_fields`): a typo is an error, not a silent default. [`super::check`] turns
//! it into a [`super::LakeSpec`].

use serde::Deserialize;
use toml::Spanned;

use super::RedactAction;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SpecFile {
    pub(super) source: SourceSection,
    pub(super) lake: LakeSection,
    #[serde(default)]
    pub(super) format: Option<FormatSection>,
    #[serde(default)]
    pub(super) partitioning: Option<PartitioningSection>,
    #[serde(default)]
    pub(super) tenant: Option<TenantSection>,
    #[serde(default)]
    pub(super) redaction: Option<RedactionSection>,
    #[serde(default)]
    pub(super) tables: Vec<TableSection>,
    #[serde(default)]
    pub(super) backfill: Option<BackfillSection>,
    #[serde(default)]
    pub(super) entities: Vec<EntitySection>,
}

/// `[[entities]]`: one entity type of a single-table design (a name and its `when`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EntitySection {
    pub(super) name: Spanned<String>,
    pub(super) when: Option<Spanned<WhenSection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackfillSection {
    pub(super) margin_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SourceSection {
    pub(super) table: Spanned<String>,
    pub(super) partition_key: Option<Spanned<String>>,
    pub(super) sort_key: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LakeSection {
    pub(super) location: Spanned<String>,
    pub(super) database: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FormatSection {
    pub(super) kind: Option<Spanned<String>>,
    pub(super) gzip_level: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PartitioningSection {
    pub(super) granularity: Option<Spanned<String>>,
    pub(super) projection_start: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TenantSection {
    pub(super) attribute: Option<Spanned<String>>,
    pub(super) key_prefix: Option<Spanned<String>>,
    pub(super) separator: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RedactionSection {
    pub(super) key_env: Option<Spanned<String>>,
    pub(super) default_drop: Option<bool>,
    #[serde(default)]
    pub(super) keep: Vec<String>,
    #[serde(default)]
    pub(super) rule: Vec<RuleSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleSection {
    pub(super) path: Spanned<String>,
    pub(super) action: Spanned<RedactAction>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TableSection {
    pub(super) name: Spanned<String>,
    pub(super) comment: Option<String>,
    pub(super) explode: Option<Spanned<String>>,
    pub(super) when: Option<Spanned<WhenSection>>,
    #[serde(default)]
    pub(super) columns: Vec<ColumnSection>,
}

/// `[tables.when]` / `[entities.when]`: which items a table or an entity takes (one of the
/// three forms).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WhenSection {
    pub(super) sk_prefix: Option<String>,
    pub(super) pk_prefix: Option<String>,
    pub(super) attribute: Option<String>,
    pub(super) equals: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ColumnSection {
    pub(super) name: Spanned<String>,
    pub(super) path: Spanned<String>,
    #[serde(rename = "type")]
    pub(super) kind: Spanned<String>,
    pub(super) comment: Option<String>,
}
