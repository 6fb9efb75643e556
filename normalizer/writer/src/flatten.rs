//! Flattening: one decoded stream record → encoded rows for every table.
//!
//! Called by [`crate::batch`] once per record. Rows are encoded straight into per-table
//! buffers (no intermediate row structs); the caller appends them to the table's object only
//! when the whole record succeeded, so a record that fails half-way leaves nothing behind.
//! The columns written are exactly those of [`ddb_lake_core::spec::LakeSpec::item_table_schemas`].

use std::borrow::Cow;
use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::record::{AttributeValue, EventName, Item, StreamRecord, Text};
use ddb_lake_core::number::{self, NumberFitError};
use ddb_lake_core::path::{push_index, push_name, Segment};
use ddb_lake_core::rowfmt::{end_row, push_delimiter, push_field, push_null, push_opt, push_timestamp};
use ddb_lake_core::schema::BuiltInTable;
use ddb_lake_core::spec::{ColumnType, DeclaredTable, LakeSpec, RedactAction, TenantRule, DEFAULT_SECRET_NAMES};

/// Position of the `changes` table in [`RecordRows`].
const CHANGES: usize = BuiltInTable::Changes.index();
/// Position of the `attributes` table in [`RecordRows`].
const ATTRIBUTES: usize = BuiltInTable::Attributes.index();

/// Why a record cannot be flattened under the spec (the record goes to quarantine).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlattenError {
    /// A value does not fit the type its declared column asks for.
    #[error(transparent)]
    TypeConflict(Box<TypeConflict>),
    /// The explode path holds something other than a list or set.
    #[error("table `{table}` explodes `{path}`, but the item has a {found} there, not a list or set")]
    NotAList {
        /// Table name.
        table: String,
        /// Explode path.
        path: String,
        /// DynamoDB type found.
        found: &'static str,
    },
}

/// A value that does not fit its declared column.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("table `{table}` column `{column}`: value at `{path}` is {found}, which {reason} for type {expected}")]
pub struct TypeConflict {
    /// Table name.
    pub table: String,
    /// Column name.
    pub column: String,
    /// Path of the value.
    pub path: String,
    /// Declared type.
    pub expected: String,
    /// DynamoDB type found.
    pub found: &'static str,
    /// Why it does not fit.
    pub reason: String,
}

/// Fewest bytes a redaction key may have.
pub const MIN_REDACTION_KEY_BYTES: usize = 16;

/// The redaction key is needed but missing or too short.
#[derive(Debug, thiserror::Error)]
pub enum RedactionKeyError {
    /// No key was given.
    #[error("the spec hashes values (a redaction rule has action = \"hash\") but no key was given: set {from} to a secret of at least {MIN_REDACTION_KEY_BYTES} bytes")]
    Missing {
        /// Where the key should come from (the environment variable the spec names).
        from: String,
    },
    /// The key given is shorter than [`MIN_REDACTION_KEY_BYTES`].
    #[error("the redaction key in {from} is {length} bytes long; it must be at least {MIN_REDACTION_KEY_BYTES} bytes (e.g. openssl rand -hex 32)")]
    TooShort {
        /// Where the key came from.
        from: String,
        /// Its length.
        length: usize,
    },
}

/// Encoded rows of one record, per table (index = position in `LakeSpec::item_table_schemas`).
#[derive(Debug, Default)]
pub struct RecordRows {
    /// Encoded rows (each ends with LF), per table.
    pub bufs: Vec<Vec<u8>>,
    /// Row count, per table.
    pub rows: Vec<u64>,
}

impl RecordRows {
    fn reset(&mut self, tables: usize) {
        self.bufs.resize_with(tables, Vec::new);
        self.rows.resize(tables, 0);
        for b in &mut self.bufs {
            b.clear();
        }
        for r in &mut self.rows {
            *r = 0;
        }
    }
}

/// Turns records into rows under one spec. Built once, used for every record.
pub struct Flattener<'s> {
    spec: &'s LakeSpec,
    rules: Vec<(Vec<Segment>, RedactAction)>,
    mac: Option<Hmac<Sha256>>,
    table_count: usize,
    /// What the redaction rules do to the tenant attribute (`[tenant] attribute`).
    tenant_action: Option<RedactAction>,
    /// The default drop of names that look like secrets, unless the spec turns it off.
    secrets: Option<aho_corasick::AhoCorasick>,
    /// Names the default drop keeps, ASCII lowercase.
    keep_names: Vec<String>,
    /// Per declared table, per column: whether redaction can reach the column's path at all
    /// (a rule on, above or below it, or a name on it the default drop takes). The others
    /// skip the per-row walk of their path.
    redacted_columns: Vec<Vec<bool>>,
}

/// The `attributes` rows of one record, written while its new image is walked: the
/// common columns' prefix, the output, the row count, and the path of the value at hand.
struct AttributeRows<'r> {
    prefix: &'r [u8],
    out: &'r mut Vec<u8>,
    rows: u64,
    path: String,
    changed_known: bool,
}

impl<'s> Flattener<'s> {
    /// Prepares a flattener. `redaction_key` is required when the spec hashes values.
    /// Outside this crate, build a [`crate::batch::Normalizer`], which holds one.
    pub(crate) fn new(
        spec: &'s LakeSpec,
        redaction_key: Option<&[u8]>,
        key_source: &str,
    ) -> Result<Self, RedactionKeyError> {
        let mac = match redaction_key {
            Some(k) if k.len() < MIN_REDACTION_KEY_BYTES && spec.needs_redaction_key() => {
                return Err(RedactionKeyError::TooShort { from: key_source.to_owned(), length: k.len() })
            }
            Some(k) if k.len() >= MIN_REDACTION_KEY_BYTES => Hmac::<Sha256>::new_from_slice(k).ok(),
            _ => None,
        };
        if spec.needs_redaction_key() && mac.is_none() {
            return Err(RedactionKeyError::Missing { from: key_source.to_owned() });
        }
        let mut flattener = Flattener {
            spec,
            rules: spec.redactions.iter().map(|r| (r.path.0.clone(), r.action)).collect(),
            mac,
            // The item tables, the declared ones, then `_rejects`.
            table_count: BuiltInTable::ITEM_TABLES.len() + spec.tables.len() + 1,
            tenant_action: None,
            // The patterns are fixed ASCII words: building the matcher cannot fail.
            secrets: spec.default_drop.then(|| {
                aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(DEFAULT_SECRET_NAMES)
                    .expect("the default secret names build a matcher")
            }),
            keep_names: spec.keep_names.clone(),
            redacted_columns: Vec::new(),
        };
        flattener.redacted_columns = spec
            .tables
            .iter()
            .map(|t| {
                t.columns
                    .iter()
                    .map(|c| {
                        spec.redactions.iter().any(|r| c.path.may_start_with(&r.path) || r.path.may_start_with(&c.path))
                            || c.path.0.iter().any(|s| matches!(s, Segment::Name(n) if flattener.looks_secret(n)))
                    })
                    .collect()
            })
            .collect();
        if let Some(TenantRule::Attribute(name)) = &spec.tenant {
            flattener.tenant_action = flattener.redaction_along(&[Segment::Name(name.clone())], None).1;
        }
        Ok(flattener)
    }

