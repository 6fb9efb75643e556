//! Quarantine: records (or snapshot items) that cannot be normalized, kept with the reason.
//!
//! A record that fails to decode or to flatten never blocks its batch: it becomes a
//! [`QuarantinedRecord`], and the batch's (or snapshot part's) quarantine object holds one
//! JSON line per such record (`QuarantineLine`): the reason, the record's JSON with its
//! images redacted exactly as its rows would have been, and which paths were redacted.
//! `quarantine_object` builds that object for stream batches and snapshots alike; the sinks
//! (`sink.rs`, `s3.rs`) list, read and delete quarantine objects for `ddb-lake quarantine`.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;

use crate::assembler::LakeObject;
use crate::record::{value_text, AttributeValue};
use crate::redaction::{OpenRules, PathStep, Redactor};
use ddb_lake_core::object_key::ObjectKey;
use ddb_lake_core::path::{push_index, push_name};
use ddb_lake_core::spec::RedactAction;

/// A record that could not be normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedRecord {
    /// Position in the event (a snapshot's item: its line in the data file).
    pub index: usize,
    /// Its eventID, if it had one.
    #[serde(rename = "eventID")]
    pub event_id: Option<String>,
    /// Its sequence number, if it had one.
    #[serde(rename = "sequenceNumber")]
    pub sequence_number: Option<String>,
    /// Why it was quarantined.
    pub reason: String,
    /// The reason's kind, which holds no value of the record (logged by the function; not
    /// written to the quarantine object, which has the whole reason).
    #[serde(skip)]
    pub kind: &'static str,
}

/// One line of a quarantine object: why, the record's (or snapshot item's) JSON with its
/// images redacted as its rows would be, and what was redacted.
#[derive(Serialize)]
struct QuarantineLine<'a> {
    #[serde(flatten)]
    record: &'a QuarantinedRecord,
    record_json: serde_json::Value,
    redacted: Vec<RedactedPath>,
}

/// A path of a quarantined record's images that was redacted, and how.
#[derive(Serialize)]
struct RedactedPath {
    path: String,
    /// As the spec writes it: `drop` or `hash`.
    action: RedactAction,
}

/// The quarantine object at `key`: one line per record, in the order given, each with the
/// record's raw JSON redacted by `redactor`; its `first_record` is the lowest position of a
/// record in it.
pub(crate) fn quarantine_object<'r>(
    redactor: &Redactor<'_>,
    key: ObjectKey,
    level: Compression,
    records: impl IntoIterator<Item = (&'r QuarantinedRecord, &'r str)>,
) -> LakeObject {
    let mut gz = GzEncoder::new(Vec::new(), level);
    let (mut rows, mut first_record) = (0u64, usize::MAX);
    for (record, raw) in records {
        let (record_json, redacted) = redacted_json(redactor, raw);
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut gz, &QuarantineLine { record, record_json, redacted });
        let _ = gz.write_all(b"\n");
        rows += 1;
        first_record = first_record.min(record.index);
    }
    LakeObject { key, body: gz.finish().unwrap_or_default(), table: None, rows, first_record }
}

/// The JSON of a record (or of a snapshot's line) to quarantine, with its images redacted as
/// its rows would be: `dynamodb.NewImage`, `dynamodb.OldImage` and a line's `Item` (keys are
/// never redacted). Dropped values are left out (a list element becomes NULL), hashed ones
/// are `{"S": <hash>}`; a value under a rule whose type cannot be read is dropped. Returns
/// the JSON and each redacted path with its action, in order.
fn redacted_json(redactor: &Redactor<'_>, raw: &str) -> (serde_json::Value, Vec<RedactedPath>) {
    let mut walk = ImageRedaction { redactor, path: String::new(), log: Vec::new() };
    let Ok(mut json) = serde_json::from_str::<serde_json::Value>(raw) else {
        // The event (or the data file) was read as JSON: it cannot be anything else.
        return (serde_json::Value::Null, walk.log);
    };
    if let Some(change) = json.get_mut("dynamodb").and_then(|d| d.as_object_mut()) {
        for name in ["NewImage", "OldImage"] {
            if let Some(serde_json::Value::Object(image)) = change.get_mut(name) {
                walk.image(image, 0, redactor.all_rules());
            }
        }
    }
    if let Some(serde_json::Value::Object(item)) = json.get_mut("Item") {
        walk.image(item, 0, redactor.all_rules());
    }
    (json, walk.log)
}

