//! The spec in plain words, for `ddb-lake spec check`: what it reads, where it writes, what it
//! redacts, and every table with its columns.

use std::fmt::Write as _;

use super::{LakeSpec, RedactAction, TenantRule};
use crate::secret_names::DEFAULT_SECRET_NAMES;

impl LakeSpec {
    /// A plain-words account of the spec, for `ddb-lake spec check`.
    pub fn explain(&self) -> String {
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
        if !self.entities.is_empty() {
            let _ =
                writeln!(s, "entities (the `entity` column of changes and attributes; NULL for an item none takes):");
            for e in &self.entities {
                let _ = writeln!(s, "  {:<18} {}", e.name, e.when);
            }
        }
        let _ = writeln!(s, "tables:");
        for t in self.table_schemas() {
            let _ = writeln!(s, "  {:<18} {}", t.name, t.comment);
            let cols: Vec<String> = t.columns.iter().map(|c| format!("{} {}", c.name, c.sql_type)).collect();
            let _ = writeln!(s, "      columns: {}", cols.join(", "));
            if let Some(rule) = self.tables.iter().find(|d| d.name == t.name).and_then(|d| d.when.as_ref()) {
                let _ = writeln!(s, "      takes:   only {rule} (other items write no row here; a REMOVE writes none)");
            }
        }
        s
    }
}
