//! Reading a spec file into a [`LakeSpec`]: one short check per section of the file, each
//! refusing what it cannot use with the file, the line and the fix ([`SpecError`]).
//!
//! [`read`] parses the TOML into the file model ([`super::file`]) and then checks its sections
//! in the order of the reference (`docs/lake-spec.md`): `[source]`, `[lake]`, `[format]`,
//! `[partitioning]`, `[backfill]`, `[tenant]`, `[redaction]`, every `[[tables]]` with its
//! columns, and every `[[entities]]`. A check reads only its section and what earlier
//! sections settled.

use std::collections::HashSet;

use toml::Spanned;

use super::file::{
    BackfillSection, ColumnSection, EntitySection, FormatSection, LakeSection, PartitioningSection, RedactionSection,
    SourceSection, SpecFile, TableSection, TenantSection, WhenSection,
};
use super::{
    is_identifier, ColumnType, DeclaredColumn, DeclaredTable, Entity, EntityRule, LakeLocation, LakeSpec, RedactAction,
    Redaction, SpecError, TenantRule, DEFAULT_SORT_KEY, MAX_SNAPSHOT_MARGIN_SECONDS,
};
use crate::path::{AttributePath, Segment};
use crate::schema::{
    BuiltInTable, COMMON_COLUMNS, COMPACTED_SUFFIX, ELEMENT_INDEX_COLUMN, PARTITION_COLUMN, STATE_SUFFIX,
};

/// The spec `text` from `file` (which messages name), checked section by section.
pub(super) fn read(text: &str, file: &str) -> Result<LakeSpec, SpecError> {
    let t = SpecText { file, text };
    let raw = t.parse()?;
    let mut spec = LakeSpec { origin: file.to_owned(), ..LakeSpec::default() };
    t.source(&raw.source, &mut spec)?;
    t.lake(&raw.lake, &mut spec)?;
    if let Some(f) = &raw.format {
        t.format(f, &mut spec)?;
    }
    if let Some(p) = &raw.partitioning {
        t.partitioning(p, &mut spec)?;
    }
    if let Some(b) = &raw.backfill {
        t.backfill(b, &mut spec)?;
    }
    if let Some(tenant) = &raw.tenant {
        spec.tenant = Some(t.tenant(tenant)?);
    }
    if let Some(r) = &raw.redaction {
        t.redaction(r, &mut spec)?;
    }
    t.tenant_is_kept(raw.tenant.as_ref(), &spec)?;
    let mut table_names: HashSet<String> = BuiltInTable::ALL.iter().map(|t| t.name().to_string()).collect();
    for table in &raw.tables {
        let declared = t.table(table, &spec, &mut table_names)?;
        spec.tables.push(declared);
    }
    for entity in &raw.entities {
        let e = t.entity(entity, &spec)?;
        spec.entities.push(e);
    }
    Ok(spec)
}

/// The spec being read, its file name and text: turns a span into the line of an error.
struct SpecText<'a> {
    file: &'a str,
    text: &'a str,
}

