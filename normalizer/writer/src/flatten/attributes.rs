//! The `attributes` rows of one record: a walk over its new image, one row per leaf (path,
//! DynamoDB type, value, whether it changed against the old image), with the [`Redactor`]
//! deciding at every step what is dropped or hashed.
//!
//! [`Redactor`]: crate::redaction::Redactor

use super::{Flattener, RowSink, TableRows};
use crate::record::{value_text, AttributeValue, Item};
use crate::redaction::{OpenRules, PathStep};
use ddb_lake_core::path::{push_index, push_name};
use ddb_lake_core::rows::{AttributeRow, EntityColumn};
use ddb_lake_core::spec::RedactAction;

/// The `attributes` rows of one record, written while its new image is walked: the
/// common columns' prefix, the output, the row count, and the path of the value at hand.
pub(super) struct AttributeRows<'r> {
    pub(super) prefix: &'r [u8],
    pub(super) rows: TableRows<'r>,
    pub(super) sink: &'r mut dyn RowSink,
    pub(super) path: String,
    pub(super) changed_known: bool,
    /// Set while the walk is inside a top-level attribute that a MODIFY left as it was:
    /// every leaf there is unchanged, and nothing is looked up in the old image.
    pub(super) unchanged: bool,
    pub(super) entity: EntityColumn<'r>,
}

/// What a map's leaves are compared with.
#[derive(Clone, Copy)]
pub(super) enum OldMap<'o, 'a> {
    /// Nothing: no old image, or the map is new.
    Absent,
    /// The old image's map at the same path, looked up by name.
    Map(&'o Item<'a>),
    /// A MODIFY's top level, looked up once already ([`super::top_level`]).
    Top(&'o [TopLevel<'o, 'a>]),
}

/// One top-level attribute of a MODIFY's new image, by position: the old image's value of
/// that name (the first, should the event repeat a name) and whether it is the same value.
pub(super) struct TopLevel<'o, 'a> {
    pub(super) old: Option<&'o AttributeValue<'a>>,
    pub(super) same: bool,
}

impl Flattener<'_> {
    pub(super) fn walk_map(
        &self,
        item: &Item<'_>,
        old: OldMap<'_, '_>,
        depth: usize,
        active: OpenRules,
        w: &mut AttributeRows<'_>,
    ) {
        // Every name is looked up in the old map: by name, not by a scan per name.
        let by_name = match old {
            OldMap::Map(o) => Some(o.by_name()),
            _ => None,
        };
        for (at, (name, value)) in item.iter().enumerate() {
            let (act, action) = self.redactor.step_onto(active, depth, PathStep::Name(name.as_str()));
            if action == Some(RedactAction::Drop) {
                continue;
            }
            let mark = w.path.len();
            push_name(&mut w.path, name.as_str());
            match old {
                OldMap::Top(tops) if tops[at].same => {
                    // Equal as a whole, so equal leaf by leaf: no leaf is compared. (With a
                    // name repeated inside it, which DynamoDB never sends, the lookup by name
                    // would have paired a leaf with another of the same name.)
                    let outer = std::mem::replace(&mut w.unchanged, true);
                    self.walk_value(value, None, depth + 1, act, w);
                    w.unchanged = outer;
                }
                OldMap::Top(tops) => self.walk_value(value, tops[at].old, depth + 1, act, w),
                _ => {
                    let old_value = by_name.as_ref().and_then(|o| o.get_at(at, name.as_str()));
                    self.walk_value(value, old_value, depth + 1, act, w);
                }
            }
            w.path.truncate(mark);
        }
    }

    fn walk_value(
        &self,
        v: &AttributeValue<'_>,
        old: Option<&AttributeValue<'_>>,
        depth: usize,
        active: OpenRules,
        w: &mut AttributeRows<'_>,
    ) {
        if !active.is_empty() {
            match self.redactor.action_at(active, depth) {
                Some(RedactAction::Drop) => return,
                Some(RedactAction::Hash) => {
                    let text = value_text(v);
                    let hashed = self.redactor.hash(&text);
                    let changed = w.changed_known.then(|| !w.unchanged && old != Some(v));
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
                self.walk_map(m, old_map.map_or(OldMap::Absent, OldMap::Map), depth, active, w);
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
                    let act = self.redactor.step(active, depth, PathStep::Index(i));
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
                    let act = self.redactor.step(active, depth, PathStep::Index(i));
                    match self.redactor.action_at(act, depth + 1) {
                        Some(RedactAction::Drop) => {}
                        other => {
                            let changed =
                                w.changed_known.then(|| !w.unchanged && !old_set.is_some_and(|o| o.contains(e)));
                            if other == Some(RedactAction::Hash) {
                                let h = self.redactor.hash(e.as_str());
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
                let changed = w.changed_known.then(|| !w.unchanged && old != Some(v));
                let value = match v {
                    AttributeValue::Bool(b) => Some(if *b { "true" } else { "false" }),
                    other => other.scalar_text(),
                };
                emit(w, v.type_name(), value, changed);
            }
        }
    }
}

static EMPTY_ITEM: Item<'static> = Item::EMPTY;

fn emit(w: &mut AttributeRows<'_>, type_name: &str, value: Option<&str>, changed: Option<bool>) {
    AttributeRow { path: &w.path, type_name, value, changed, entity: w.entity }.write(w.prefix, w.rows.buf());
    w.rows.row_done(w.sink);
}