    /// Number of tables (built-in and declared).
    pub fn table_count(&self) -> usize {
        self.table_count
    }

    /// Flattens one record into `out` (cleared first).
    pub fn flatten(&self, rec: &StreamRecord<'_>, out: &mut RecordRows) -> Result<(), FlattenError> {
        out.reset(self.table_count);
        let mut prefix = Vec::with_capacity(256);
        self.common_prefix(rec, &mut prefix);

        // changes
        {
            let b = &mut out.bufs[CHANGES];
            b.extend_from_slice(&prefix);
            push_delimiter(b);
            push_opt(b, rec.event_id.as_ref().map(Text::as_str));
            push_delimiter(b);
            push_opt(b, rec.stream_view_type.as_ref().map(Text::as_str));
            push_delimiter(b);
            match rec.size_bytes {
                Some(n) => push_field(b, itoa_buf(n).as_str()),
                None => push_null(b),
            }
            push_delimiter(b);
            push_field(b, if rec.ttl_delete { "true" } else { "false" });
            push_delimiter(b);
            push_opt(b, rec.principal.as_ref().map(Text::as_str));
            push_delimiter(b);
            push_opt(b, changed_attributes(rec, |name| self.is_dropped_attribute(name)).as_deref());
            end_row(b);
            out.rows[CHANGES] = 1;
        }

        let Some(image) = rec.new_image.as_ref() else {
            return Ok(());
        };

        // attributes
        {
            let old = match rec.event_name {
                EventName::Modify => rec.old_image.as_ref(),
                _ => None,
            };
            let changed_known = rec.event_name == EventName::Insert || old.is_some();
            let mut walk = AttributeRows {
                prefix: &prefix,
                out: &mut out.bufs[ATTRIBUTES],
                rows: 0,
                path: String::with_capacity(64),
                changed_known,
            };
            self.walk_map(image, old, 0, self.all_rules(), &mut walk);
            out.rows[ATTRIBUTES] = walk.rows;
        }

        // declared tables, and the cells they reject
        let rejects_at = self.table_count - 1;
        let mut rejects = Rejects { prefix: &prefix, buf: std::mem::take(&mut out.bufs[rejects_at]), rows: 0 };
        for (k, table) in self.spec.tables.iter().enumerate() {
            let idx = BuiltInTable::ITEM_TABLES.len() + k;
            let (buf, rows) = (&mut out.bufs[idx], &mut out.rows[idx]);
            self.declared_rows(table, &self.redacted_columns[k], image, &prefix, buf, rows, &mut rejects);
        }
        out.rows[rejects_at] = rejects.rows;
        out.bufs[rejects_at] = rejects.buf;
        Ok(())
    }

    fn common_prefix(&self, rec: &StreamRecord<'_>, b: &mut Vec<u8>) {
        push_field(b, rec.event_name.as_str());
        push_delimiter(b);
        if rec.event_name == EventName::Snapshot {
            push_null(b);
        } else {
            push_field(b, rec.sequence_number.as_str());
        }
        push_delimiter(b);
        push_timestamp(b, rec.event_time_millis);
        push_delimiter(b);
        push_opt(b, self.tenant(rec).as_deref());
        push_delimiter(b);
        push_field(b, &item_key_json(&rec.keys));
        push_delimiter(b);
        push_opt(b, rec.keys.get(&self.spec.partition_key).map(scalar_or_json).as_deref());
        push_delimiter(b);
        push_opt(b, self.spec.sort_key.as_deref().and_then(|k| rec.keys.get(k)).map(scalar_or_json).as_deref());
    }

    fn tenant(&self, rec: &StreamRecord<'_>) -> Option<String> {
        match self.spec.tenant.as_ref()? {
            TenantRule::Attribute(name) => {
                let v = rec
                    .new_image
                    .as_ref()
                    .and_then(|i| i.get(name))
                    .or_else(|| rec.old_image.as_ref().and_then(|i| i.get(name)))
                    .or_else(|| rec.keys.get(name))?;
                let text = v.scalar_text()?;
                match self.tenant_action {
                    None => Some(text.to_owned()),
                    Some(RedactAction::Hash) => Some(self.hash(text)),
                    // The spec refuses a dropped tenant attribute; never write it all the same.
                    Some(RedactAction::Drop) => None,
                }
            }
            TenantRule::KeyPrefix { prefix, separator } => {
                let pk = rec.keys.get(&self.spec.partition_key)?.scalar_text()?;
                let rest = pk.strip_prefix(prefix.as_str())?;
                let end =
                    if separator.is_empty() { rest.len() } else { rest.find(separator.as_str()).unwrap_or(rest.len()) };
                Some(rest[..end].to_owned())
            }
        }
    }

    /// Which rules stay on the path after stepping onto `seg` at `depth`.
    fn step(&self, active: u64, depth: usize, seg: PathStep<'_>) -> u64 {
        if active == 0 {
            return 0;
        }
        let mut next = 0;
        for (k, (segs, _)) in self.rules.iter().enumerate() {
            if active & (1 << k) == 0 || segs.len() <= depth {
                continue;
            }
            let ok = match (&segs[depth], seg) {
                (Segment::Name(n), PathStep::Name(s)) => n == s,
                (Segment::Each, PathStep::Index(_)) => true,
                (Segment::Index(i), PathStep::Index(j)) => *i == j,
                _ => false,
            };
            if ok {
                next |= 1 << k;
            }
        }
        next
    }

    /// The action of a rule that ends exactly at `depth` (drop wins over hash).
    fn action_at(&self, active: u64, depth: usize) -> Option<RedactAction> {
        if active == 0 {
            return None;
        }
        let mut found = None;
        for (k, (segs, action)) in self.rules.iter().enumerate() {
            if active & (1 << k) != 0 && segs.len() == depth {
                if *action == RedactAction::Drop {
                    return Some(RedactAction::Drop);
                }
                found = Some(*action);
            }
        }
        found
    }

    fn walk_map(&self, item: &Item<'_>, old: Option<&Item<'_>>, depth: usize, active: u64, w: &mut AttributeRows<'_>) {
        // Every name is looked up in the old map: by name, not by a scan per name.
        let old = old.map(Item::by_name);
        for (name, value) in item {
            let (act, action) = self.step_onto(active, depth, PathStep::Name(name.as_str()));
            if action == Some(RedactAction::Drop) {
                continue;
            }
            let mark = w.path.len();
            push_name(&mut w.path, name.as_str());
            let old_value = old.as_ref().and_then(|o| o.get(name.as_str()));
            self.walk_value(value, old_value, depth + 1, act, w);
            w.path.truncate(mark);
        }
    }