/// A walk over typed JSON images (DynamoDB JSON) that redacts them in place: the path at
/// hand and what was redacted so far.
struct ImageRedaction<'r, 's> {
    redactor: &'r Redactor<'s>,
    path: String,
    log: Vec<RedactedPath>,
}

impl ImageRedaction<'_, '_> {
    fn log(&mut self, action: RedactAction) {
        self.log.push(RedactedPath { path: self.path.clone(), action });
    }

    fn image(&mut self, image: &mut serde_json::Map<String, serde_json::Value>, depth: usize, active: OpenRules) {
        let names: Vec<String> = image.keys().cloned().collect();
        for name in names {
            let (below, action) = self.redactor.step_onto(active, depth, PathStep::Name(&name));
            let mark = self.path.len();
            push_name(&mut self.path, &name);
            match action {
                Some(RedactAction::Drop) => {
                    image.remove(&name);
                    self.log(RedactAction::Drop);
                }
                Some(RedactAction::Hash) => {
                    if let Some(v) = image.get_mut(&name) {
                        *v = self.hashed(v);
                    }
                    self.log(RedactAction::Hash);
                }
                None => {
                    if let Some(v) = image.get_mut(&name) {
                        self.typed(v, depth + 1, below);
                    }
                }
            }
            self.path.truncate(mark);
        }
    }

    fn typed(&mut self, typed: &mut serde_json::Value, depth: usize, active: OpenRules) {
        use serde_json::Value;
        if !self.redactor.may_redact_below(active) {
            return;
        }
        let null = || serde_json::json!({ "NULL": true });
        let Some((kind, inner)) = typed.as_object_mut().and_then(|o| o.iter_mut().next()) else { return };
        match (kind.as_str(), inner) {
            ("M", Value::Object(m)) => self.image(m, depth, active),
            ("L", Value::Array(l)) => {
                for (i, e) in l.iter_mut().enumerate() {
                    let (below, action) = self.redactor.step_down(active, depth, PathStep::Index(i));
                    let mark = self.path.len();
                    push_index(&mut self.path, i);
                    match action {
                        Some(RedactAction::Drop) => *e = null(),
                        Some(RedactAction::Hash) => *e = self.hashed(e),
                        None => self.typed(e, depth + 1, below),
                    }
                    if let Some(a) = action {
                        self.log(a);
                    }
                    self.path.truncate(mark);
                }
            }
            ("SS" | "NS" | "BS", Value::Array(l)) => {
                let mut kept = Vec::with_capacity(l.len());
                for (i, e) in l.drain(..).enumerate() {
                    let action = self.redactor.step_down(active, depth, PathStep::Index(i)).1;
                    let mark = self.path.len();
                    push_index(&mut self.path, i);
                    match action {
                        Some(RedactAction::Drop) => {}
                        Some(RedactAction::Hash) => {
                            kept.push(Value::String(self.redactor.hash(e.as_str().unwrap_or_default())))
                        }
                        None => kept.push(e),
                    }
                    if let Some(a) = action {
                        self.log(a);
                    }
                    self.path.truncate(mark);
                }
                *l = kept;
            }
            ("S" | "N" | "B" | "BOOL" | "NULL", _) => {}
            // A type the decoder does not read, with rules below it: it cannot be redacted
            // part by part, so it is dropped whole.
            _ if !active.is_empty() => {
                *typed = null();
                self.log(RedactAction::Drop);
            }
            _ => {}
        }
    }

    /// `{"S": <hash>}` of a typed value, hashed as the rows hash it; NULL when it cannot be read.
    fn hashed(&self, typed: &serde_json::Value) -> serde_json::Value {
        let text = typed.to_string();
        match serde_json::from_str::<AttributeValue<'_>>(&text) {
            Ok(v) => serde_json::json!({ "S": self.redactor.hash(&value_text(&v)) }),
            Err(_) => serde_json::json!({ "NULL": true }),
        }
    }
}