impl SpecText<'_> {
    /// The 1-based line of byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.text.as_bytes()[..offset.min(self.text.len())].iter().filter(|&&b| b == b'\n').count() + 1
    }
    /// The error at `span` (its line), saying what is wrong and the fix.
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
    /// A Glue/Athena name, or an error suggesting one.
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
    /// An attribute path, or the parse error at its line.
    fn path(&self, s: &Spanned<String>) -> Result<AttributePath, SpecError> {
        AttributePath::parse(s.get_ref()).or_else(|e| {
            self.err(
                Some(s.span()),
                e.to_string(),
                "write paths as name.name[3].name, `[]` for every element, and [\"odd name\"] for names with other characters",
            )
        })
    }

    /// The file model of the text, or the TOML error at its line.
    fn parse(&self) -> Result<SpecFile, SpecError> {
        match toml::from_str(self.text) {
            Ok(raw) => Ok(raw),
            Err(e) => {
                let message = e.message().trim().to_owned();
                let fix = if message.contains("unknown field") {
                    "remove or rename the key; docs/lake-spec.md lists every key"
                } else if message.contains("missing field") {
                    "add the key; docs/lake-spec.md shows a complete example"
                } else {
                    "fix the TOML syntax at that line"
                };
                self.err(e.span(), message, fix)
            }
        }
    }

    /// `[source]`: the DynamoDB table and its key attributes.
    fn source(&self, source: &SourceSection, spec: &mut LakeSpec) -> Result<(), SpecError> {
        let table = source.table.get_ref().trim();
        if table.is_empty() || table.len() > 255 {
            return self.err(
                Some(source.table.span()),
                "source.table is empty or longer than 255",
                "name the DynamoDB table",
            );
        }
        spec.source_table = table.to_owned();
        if let Some(pk) = &source.partition_key {
            if pk.get_ref().is_empty() {
                return self.err(
                    Some(pk.span()),
                    "source.partition_key is empty",
                    "name the table's partition key attribute",
                );
            }
            spec.partition_key = pk.get_ref().clone();
        }
        spec.sort_key = match &source.sort_key {
            Some(sk) if sk.get_ref().is_empty() => None,
            Some(sk) => Some(sk.get_ref().clone()),
            None => Some(DEFAULT_SORT_KEY.into()),
        };

        Ok(())
    }

    /// `[lake]`: where the lake is and its Glue database.
    fn lake(&self, lake: &LakeSection, spec: &mut LakeSpec) -> Result<(), SpecError> {
        spec.location =
            match LakeLocation::parse(lake.location.get_ref()) {
                Some(l) => l,
                None => return self.err(
                    Some(lake.location.span()),
                    format!("lake.location `{}` is not an S3 location", lake.location.get_ref()),
                    "write s3://bucket/prefix: a valid bucket name, prefix folders of letters, digits, `_-.=`, no `..`",
                ),
            };
        if let Some(db) = &lake.database {
            spec.database = self.identifier("lake.database", db)?;
        }

        Ok(())
    }

    /// `[format]`: the row format (only `tsv`) and the gzip level.
    fn format(&self, f: &FormatSection, spec: &mut LakeSpec) -> Result<(), SpecError> {
        if let Some(k) = &f.kind {
            if k.get_ref() != "tsv" {
                return self.err(
                    Some(k.span()),
                    format!("format.kind `{}` is not supported", k.get_ref()),
                    "use kind = \"tsv\" (LazySimpleSerDe, see docs/row-format.md)",
                );
            }
        }
        if let Some(l) = &f.gzip_level {
            if !(0..=9).contains(l.get_ref()) {
                return self.err(
                    Some(l.span()),
                    format!("format.gzip_level {} is out of range", l.get_ref()),
                    "use 0 (store) to 9 (smallest); 1 is the default",
                );
            }
            spec.gzip_level = *l.get_ref() as u32;
        }
        Ok(())
    }

    /// `[partitioning]`: day partitions and the first day of the projection.
    fn partitioning(&self, p: &PartitioningSection, spec: &mut LakeSpec) -> Result<(), SpecError> {
        if let Some(g) = &p.granularity {
            if g.get_ref() != "day" {
                return self.err(
                    Some(g.span()),
                    format!("partitioning.granularity `{}` is not supported", g.get_ref()),
                    "use granularity = \"day\" (dt=YYYY-MM-DD)",
                );
            }
        }
        if let Some(s) = &p.projection_start {
            if !valid_day(s.get_ref()) {
                return self.err(
                    Some(s.span()),
                    format!("partitioning.projection_start `{}` is not a date", s.get_ref()),
                    "write YYYY-MM-DD, the first day the lake may hold",
                );
            }
            spec.projection_start = s.get_ref().clone();
        }
        Ok(())
    }

    /// `[backfill]`: the margin W of a snapshot.
    fn backfill(&self, b: &BackfillSection, spec: &mut LakeSpec) -> Result<(), SpecError> {
        if let Some(m) = &b.margin_seconds {
            if !(0..=MAX_SNAPSHOT_MARGIN_SECONDS).contains(m.get_ref()) {
                return self.err(
                    Some(m.span()),
                    format!("backfill.margin_seconds {} is out of range", m.get_ref()),
                    "give 0 to 86400 seconds: how far before the export's time stream records still win over it (default 300)",
                );
            }
            spec.snapshot_margin_seconds = *m.get_ref() as u32;
        }
        Ok(())
    }

    /// `[tenant]`: which attribute, or which part of the partition key, names the tenant.
    fn tenant(&self, t: &TenantSection) -> Result<TenantRule, SpecError> {
        match (&t.attribute, &t.key_prefix) {
            (Some(a), None) if !a.get_ref().is_empty() => Ok(TenantRule::Attribute(a.get_ref().clone())),
            (None, Some(p)) => Ok(TenantRule::KeyPrefix {
                prefix: p.get_ref().clone(),
                separator: t.separator.clone().unwrap_or_else(|| "#".into()),
            }),
            (Some(a), Some(_)) => self.err(
                Some(a.span()),
                "tenant has both attribute and key_prefix",
                "keep one: attribute = \"clientKey\" or key_prefix = \"CLIENT#\"",
            ),
            _ => self.err(
                None,
                "[tenant] needs attribute or key_prefix",
                "add attribute = \"clientKey\" or key_prefix = \"CLIENT#\", or remove [tenant]",
            ),
        }
    }

    /// `[redaction]`: the key's variable, the default drop, the names it keeps, the rules
    /// (never on a key attribute).
    fn redaction(&self, r: &RedactionSection, spec: &mut LakeSpec) -> Result<(), SpecError> {
        let mut keys = vec![spec.partition_key.clone()];
        keys.extend(spec.sort_key.clone());
        if let Some(env) = &r.key_env {
            let ok = !env.get_ref().is_empty()
                && env.get_ref().bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
            if !ok {
                return self.err(
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
            return self.err(None, "more than 64 redaction rules", "merge rules on a common parent path");
        }
        for rule in &r.rule {
            let path = self.path(&rule.path)?;
            if let Some(Segment::Name(first)) = path.0.first() {
                if path.0.len() == 1 && keys.contains(first) {
                    return self.err(
                        Some(rule.path.span()),
                        format!("`{first}` is a key attribute and cannot be redacted"),
                        "key attributes identify items; redact other attributes",
                    );
                }
            }
            spec.redactions.push(Redaction { path, action: *rule.action.get_ref() });
        }
        Ok(())
    }

    /// A tenant attribute is written in every table: neither the default drop nor a drop rule
    /// may take it.
    fn tenant_is_kept(&self, section: Option<&TenantSection>, spec: &LakeSpec) -> Result<(), SpecError> {
        if let Some(TenantRule::Attribute(a)) = &spec.tenant {
            let tenant_path = AttributePath(vec![Segment::Name(a.clone())]);
            if let Some((name, pattern)) = spec.default_dropped(&tenant_path) {
                return self.err(
                    section.and_then(|t| t.attribute.as_ref()).map(|a| a.span()),
                    format!("tenant.attribute `{name}` looks like a secret (its name contains `{pattern}`) and is dropped by default"),
                    format!("add a rule path = \"{a}\", action = \"hash\" (the tenant column then holds the hash), or [redaction] keep = [\"{name}\"]"),
                );
            }
            if let Some(r) =
                spec.redactions.iter().find(|r| r.action == RedactAction::Drop && tenant_path.may_start_with(&r.path))
            {
                return self.err(
                    section.and_then(|t| t.attribute.as_ref()).map(|a| a.span()),
                    format!("tenant.attribute `{a}` is dropped by redaction rule `{}`: every table's tenant column would hold it", r.path),
                    "make that rule action = \"hash\" (the tenant column then holds the hash), or take the tenant from another attribute",
                );
            }
        }
        Ok(())
    }

    /// One `[[tables]]`: a name no other table has (`names` holds those taken), an explode
    /// path, at least one column.
    fn table(
        &self,
        t: &TableSection,
        spec: &LakeSpec,
        names: &mut HashSet<String>,
    ) -> Result<DeclaredTable, SpecError> {
        let name = self.identifier("table name", &t.name)?;
        if !names.insert(name.clone()) {
            return self.err(
                Some(t.name.span()),
                format!("table `{name}` is declared twice (or is a built-in table)"),
                "give every table its own name; `changes`, `attributes`, `_rejects`, `snapshots` and `compactions` are always there",
            );
        }
        if let Some(suffix) = [COMPACTED_SUFFIX, STATE_SUFFIX].into_iter().find(|s| name.ends_with(s)) {
            return self.err(
                Some(t.name.span()),
                format!("table name `{name}` ends in `{suffix}`, which names the Parquet tables of compaction"),
                format!("choose a name that does not end in `{COMPACTED_SUFFIX}` or `{STATE_SUFFIX}`"),
            );
        }
        let explode = match &t.explode {
            Some(e) => Some(self.explode(e)?),
            None => None,
        };
        if t.columns.is_empty() {
            return self.err(
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
            columns.push(self.column(c, &name, explode.as_ref(), spec, &mut col_names)?);
        }
        let when = match &t.when {
            Some(w) => Some(self.when(w, &format!("table `{name}`"), "[tables.when]", spec)?),
            None => None,
        };
        Ok(DeclaredTable { name, comment: t.comment.clone(), explode, columns, when })
    }

    /// A table's `[tables.when]`: exactly one of `sk_prefix`, `pk_prefix`, or `attribute` with
    /// `equals`, none of them empty.
    /// A `when` rule of `owner` (`table `x``, `entity `y``), written in `section`.
    fn when(
        &self,
        w: &Spanned<WhenSection>,
        owner: &str,
        section: &str,
        spec: &LakeSpec,
    ) -> Result<EntityRule, SpecError> {
        let (span, name) = (Some(w.span()), owner);
        let fix = "write one of: sk_prefix = \"SYNC#\", pk_prefix = \"CLIENT#\", or attribute = \"entityType\" with equals = \"SyncConfig\"";
        let w = w.get_ref();
        let given = [w.sk_prefix.is_some(), w.pk_prefix.is_some(), w.attribute.is_some() || w.equals.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return self.err(span, format!("{name}: {section} needs exactly one rule"), fix);
        }
        let non_empty = |v: &Option<String>, key: &str| -> Result<Option<String>, SpecError> {
            match v {
                Some(s) if s.is_empty() => {
                    self.err(span.clone(), format!("{name}: when.{key} is empty (it would take every item)"), fix)
                }
                other => Ok(other.clone()),
            }
        };
        if let Some(p) = non_empty(&w.sk_prefix, "sk_prefix")? {
            if spec.sort_key.is_none() {
                return self.err(
                    span,
                    format!("{name}: when.sk_prefix needs a sort key, and the table has none ([source] sort_key)"),
                    "use pk_prefix, or attribute with equals",
                );
            }
            return Ok(EntityRule::SkPrefix(p));
        }
        if let Some(p) = non_empty(&w.pk_prefix, "pk_prefix")? {
            return Ok(EntityRule::PkPrefix(p));
        }
        match (non_empty(&w.attribute, "attribute")?, non_empty(&w.equals, "equals")?) {
            (Some(attribute), Some(equals)) => Ok(EntityRule::Attribute { attribute, equals }),
            _ => self.err(span, format!("{name}: when.attribute and when.equals go together"), fix),
        }
    }

    /// One `[[entities]]`: a name no other entity has, and a rule no item can meet together
    /// with an earlier entity's (an item is one entity or none).
    fn entity(&self, e: &EntitySection, spec: &LakeSpec) -> Result<Entity, SpecError> {
        let name = self.identifier("entity", &e.name)?;
        if spec.entities.iter().any(|x| x.name == name) {
            return self.err(
                Some(e.name.span()),
                format!("entity `{name}` is declared twice"),
                "give every [[entities]] entry its own name",
            );
        }
        let Some(w) = &e.when else {
            return self.err(
                Some(e.name.span()),
                format!("entity `{name}` has no [entities.when]: it would take every item"),
                "add [entities.when] after its name, with sk_prefix, pk_prefix, or attribute and equals",
            );
        };
        let when = self.when(w, &format!("entity `{name}`"), "[entities.when]", spec)?;
        let key = (spec.partition_key.as_str(), spec.sort_key.as_deref());
        if let Some(other) = spec.entities.iter().find(|x| !x.when.excludes(&when, key.0, key.1)) {
            return self.err(
                Some(w.span()),
                format!(
                    "entities `{}` and `{name}` overlap: one item can be both ({} and {when})",
                    other.name, other.when
                ),
                "give the entities rules on the same key or attribute that no item meets twice, e.g. \
                 sk_prefix = \"SYNC#\" and sk_prefix = \"USER#\", or attribute = \"entityType\" with a different equals each",
            );
        }
        Ok(Entity { name, when })
    }

    /// A table's `explode`: the path of one list, without positions.
    fn explode(&self, e: &Spanned<String>) -> Result<AttributePath, SpecError> {
        let p = self.path(e)?;
        if p.has_each() || p.0.iter().any(|s| matches!(s, Segment::Index(_))) {
            return self.err(
                Some(e.span()),
                format!("explode `{}` must name one list, without positions", e.get_ref()),
                "write the list's path, e.g. explode = \"fieldMappings\"",
            );
        }
        Ok(p)
    }

    /// One column of table `name`: a name the table does not have yet (`names`), a path (`[]`
    /// only right under the table's explode path), a type, and nothing the redaction drops.
    fn column(
        &self,
        c: &ColumnSection,
        name: &str,
        explode: Option<&AttributePath>,
        spec: &LakeSpec,
        names: &mut HashSet<String>,
    ) -> Result<DeclaredColumn, SpecError> {
        let cname = self.identifier("column name", &c.name)?;
        if !names.insert(cname.clone()) {
            return self.err(
                Some(c.name.span()),
                format!("column `{cname}` appears twice in table `{name}` (or reuses a column every table has)"),
                format!(
                    "rename it; every table already has {}, {} and {}",
                    COMMON_COLUMNS.join(", "),
                    ELEMENT_INDEX_COLUMN,
                    PARTITION_COLUMN
                ),
            );
        }
        let path = self.path(&c.path)?;
        if path.has_each() {
            let under_explode = explode.is_some_and(|e| {
                path.0.len() > e.0.len()
                    && path.0[..e.0.len()] == e.0[..]
                    && path.0[e.0.len()] == Segment::Each
                    && !path.0[e.0.len() + 1..].contains(&Segment::Each)
            });
            if !under_explode {
                return self.err(
                    Some(c.path.span()),
                    format!("path `{}` uses `[]` outside the exploded list", c.path.get_ref()),
                    "`[]` may only follow the table's explode path once, e.g. fieldMappings[].fieldId",
                );
            }
        }
        let kind = match ColumnType::parse(c.kind.get_ref()) {
            Some(k) => k,
            None => {
                return self.err(
                    Some(c.kind.span()),
                    format!("type `{}` is not known", c.kind.get_ref()),
                    "use string, bigint, int, double, boolean or decimal(p,s) with 1 <= p <= 38, s <= p",
                )
            }
        };
        let hashed = self.column_redaction(c, &cname, name, &path, kind, spec)?;
        Ok(DeclaredColumn { name: cname, path, kind, comment: c.comment.clone(), hashed })
    }

    /// What redaction does to column `cname` of table `name`, which reads `path`: whether a
    /// rule hashes it. A column the default drop or a drop rule takes is refused, and so is a
    /// hashed one of a type other than string.
    fn column_redaction(
        &self,
        c: &ColumnSection,
        cname: &str,
        name: &str,
        path: &AttributePath,
        kind: ColumnType,
        spec: &LakeSpec,
    ) -> Result<bool, SpecError> {
        if let Some((secret, pattern)) = spec.default_dropped(path) {
            return self.err(
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
                        return self.err(
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
                        return self.err(
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
        Ok(hashed)
    }
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

fn valid_day(text: &str) -> bool {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() && text.len() == 10
}