    fn walk_value(
        &self,
        v: &AttributeValue<'_>,
        old: Option<&AttributeValue<'_>>,
        depth: usize,
        active: u64,
        w: &mut AttributeRows<'_>,
    ) {
        if active != 0 {
            match self.action_at(active, depth) {
                Some(RedactAction::Drop) => return,
                Some(RedactAction::Hash) => {
                    let text = value_text(v);
                    let hashed = self.hash(&text);
                    let changed = w.changed_known.then(|| old != Some(v));
                    emit(w, v.type_name(), Some(&hashed), changed);
                    return;
                }
                None => {}
            }
        }
        match v {
            AttributeValue::M(m) if !m.is_empty() => {
                let old_map = match old {
                    Some(AttributeValue::M(o)) => Some(o),
                    _ => None,
                };
                // A map that replaced a non-map: every leaf changed.
                let old_map = if old.is_some() && old_map.is_none() { Some(&EMPTY_ITEM) } else { old_map };
                self.walk_map(m, old_map, depth, active, w);
            }
            AttributeValue::L(l) if !l.is_empty() => {
                let old_list = match old {
                    Some(AttributeValue::L(o)) => Some(o.as_slice()),
                    Some(_) => Some(&[][..]),
                    None => None,
                };
                for (i, e) in l.iter().enumerate() {
                    let mark = w.path.len();
                    push_index(&mut w.path, i);
                    let act = self.step(active, depth, PathStep::Index(i));
                    let old_e = old_list.map(|o| o.get(i));
                    self.walk_value(e, old_e.flatten(), depth + 1, act, w);
                    w.path.truncate(mark);
                }
            }
            AttributeValue::Ss(s) | AttributeValue::Ns(s) | AttributeValue::Bs(s) => {
                let old_set = match (v, old) {
                    (AttributeValue::Ss(_), Some(AttributeValue::Ss(o)))
                    | (AttributeValue::Ns(_), Some(AttributeValue::Ns(o)))
                    | (AttributeValue::Bs(_), Some(AttributeValue::Bs(o))) => Some(o.as_slice()),
                    _ => None,
                };
                for (i, e) in s.iter().enumerate() {
                    let mark = w.path.len();
                    push_index(&mut w.path, i);
                    let act = self.step(active, depth, PathStep::Index(i));
                    match self.action_at(act, depth + 1) {
                        Some(RedactAction::Drop) => {}
                        other => {
                            let changed = w.changed_known.then(|| !old_set.is_some_and(|o| o.contains(e)));
                            if other == Some(RedactAction::Hash) {
                                let h = self.hash(e.as_str());
                                emit(w, v.type_name(), Some(&h), changed);
                            } else {
                                emit(w, v.type_name(), Some(e.as_str()), changed);
                            }
                        }
                    }
                    w.path.truncate(mark);
                }
            }
            _ => {
                let changed = w.changed_known.then(|| old != Some(v));
                let value = match v {
                    AttributeValue::Bool(b) => Some(if *b { "true" } else { "false" }),
                    other => other.scalar_text(),
                };
                emit(w, v.type_name(), value, changed);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn declared_rows(
        &self,
        table: &DeclaredTable,
        redacted: &[bool],
        image: &Item<'_>,
        prefix: &[u8],
        buf: &mut Vec<u8>,
        rows: &mut u64,
        rejects: &mut Rejects<'_>,
    ) {
        let Some(explode) = &table.explode else {
            buf.extend_from_slice(prefix);
            self.declared_columns(table, redacted, image, None, buf, rejects);
            end_row(buf);
            *rows += 1;
            return;
        };
        // Set elements become scalar values; list elements are borrowed as they are.
        let elements: Vec<Cow<'_, AttributeValue<'_>>> = match lookup(image, &explode.0) {
            None | Some(AttributeValue::Null) => return,
            Some(AttributeValue::L(l)) => l.iter().map(Cow::Borrowed).collect(),
            Some(AttributeValue::Ss(s)) => s.iter().map(|t| Cow::Owned(AttributeValue::S(t.clone()))).collect(),
            Some(AttributeValue::Ns(s)) => s.iter().map(|t| Cow::Owned(AttributeValue::N(t.clone()))).collect(),
            Some(AttributeValue::Bs(s)) => s.iter().map(|t| Cow::Owned(AttributeValue::B(t.clone()))).collect(),
            Some(other) => {
                // No rows for this item in the table; the reject says why.
                let e = FlattenError::NotAList {
                    table: table.name.clone(),
                    path: explode.to_string(),
                    found: other.type_name(),
                };
                rejects.push(&table.name, None, &explode.to_string(), None, &e.to_string());
                return;
            }
        };
        for (i, e) in elements.iter().enumerate() {
            buf.extend_from_slice(prefix);
            push_delimiter(buf);
            push_field(buf, itoa_buf(i as i64).as_str());
            self.declared_columns(table, redacted, image, Some((explode.0.len(), i, e)), buf, rejects);
            end_row(buf);
            *rows += 1;
        }
    }

    fn declared_columns(
        &self,
        table: &DeclaredTable,
        redacted: &[bool],
        image: &Item<'_>,
        element: Option<(usize, usize, &AttributeValue<'_>)>,
        buf: &mut Vec<u8>,
        rejects: &mut Rejects<'_>,
    ) {
        for (c, &redacted) in table.columns.iter().zip(redacted) {
            let segs = &c.path.0;
            let (value, position) = match element {
                Some((n, i, e)) if segs.get(n) == Some(&Segment::Each) => (lookup_value(e, &segs[n + 1..]), Some(i)),
                _ => (lookup(image, segs), None),
            };
            push_delimiter(buf);
            let Some(v) = value.filter(|v| !matches!(v, AttributeValue::Null)) else {
                push_null(buf);
                continue;
            };
            let (active, action) = if redacted { self.redaction_along(segs, position) } else { (0, None) };
            if action == Some(RedactAction::Drop) {
                // The spec refuses such a column; never write the value all the same.
                push_null(buf);
                continue;
            }
            let container = matches!(
                v,
                AttributeValue::M(_)
                    | AttributeValue::L(_)
                    | AttributeValue::Ss(_)
                    | AttributeValue::Ns(_)
                    | AttributeValue::Bs(_)
            );
            let text = if c.kind == ColumnType::String
                && container
                && action.is_none()
                && (active != 0 || self.secrets.is_some())
            {
                // A parent of redacted values: its JSON without them.
                let mut s = String::new();
                self.write_json_redacted(v, segs.len(), active, &mut s);
                s
            } else {
                match convert(v, c.kind) {
                    Ok(text) => text,
                    Err(reason) => {
                        // The cell is NULL (as Athena shows a value it cannot parse); the
                        // record goes on and the reject says where and why.
                        let e = TypeConflict {
                            table: table.name.clone(),
                            column: c.name.clone(),
                            path: c.path.to_string(),
                            expected: c.kind.sql_name(),
                            found: v.type_name(),
                            reason,
                        };
                        rejects.push(&table.name, Some(&c.name), &e.path, element.map(|(_, i, _)| i), &e.to_string());
                        push_null(buf);
                        continue;
                    }
                }
            };
            match action {
                Some(_) => push_field(buf, &self.hash(&text)),
                None => push_field(buf, &text),
            }
        }
    }

    /// Whether a top-level attribute of this name is dropped whole: by a drop rule on it or by
    /// the default drop (a rule under it decides instead, as in the `attributes` walk).
    fn is_dropped_attribute(&self, name: &str) -> bool {
        self.step_onto(self.all_rules(), 0, PathStep::Name(name)).1 == Some(RedactAction::Drop)
    }

    /// Whether the default drop takes an attribute of this name (a rule on or under it
    /// decides instead; the caller checks that no rule is on the path).
    fn looks_secret(&self, name: &str) -> bool {
        match &self.secrets {
            Some(m) if m.is_match(name) => {
                self.keep_names.is_empty() || !self.keep_names.iter().any(|k| k.eq_ignore_ascii_case(name))
            }
            _ => false,
        }
    }

    /// The JSON of a record (or of a snapshot's line) to quarantine, with its images redacted
    /// as its rows would be: `dynamodb.NewImage`, `dynamodb.OldImage` and a line's `Item`
    /// (keys are never redacted). Dropped values are left out (a list element becomes NULL),
    /// hashed ones are `{"S": <hash>}`; a value under a rule whose type cannot be read is
    /// dropped. Returns the JSON and each redacted path with its action, in order.
    pub fn redact_for_quarantine(&self, raw: &str) -> (serde_json::Value, Vec<(String, RedactAction)>) {
        let mut log = Vec::new();
        let Ok(mut json) = serde_json::from_str::<serde_json::Value>(raw) else {
            // split_event read it as JSON: it cannot be anything else.
            return (serde_json::Value::Null, log);
        };
        let mut path = String::new();
        if let Some(change) = json.get_mut("dynamodb").and_then(|d| d.as_object_mut()) {
            for name in ["NewImage", "OldImage"] {
                if let Some(serde_json::Value::Object(image)) = change.get_mut(name) {
                    self.redact_image_json(image, 0, self.all_rules(), &mut path, &mut log);
                }
            }
        }
        if let Some(serde_json::Value::Object(item)) = json.get_mut("Item") {
            self.redact_image_json(item, 0, self.all_rules(), &mut path, &mut log);
        }
        (json, log)
    }

    fn redact_image_json(
        &self,
        image: &mut serde_json::Map<String, serde_json::Value>,
        depth: usize,
        active: u64,
        path: &mut String,
        log: &mut Vec<(String, RedactAction)>,
    ) {
        let names: Vec<String> = image.keys().cloned().collect();
        for name in names {
            let (below, action) = self.step_onto(active, depth, PathStep::Name(&name));
            let mark = path.len();
            push_name(path, &name);
            match action {
                Some(RedactAction::Drop) => {
                    image.remove(&name);
                    log.push((path.clone(), RedactAction::Drop));
                }
                Some(RedactAction::Hash) => {
                    if let Some(v) = image.get_mut(&name) {
                        *v = self.hashed_json(v);
                    }
                    log.push((path.clone(), RedactAction::Hash));
                }
                None => {
                    if let Some(v) = image.get_mut(&name) {
                        self.redact_typed_json(v, depth + 1, below, path, log);
                    }
                }
            }
            path.truncate(mark);
        }
    }

    fn redact_typed_json(
        &self,
        typed: &mut serde_json::Value,
        depth: usize,
        active: u64,
        path: &mut String,
        log: &mut Vec<(String, RedactAction)>,
    ) {
        use serde_json::Value;
        if active == 0 && self.secrets.is_none() {
            return;
        }
        let null = || serde_json::json!({ "NULL": true });
        let Some((kind, inner)) = typed.as_object_mut().and_then(|o| o.iter_mut().next()) else { return };
        match (kind.as_str(), inner) {
            ("M", Value::Object(m)) => self.redact_image_json(m, depth, active, path, log),
            ("L", Value::Array(l)) => {
                for (i, e) in l.iter_mut().enumerate() {
                    let (below, action) = self.step_down(active, depth, PathStep::Index(i));
                    let mark = path.len();
                    push_index(path, i);
                    match action {
                        Some(RedactAction::Drop) => *e = null(),
                        Some(RedactAction::Hash) => *e = self.hashed_json(e),
                        None => self.redact_typed_json(e, depth + 1, below, path, log),
                    }
                    if let Some(a) = action {
                        log.push((path.clone(), a));
                    }
                    path.truncate(mark);
                }
            }
            ("SS" | "NS" | "BS", Value::Array(l)) => {
                let mut kept = Vec::with_capacity(l.len());
                for (i, e) in l.drain(..).enumerate() {
                    let action = self.step_down(active, depth, PathStep::Index(i)).1;
                    let mark = path.len();
                    push_index(path, i);
                    match action {
                        Some(RedactAction::Drop) => {}
                        Some(RedactAction::Hash) => kept.push(Value::String(self.hash(e.as_str().unwrap_or_default()))),
                        None => kept.push(e),
                    }
                    if let Some(a) = action {
                        log.push((path.clone(), a));
                    }
                    path.truncate(mark);
                }
                *l = kept;
            }
            ("S" | "N" | "B" | "BOOL" | "NULL", _) => {}
            // A type the decoder does not read, with rules below it: it cannot be redacted
            // part by part, so it is dropped whole.
            _ if active != 0 => {
                *typed = null();
                log.push((path.clone(), RedactAction::Drop));
            }
            _ => {}
        }
    }

    /// `{"S": <hash>}` of a typed value, hashed as the rows hash it; NULL when it cannot be read.
    fn hashed_json(&self, typed: &serde_json::Value) -> serde_json::Value {
        let text = typed.to_string();
        match serde_json::from_str::<AttributeValue<'_>>(&text) {
            Ok(v) => serde_json::json!({ "S": self.hash(&value_text(&v)) }),
            Err(_) => serde_json::json!({ "NULL": true }),
        }
    }

    /// Every rule, as the mask the walks start with.
    fn all_rules(&self) -> u64 {
        if self.rules.is_empty() {
            0
        } else {
            u64::MAX >> (64 - self.rules.len())
        }
    }

    /// Walks `segs` from the item's root (`position` standing for a `[]`, the element of an
    /// exploded table): the rules still on the path below it, and the action of a rule that
    /// covers it (a rule on the path itself or on a parent; drop wins over hash).
    fn redaction_along(&self, segs: &[Segment], position: Option<usize>) -> (u64, Option<RedactAction>) {
        let mut active = self.all_rules();
        let mut action = None;
        for (depth, seg) in segs.iter().enumerate() {
            if active == 0 && (self.secrets.is_none() || action.is_some()) {
                break;
            }
            let step = match seg {
                Segment::Name(n) => PathStep::Name(n),
                Segment::Index(i) => PathStep::Index(*i),
                Segment::Each => PathStep::Index(position.unwrap_or(usize::MAX)),
            };
            // Below a hashed parent the value is hashed whole: the default drop has no say.
            let (below, here) = if action.is_some() {
                self.step_down(active, depth, step)
            } else {
                self.step_onto(active, depth, step)
            };
            active = below;
            match here {
                Some(RedactAction::Drop) => return (0, Some(RedactAction::Drop)),
                Some(RedactAction::Hash) => action = Some(RedactAction::Hash),
                None => {}
            }
        }
        (active, action)
    }

    /// One step below `depth`: the rules still on the path, and the action of one that ends there.
    fn step_down(&self, active: u64, depth: usize, seg: PathStep<'_>) -> (u64, Option<RedactAction>) {
        let below = self.step(active, depth, seg);
        (below, self.action_at(below, depth + 1))
    }

    /// [`Flattener::step_down`], and onto a member whose name looks like a secret with no rule
    /// on its path, the default drop: the one place every walk (rows, columns, their JSON,
    /// quarantine images) decides it.
    fn step_onto(&self, active: u64, depth: usize, seg: PathStep<'_>) -> (u64, Option<RedactAction>) {
        let (below, action) = self.step_down(active, depth, seg);
        match seg {
            PathStep::Name(name) if action.is_none() && below == 0 && self.looks_secret(name) => {
                (0, Some(RedactAction::Drop))
            }
            _ => (below, action),
        }
    }

    /// [`write_json`] of a value at `depth` with the rules `active` on its path applied below
    /// it: a dropped map member is left out, a dropped list element is `null` (positions
    /// stay), a dropped set element is left out; a hashed value is its hash as a string.
    fn write_json_redacted(&self, v: &AttributeValue<'_>, depth: usize, active: u64, out: &mut String) {
        if active == 0 && self.secrets.is_none() {
            return write_json(v, out);
        }
        match v {
            AttributeValue::M(m) => {
                out.push('{');
                let mut first = true;
                for (k, e) in m {
                    let (below, action) = self.step_onto(active, depth, PathStep::Name(k.as_str()));
                    if action == Some(RedactAction::Drop) {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    json_string(k.as_str(), out);
                    out.push(':');
                    match action {
                        Some(_) => json_string(&self.hash(&value_text(e)), out),
                        None => self.write_json_redacted(e, depth + 1, below, out),
                    }
                }
                out.push('}');
            }
            AttributeValue::L(l) => {
                out.push('[');
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let (below, action) = self.step_down(active, depth, PathStep::Index(i));
                    match action {
                        Some(RedactAction::Drop) => out.push_str("null"),
                        Some(RedactAction::Hash) => json_string(&self.hash(&value_text(e)), out),
                        None => self.write_json_redacted(e, depth + 1, below, out),
                    }
                }
                out.push(']');
            }
            AttributeValue::Ss(s) | AttributeValue::Ns(s) | AttributeValue::Bs(s) => {
                out.push('[');
                let mut first = true;
                for (i, e) in s.iter().enumerate() {
                    let action = self.step_down(active, depth, PathStep::Index(i)).1;
                    if action == Some(RedactAction::Drop) {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    match action {
                        Some(_) => json_string(&self.hash(e.as_str()), out),
                        None if matches!(v, AttributeValue::Ns(_)) => json_number(e.as_str(), out),
                        None => json_string(e.as_str(), out),
                    }
                }
                out.push(']');
            }
            other => write_json(other, out),
        }
    }

    fn hash(&self, text: &str) -> String {
        let Some(mac) = &self.mac else { return String::new() };
        let mut m = mac.clone();
        m.update(text.as_bytes());
        hex(&m.finalize().into_bytes())
    }
}

/// The `_rejects` rows of one record: the common columns' prefix, the output, the count.
struct Rejects<'p> {
    prefix: &'p [u8],
    buf: Vec<u8>,
    rows: u64,
}

impl Rejects<'_> {
    fn push(&mut self, table: &str, column: Option<&str>, path: &str, element: Option<usize>, reason: &str) {
        let b = &mut self.buf;
        b.extend_from_slice(self.prefix);
        push_delimiter(b);
        push_field(b, table);
        push_delimiter(b);
        push_opt(b, column);
        push_delimiter(b);
        push_field(b, path);
        push_delimiter(b);
        match element {
            Some(i) => push_field(b, itoa_buf(i as i64).as_str()),
            None => push_null(b),
        }
        push_delimiter(b);
        push_field(b, reason);
        end_row(b);
        self.rows += 1;
    }
}

static EMPTY_ITEM: Item<'static> = Item::EMPTY;

#[derive(Clone, Copy)]
/// One step down an item: into a map member by name, or a list element by index.
enum PathStep<'a> {
    Name(&'a str),
    Index(usize),
}

fn emit(w: &mut AttributeRows<'_>, type_name: &str, value: Option<&str>, changed: Option<bool>) {
    let b = &mut *w.out;
    b.extend_from_slice(w.prefix);
    push_delimiter(b);
    push_field(b, &w.path);
    push_delimiter(b);
    b.extend_from_slice(type_name.as_bytes());
    push_delimiter(b);
    push_opt(b, value);
    push_delimiter(b);
    match changed {
        Some(true) => b.extend_from_slice(b"true"),
        Some(false) => b.extend_from_slice(b"false"),
        None => push_null(b),
    }
    end_row(b);
    w.rows += 1;
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn itoa_buf(n: i64) -> String {
    n.to_string()
}

fn lookup<'v, 'a>(item: &'v Item<'a>, segs: &[Segment]) -> Option<&'v AttributeValue<'a>> {
    let (Segment::Name(first), rest) = segs.split_first()? else { return None };
    lookup_value(item.get(first)?, rest)
}

fn lookup_value<'v, 'a>(mut v: &'v AttributeValue<'a>, segs: &[Segment]) -> Option<&'v AttributeValue<'a>> {
    for s in segs {
        v = match (s, v) {
            (Segment::Name(n), AttributeValue::M(m)) => m.get(n)?,
            (Segment::Index(i), AttributeValue::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// The text a declared column of type `kind` holds for `v`, or why it cannot.
fn convert(v: &AttributeValue<'_>, kind: ColumnType) -> Result<String, String> {
    let fit = |e: NumberFitError| e.to_string();
    match (kind, v) {
        (ColumnType::String, AttributeValue::Bool(b)) => Ok(b.to_string()),
        (ColumnType::String, v) => Ok(value_text(v)),
        (ColumnType::Bigint, AttributeValue::N(n)) => number::to_integer(n.as_str(), 64).map_err(fit),
        (ColumnType::Int, AttributeValue::N(n)) => number::to_integer(n.as_str(), 32).map_err(fit),
        (ColumnType::Double, AttributeValue::N(n)) => Ok(n.as_str().to_owned()),
        (ColumnType::Decimal(p, s), AttributeValue::N(n)) => number::to_decimal(n.as_str(), p, s).map_err(fit),
        (ColumnType::Boolean, AttributeValue::Bool(b)) => Ok(b.to_string()),
        _ => Err("cannot be converted".into()),
    }
}

/// A value as text: scalars as they are, BOOL as true/false, everything else as JSON.
pub fn value_text(v: &AttributeValue<'_>) -> String {
    match v {
        AttributeValue::S(t) | AttributeValue::N(t) | AttributeValue::B(t) => t.as_str().to_owned(),
        AttributeValue::Bool(b) => b.to_string(),
        other => {
            let mut s = String::new();
            write_json(other, &mut s);
            s
        }
    }
}

fn scalar_or_json(v: &AttributeValue<'_>) -> String {
    value_text(v)
}

fn json_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

fn is_json_number(s: &str) -> bool {
    s.parse::<serde_json::Number>().is_ok()
}

fn json_number(s: &str, out: &mut String) {
    if is_json_number(s) {
        out.push_str(s);
    } else {
        json_string(s, out);
    }
}

/// Plain JSON of a value: maps → objects, lists and sets → arrays, numbers exact, binary as
/// base64 strings.
pub fn write_json(v: &AttributeValue<'_>, out: &mut String) {
    match v {
        AttributeValue::S(t) | AttributeValue::B(t) => json_string(t.as_str(), out),
        AttributeValue::N(t) => json_number(t.as_str(), out),
        AttributeValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        AttributeValue::Null => out.push_str("null"),
        AttributeValue::Ss(s) | AttributeValue::Bs(s) => {
            out.push('[');
            for (i, e) in s.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(e.as_str(), out);
            }
            out.push(']');
        }
        AttributeValue::Ns(s) => {
            out.push('[');
            for (i, e) in s.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_number(e.as_str(), out);
            }
            out.push(']');
        }
        AttributeValue::L(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(e, out);
            }
            out.push(']');
        }
        AttributeValue::M(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k.as_str(), out);
                out.push(':');
                write_json(e, out);
            }
            out.push('}');
        }
    }
}

/// The item key as canonical JSON: names sorted, values as text.
pub fn item_key_json(keys: &Item<'_>) -> String {
    let mut names: Vec<&(Text<'_>, AttributeValue<'_>)> = keys.iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = String::with_capacity(64);
    s.push('{');
    for (i, (k, v)) in names.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_string(k.as_str(), &mut s);
        s.push(':');
        json_string(&value_text(v), &mut s);
    }
    s.push('}');
    s
}

fn encode_name(name: &str, out: &mut String) {
    for c in name.chars() {
        match c {
            ',' => out.push_str("%2C"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
}

/// Sorted, comma-separated top-level attribute names that the change touched, leaving out
/// those `dropped` says are never written (a dropped attribute's name is not shown either).
fn changed_attributes(rec: &StreamRecord<'_>, dropped: impl Fn(&str) -> bool) -> Option<String> {
    let mut names: Vec<&str> = match (rec.event_name, &rec.new_image, &rec.old_image) {
        (EventName::Insert, Some(new), _) => new.iter().map(|(k, _)| k.as_str()).collect(),
        (EventName::Remove, _, Some(old)) => old.iter().map(|(k, _)| k.as_str()).collect(),
        (EventName::Modify, Some(new), Some(old)) => {
            let (new_by_name, old_by_name) = (new.by_name(), old.by_name());
            let mut n: Vec<&str> =
                new.iter().filter(|(k, v)| old_by_name.get(k.as_str()) != Some(v)).map(|(k, _)| k.as_str()).collect();
            n.extend(old.iter().filter(|(k, _)| new_by_name.get(k.as_str()).is_none()).map(|(k, _)| k.as_str()));
            n
        }
        _ => return None,
    };
    names.retain(|n| !dropped(n));
    names.sort_unstable();
    names.dedup();
    let mut s = String::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        encode_name(n, &mut s);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::decode_record;
    use ddb_lake_core::rowfmt::decode_object;

    fn rows_of(spec: &LakeSpec, rec: &str) -> Vec<(Vec<String>, Vec<ddb_lake_core::rowfmt::Row>)> {
        texts_of(spec, rec).iter().map(|t| decode_object(format!("h\n{t}").as_bytes()).unwrap()).collect()
    }

    /// The rows of each table for `rec` as text (no header line).
    fn texts_of(spec: &LakeSpec, rec: &str) -> Vec<String> {
        let f = Flattener::new(spec, Some(b"0123456789abcdef"), "the test").unwrap();
        let mut out = RecordRows::default();
        f.flatten(&decode_record(rec).unwrap(), &mut out).unwrap();
        out.bufs.iter().map(|b| String::from_utf8(b.clone()).unwrap()).collect()
    }

    /// The common columns of the edge-case record's rows, with the tenant `tenant`.
    fn prefix(tenant: &str) -> String {
        format!(
            "MODIFY\t101000000000000000000041\t2023-11-14 22:13:20.000\t{tenant}\t\
             {{\"pk\":\"CLIENT#42#x\",\"sk\":\"SYNC#1\"}}\tCLIENT#42#x\tSYNC#1"
        )
    }

    /// `attributes` rows of the edge-case record: (path, type, value, changed) after `p`.
    fn attribute_rows(p: &str, leaves: &[(&str, &str, &str, &str)]) -> String {
        leaves.iter().map(|(path, t, v, changed)| format!("{p}\t{path}\t{t}\t{v}\t{changed}\n")).collect()
    }

    /// The edge-case record (tests/fixtures/events/edge_cases.json): a tenant inside the key,
    /// a negative 38-digit number, secret-looking names in a list, a set that changed in part,
    /// an empty map, a name with a space, an attribute the change removed.
    fn rec() -> String {
        crate::test_events::record_text("edge_cases.json")
    }

    /// The edge-case record with `members` added to its new image.
    fn rec_with(members: serde_json::Value) -> String {
        let mut r = crate::test_events::record("edge_cases.json");
        let image = r["dynamodb"]["NewImage"].as_object_mut().unwrap();
        image.extend(members.as_object().unwrap().clone());
        r.to_string()
    }

    #[test]
    fn attributes_have_paths_types_values_and_changes() {
        let spec = LakeSpec {
            tenant: Some(TenantRule::KeyPrefix { prefix: "CLIENT#".into(), separator: "#".into() }),
            ..LakeSpec::default()
        };
        let texts = texts_of(&spec, &rec());
        let p = prefix("42");
        // The change: what the new image sets or changes and the old one's `gone`.
        assert_eq!(
            texts[CHANGES],
            format!(
                "{p}\td3d9446802a44259755d38e6d163e820\tNEW_AND_OLD_IMAGES\t10\tfalse\t\\N\t\
                 e,fieldMappings,gone,n,odd key,schedule,tags\n"
            )
        );
        // Every leaf of the new image in its order, but the two `secret`s the default drop
        // takes; `changed` compares with the old image (a set element by membership).
        let leaves = [
            ("pk", "S", "CLIENT#42#x", "false"),
            ("sk", "S", "SYNC#1", "false"),
            ("n", "N", "-12345678901234567890123456789012345678", "true"),
            ("schedule.intervalMinutes", "N", "15", "true"),
            ("schedule.tz", "S", "UTC", "false"),
            ("fieldMappings[0].fieldId", "S", "summary", "true"),
            ("fieldMappings[1].fieldId", "S", "status", "true"),
            ("tags[0]", "SS", "a", "true"),
            ("tags[1]", "SS", "b", "false"),
            ("e", "M", "\\N", "true"),
            ("[\"odd key\"]", "NULL", "\\N", "true"),
        ];
        assert_eq!(texts[ATTRIBUTES], attribute_rows(&p, &leaves));
    }

    #[test]
    fn declared_exploded_table_with_redaction() {
        let text = r#"
[source]
table = "t"
[lake]
location = "s3://bucket-a/p"
[tenant]
attribute = "pk"
[redaction]
[[redaction.rule]]
path = "fieldMappings[].secret"
action = "hash"
[[redaction.rule]]
path = "schedule"
action = "drop"
[[tables]]
name = "field_mappings"
explode = "fieldMappings"
[[tables.columns]]
name = "field_id"
path = "fieldMappings[].fieldId"
type = "string"
[[tables.columns]]
name = "secret"
path = "fieldMappings[].secret"
type = "string"
[[tables.columns]]
name = "big"
path = "n"
type = "decimal(38,0)"
"#;
        let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
        let texts = texts_of(&spec, &rec());
        let p = prefix("CLIENT#42#x");
        // One row per field mapping: its position, its field, its secret hashed, the item's n.
        let n = "-12345678901234567890123456789012345678";
        assert_eq!(
            texts[2],
            format!("{p}\t0\tsummary\t{}\t{n}\n{p}\t1\tstatus\t{}\t{n}\n", hmac_hex("s1"), hmac_hex("s2"))
        );
        // `attributes` hashes the same way and has nothing of the dropped schedule, not even
        // its name among the changed attributes.
        let leaves = [
            ("pk", "S", "CLIENT#42#x", "false"),
            ("sk", "S", "SYNC#1", "false"),
            ("n", "N", n, "true"),
            ("fieldMappings[0].fieldId", "S", "summary", "true"),
            ("fieldMappings[0].secret", "S", &hmac_hex("s1"), "true"),
            ("fieldMappings[1].fieldId", "S", "status", "true"),
            ("fieldMappings[1].secret", "S", &hmac_hex("s2"), "true"),
            ("tags[0]", "SS", "a", "true"),
            ("tags[1]", "SS", "b", "false"),
            ("e", "M", "\\N", "true"),
            ("[\"odd key\"]", "NULL", "\\N", "true"),
        ];
        assert_eq!(texts[ATTRIBUTES], attribute_rows(&p, &leaves));
        assert!(texts[CHANGES].ends_with("\te,fieldMappings,gone,n,odd key,tags\n"), "{}", texts[CHANGES]);
    }

    /// The edge-case record with a few personal values: an e-mail at the top and in a map,
    /// card numbers in a list.
    fn rec_with_personal_data() -> String {
        rec_with(serde_json::json!({
            "email": {"S": "ann@example.com"},
            "profile": {"M": {"email": {"S": "ann@example.com"}, "name": {"S": "Ann"}}},
            "cards": {"L": [{"M": {"number": {"S": "4111-1111"}}}, {"M": {"number": {"S": "5500-0000"}}}]}
        }))
    }

    fn spec_with(rest: &str) -> Result<LakeSpec, ddb_lake_core::spec::SpecError> {
        LakeSpec::from_toml(
            &format!("[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n{rest}"),
            "t.toml",
        )
    }

    fn hmac_hex(text: &str) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").unwrap();
        m.update(text.as_bytes());
        m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn all_text(tables: &[(Vec<String>, Vec<ddb_lake_core::rowfmt::Row>)]) -> String {
        tables.iter().flat_map(|(_, rows)| rows.iter().flatten().flatten().cloned()).collect::<Vec<_>>().join("\n")
    }

    /// Hole 1: the tenant column carried a dropped attribute.
    #[test]
    fn a_dropped_tenant_attribute_is_refused_and_a_hashed_one_is_written_hashed() {
        let e = spec_with("[tenant]\nattribute = \"email\"\n[[redaction.rule]]\npath = \"email\"\naction = \"drop\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("tenant.attribute `email` is dropped by redaction rule `email`"), "{e}");
        let spec =
            spec_with("[tenant]\nattribute = \"email\"\n[[redaction.rule]]\npath = \"email\"\naction = \"hash\"\n")
                .unwrap();
        let tables = rows_of(&spec, &rec_with_personal_data());
        let hashed = hmac_hex("ann@example.com");
        for (_, rows) in &tables {
            assert!(rows.iter().all(|r| r[3].as_deref() == Some(hashed.as_str())), "tenant is the hash in every table");
        }
        // The map member of the same name is another path: the rule does not reach it.
        assert!(all_text(&tables).contains("ann@example.com"));
        assert!(tables[ATTRIBUTES]
            .1
            .iter()
            .all(|r| r[7].as_deref() != Some("email") || r[9].as_deref() == Some(hashed.as_str())));
    }

    /// Hole 2: a column on a parent of redacted paths wrote the whole JSON.
    #[test]
    fn a_column_on_a_parent_is_written_without_its_redacted_values() {
        let spec = spec_with(
            "[[redaction.rule]]\npath = \"profile.email\"\naction = \"drop\"\n\
             [[redaction.rule]]\npath = \"fieldMappings[].secret\"\naction = \"hash\"\n\
             [[tables]]\nname = \"x\"\n\
             [[tables.columns]]\nname = \"profile\"\npath = \"profile\"\ntype = \"string\"\n\
             [[tables.columns]]\nname = \"mappings\"\npath = \"fieldMappings\"\ntype = \"string\"\n\
             [[tables]]\nname = \"fm\"\nexplode = \"fieldMappings\"\n\
             [[tables.columns]]\nname = \"element\"\npath = \"fieldMappings[]\"\ntype = \"string\"\n",
        )
        .unwrap();
        let tables = rows_of(&spec, &rec_with_personal_data());
        let (h1, h2) = (hmac_hex("s1"), hmac_hex("s2"));
        let x = &tables[2].1[0];
        assert_eq!(x[7].as_deref(), Some(r#"{"name":"Ann"}"#));
        let mappings = format!(r#"[{{"fieldId":"summary","secret":"{h1}"}},{{"fieldId":"status","secret":"{h2}"}}]"#);
        assert_eq!(x[8].as_deref(), Some(mappings.as_str()));
        let fm = &tables[3].1;
        assert_eq!(fm[0][8].as_deref(), Some(format!(r#"{{"fieldId":"summary","secret":"{h1}"}}"#).as_str()));
        assert_eq!(fm[1][8].as_deref(), Some(format!(r#"{{"fieldId":"status","secret":"{h2}"}}"#).as_str()));
        let text = all_text(&tables);
        assert!(
            !text.contains("ann@example.com\"}") && !text.contains(r#""s1""#) && !text.contains(r#""s2""#),
            "{text}"
        );
    }

    /// Hole 3: `[i]` and `[]` did not reach each other.
    #[test]
    fn position_and_each_rules_reach_each_other() {
        let e = spec_with(
            "[[redaction.rule]]\npath = \"cards[0].number\"\naction = \"drop\"\n\
             [[tables]]\nname = \"cards\"\nexplode = \"cards\"\n\
             [[tables.columns]]\nname = \"number\"\npath = \"cards[].number\"\ntype = \"string\"\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains(
                "column `number` of table `cards` reads `cards[].number`, which redaction rule `cards[0].number` drops"
            ),
            "{e}"
        );

        let spec = spec_with(
            "[[redaction.rule]]\npath = \"cards[].number\"\naction = \"hash\"\n\
             [[tables]]\nname = \"first\"\n\
             [[tables.columns]]\nname = \"number\"\npath = \"cards[0].number\"\ntype = \"string\"\n",
        )
        .unwrap();
        let tables = rows_of(&spec, &rec_with_personal_data());
        assert_eq!(tables[2].1[0][7].as_deref(), Some(hmac_hex("4111-1111").as_str()));

        let spec = spec_with(
            "[[redaction.rule]]\npath = \"cards[0].number\"\naction = \"hash\"\n\
             [[tables]]\nname = \"cards\"\nexplode = \"cards\"\n\
             [[tables.columns]]\nname = \"number\"\npath = \"cards[].number\"\ntype = \"string\"\n",
        )
        .unwrap();
        let tables = rows_of(&spec, &rec_with_personal_data());
        let numbers: Vec<Option<&str>> = tables[2].1.iter().map(|r| r[8].as_deref()).collect();
        // Only the first card is covered, as in the attributes table.
        assert_eq!(numbers, [Some(hmac_hex("4111-1111").as_str()), Some("5500-0000")]);
        let attr =
            |p: &str| tables[ATTRIBUTES].1.iter().find(|r| r[7].as_deref() == Some(p)).map(|r| r[9].clone().unwrap());
        assert_eq!(attr("cards[0].number"), Some(hmac_hex("4111-1111")));
        assert_eq!(attr("cards[1].number").as_deref(), Some("5500-0000"));
    }

    /// Hole 5: without a rule, every attribute reached the lake, secrets included.
    #[test]
    fn names_that_look_like_secrets_are_dropped_unless_the_spec_says_otherwise() {
        let rec = rec_with(serde_json::json!({
            "credentials": {"M": {"apiToken": {"S": "t0k-1"}, "user": {"S": "bob"}}},
            "sharedSecret": {"S": "sh-2"},
            "profile": {"M": {"Password": {"S": "pw-3"}}}
        }));
        let paths = |spec: &LakeSpec| -> Vec<String> {
            let tables = rows_of(spec, &rec);
            tables[ATTRIBUTES].1.iter().map(|r| r[7].clone().unwrap()).collect()
        };
        let secret_paths = ["credentials.apiToken", "credentials.user", "sharedSecret", "profile.Password"];
        let found = paths(&LakeSpec::default());
        assert!(secret_paths.iter().all(|p| !found.contains(&p.to_string())), "{found:?}");
        assert!(found.contains(&"schedule.tz".to_string()));
        assert!(LakeSpec::default().explain().contains("default drop     attributes whose name contains password"));

        let off = spec_with("[redaction]\ndefault_drop = false\n").unwrap();
        assert!(secret_paths.iter().all(|p| paths(&off).contains(&p.to_string())));
        assert!(off.explain().contains("default drop     off"));
        let keep = spec_with("[redaction]\nkeep = [\"sharedSecret\"]\n").unwrap();
        let found = paths(&keep);
        assert!(found.contains(&"sharedSecret".to_string()) && !found.contains(&"profile.Password".to_string()));
        // A rule on a secret-looking path decides there instead of the default.
        let hashed = spec_with("[[redaction.rule]]\npath = \"credentials.apiToken\"\naction = \"hash\"\n").unwrap();
        let tables = rows_of(&hashed, &rec);
        let token = tables[ATTRIBUTES].1.iter().find(|r| r[7].as_deref() == Some("credentials.apiToken")).unwrap();
        assert_eq!(token[9].as_deref(), Some(hmac_hex("t0k-1").as_str()));

        // A column or the tenant on a default-dropped attribute is refused, saying how to keep it.
        let e = spec_with(
            "[[tables]]\nname = \"x\"\n[[tables.columns]]\nname = \"s\"\npath = \"sharedSecret\"\ntype = \"string\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("`sharedSecret` looks like a secret (its name contains `secret`)"), "{e}");
        assert!(e.to_string().contains("keep = [\"sharedSecret\"]"), "{e}");
        let e = spec_with("[tenant]\nattribute = \"apiKey\"\n").unwrap_err();
        assert!(e.to_string().contains("tenant.attribute `apiKey` looks like a secret"), "{e}");

        // Nor does a dropped attribute's name show among the change's attribute names; one
        // with a secret under it (profile) is written, so it shows.
        let changed = |spec: &LakeSpec| rows_of(spec, &rec)[CHANGES].1[0].last().cloned().flatten().unwrap();
        let touched = ["e", "fieldMappings", "gone", "n", "odd key", "profile", "schedule", "tags"];
        assert_eq!(changed(&LakeSpec::default()), touched.join(","));
        let mut all = [touched.as_slice(), &["credentials", "sharedSecret"]].concat();
        all.sort_unstable();
        assert_eq!(changed(&off), all.join(","));
        let rule = spec_with("[[redaction.rule]]\npath = \"schedule\"\naction = \"drop\"\n").unwrap();
        let without: Vec<&str> = touched.iter().copied().filter(|n| *n != "schedule").collect();
        assert_eq!(changed(&rule), without.join(","));
    }

    #[test]
    fn type_conflicts_are_null_cells_and_rejects() {
        let text = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n[[tables]]\nname = \"x\"\n[[tables.columns]]\nname = \"tz\"\npath = \"schedule.tz\"\ntype = \"bigint\"\n";
        let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
        let texts = texts_of(&spec, &rec());
        // The cell is NULL, the row is there, and `_rejects` says where and why (without the
        // value). No `[tenant]`: the tenant is NULL.
        let p = prefix("\\N");
        assert_eq!(texts[2], format!("{p}\t\\N\n"));
        assert_eq!(
            texts[3],
            format!(
                "{p}\tx\ttz\tschedule.tz\t\\N\ttable `x` column `tz`: value at `schedule.tz` is S, which cannot be \
                 converted for type bigint\n"
            )
        );
    }

    #[test]
    fn hash_rule_without_key_is_refused() {
        let text = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n[redaction]\nkey_env = \"MY_KEY\"\n[[redaction.rule]]\npath = \"a\"\naction = \"hash\"\n";
        let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
        let e = Flattener::new(&spec, None, "the environment variable MY_KEY").err().unwrap();
        assert!(e.to_string().contains("no key was given: set the environment variable MY_KEY"), "{e}");
        let e = Flattener::new(&spec, Some(b"short"), "the environment variable MY_KEY").err().unwrap();
        assert_eq!(
            e.to_string(),
            "the redaction key in the environment variable MY_KEY is 5 bytes long; it must be at least 16 bytes (e.g. openssl rand -hex 32)"
        );
    }
}
