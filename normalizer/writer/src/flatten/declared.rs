//! Declared tables (`[[tables]]`): typed columns picked out of the item by path, one row per
//! item or, with `explode`, per element of one list; a value that does not fit its column is
//! a NULL cell and a row of `_rejects` saying where and why.

use std::borrow::Cow;

use super::{FlattenError, Flattener, RowSink, TableRows, TypeConflict};
use crate::record::{value_str, AttributeValue, Item};
use crate::redaction::OpenRules;
use ddb_lake_core::number::{self, NumberFitError};
use ddb_lake_core::path::Segment;
use ddb_lake_core::rowfmt::{end_row, push_delimiter, push_field, push_null};
use ddb_lake_core::rows::RejectRow;
use ddb_lake_core::spec::{ColumnType, DeclaredTable, RedactAction};

impl Flattener<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn declared_rows(
        &self,
        table: &DeclaredTable,
        redacted: &[bool],
        image: &Item<'_>,
        prefix: &[u8],
        out: &mut TableRows<'_>,
        rejects: &mut Rejects<'_>,
    ) {
        let Some(explode) = &table.explode else {
            out.buf().extend_from_slice(prefix);
            self.declared_columns(table, redacted, image, None, out.buf(), rejects);
            end_row(out.buf());
            out.row_done(rejects.sink);
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
            let buf = out.buf();
            buf.extend_from_slice(prefix);
            push_delimiter(buf);
            push_field(buf, i.to_string().as_str());
            self.declared_columns(table, redacted, image, Some((explode.0.len(), i, e)), out.buf(), rejects);
            end_row(out.buf());
            out.row_done(rejects.sink);
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
            let (active, action) = if redacted { self.redactor.along(segs, position) } else { (OpenRules::NONE, None) };
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
                && self.redactor.may_redact_below(active)
            {
                // A parent of redacted values: its JSON without them.
                let mut s = String::new();
                self.redactor.write_json_redacted(v, segs.len(), active, &mut s);
                Cow::Owned(s)
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
                        let at = element.map(|(_, i, _)| i);
                        rejects.push(&table.name, Some(&c.name), &e.path, at, &e.to_string());
                        push_null(buf);
                        continue;
                    }
                }
            };
            match action {
                Some(_) => push_field(buf, &self.redactor.hash(&text)),
                None => push_field(buf, &text),
            }
        }
    }
}

/// The `_rejects` rows of one record: the common columns' prefix, the rows, and where the
/// record's rows go (the declared tables' rows go there too).
pub(super) struct Rejects<'p> {
    pub(super) prefix: &'p [u8],
    pub(super) rows: TableRows<'p>,
    pub(super) sink: &'p mut dyn RowSink,
}

impl Rejects<'_> {
    fn push(&mut self, table: &str, column: Option<&str>, path: &str, element: Option<usize>, reason: &str) {
        let row = RejectRow { table_name: table, column_name: column, path, element_index: element, reason };
        row.write(self.prefix, self.rows.buf());
        self.rows.row_done(self.sink);
    }
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

/// The text a declared column of type `kind` holds for `v`, or why it cannot: the value's
/// own text where it is the cell's (a string, a double's digits, a boolean), made otherwise.
fn convert<'v>(v: &'v AttributeValue<'_>, kind: ColumnType) -> Result<Cow<'v, str>, String> {
    let fit = |e: NumberFitError| e.to_string();
    match (kind, v) {
        (ColumnType::String, v) => Ok(value_str(v)),
        (ColumnType::Bigint, AttributeValue::N(n)) => number::to_integer(n.as_str(), 64).map_err(fit),
        (ColumnType::Int, AttributeValue::N(n)) => number::to_integer(n.as_str(), 32).map_err(fit),
        (ColumnType::Double, AttributeValue::N(_)) | (ColumnType::Boolean, AttributeValue::Bool(_)) => Ok(value_str(v)),
        (ColumnType::Decimal(p, s), AttributeValue::N(n)) => number::to_decimal(n.as_str(), p, s).map_err(fit),
        _ => Err("cannot be converted".into()),
    }
}
