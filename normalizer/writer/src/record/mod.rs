//! Stream records as they arrive in a Lambda DynamoDB event, decoded without loss.
//!
//! Called by [`crate::batch`] for every record of a batch. The decoder borrows from the
//! event text wherever it can (strings without JSON escapes are never copied), keeps numbers
//! as the decimal text DynamoDB sent (all 38 significant digits, never through `f64`) and
//! binary values as their base64 text (validated). An event is first split into its raw
//! records, so that one record that cannot be decoded is quarantined on its own and never
//! takes the rest of its batch down.
//!
//! The types mirror `aws_lambda_events::event::dynamodb` (the reference decoding, used by
//! the tests as an oracle) but are leaner: no owned map per attribute.

mod fast;
mod json;
mod value;

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

pub use json::{item_key_json, value_str, value_text, write_json};
pub(crate) use json::{json_number, json_string};
pub(crate) use value::clip;
pub use value::{AttributeValue, ByName, Item, Text};

/// Principal that DynamoDB puts in `userIdentity.principalId` when a TTL expiry deletes an item.
pub const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// The kind of change a stream record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventName {
    /// A new item was written.
    Insert,
    /// An existing item was updated.
    Modify,
    /// An item was deleted (by a user, or by TTL expiry).
    Remove,
    /// Not a change: an item as a snapshot (a backfilled export) shows it. Never decoded
    /// from a stream record (its `eventName` must be one of the three above).
    Snapshot,
    /// Not a change: an item as its last write in an incremental export's window left it.
    Incremental,
    /// Not a change: an item that its last write in an incremental export's window deleted.
    IncrementalRemove,
}

impl EventName {
    /// The name as DynamoDB writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
            EventName::Snapshot => ddb_lake_core::schema::SNAPSHOT_EVENT_NAME,
            EventName::Incremental => ddb_lake_core::schema::INCREMENTAL_EVENT_NAME,
            EventName::IncrementalRemove => ddb_lake_core::schema::INCREMENTAL_REMOVE_EVENT_NAME,
        }
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a userIdentity object {\"type\": …, \"principalId\": …}")]
struct UserIdentityWire<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Text<'a>>,
    #[serde(rename = "principalId", default, borrow)]
    principal_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "the record's dynamodb object {\"Keys\": …, \"SequenceNumber\": …, …}")]
struct ChangeWire<'a> {
    #[serde(rename = "ApproximateCreationDateTime", default)]
    approximate_creation_date_time: Option<f64>,
    #[serde(rename = "Keys", default, borrow)]
    keys: Option<Item<'a>>,
    #[serde(rename = "NewImage", default, borrow)]
    new_image: Option<Item<'a>>,
    #[serde(rename = "OldImage", default, borrow)]
    old_image: Option<Item<'a>>,
    #[serde(rename = "SequenceNumber", borrow)]
    sequence_number: Text<'a>,
    #[serde(rename = "SizeBytes", default)]
    size_bytes: Option<i64>,
    #[serde(rename = "StreamViewType", default, borrow)]
    stream_view_type: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a stream record {\"eventName\": …, \"dynamodb\": {…}, …}")]
struct RecordWire<'a> {
    #[serde(rename = "eventID", default, borrow)]
    event_id: Option<Text<'a>>,
    #[serde(rename = "eventName", borrow)]
    event_name: Text<'a>,
    #[serde(rename = "eventSourceARN", default, borrow)]
    event_source_arn: Option<Text<'a>>,
    #[serde(rename = "userIdentity", default, borrow)]
    user_identity: Option<UserIdentityWire<'a>>,
    #[serde(rename = "dynamodb", borrow)]
    change: ChangeWire<'a>,
}

/// One decoded stream record.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord<'a> {
    /// `eventID`, unique per record.
    pub event_id: Option<Text<'a>>,
    /// INSERT, MODIFY or REMOVE.
    pub event_name: EventName,
    /// `eventSourceARN`: the stream.
    pub event_source_arn: Option<Text<'a>>,
    /// Time of the change, milliseconds since the Unix epoch (UTC).
    pub event_time_millis: i64,
    /// The item's key attributes.
    pub keys: Item<'a>,
    /// The item after the change (absent for REMOVE and for KEYS_ONLY / OLD_IMAGE streams).
    pub new_image: Option<Item<'a>>,
    /// The item before the change (absent for INSERT and for KEYS_ONLY / NEW_IMAGE streams).
    pub old_image: Option<Item<'a>>,
    /// Decimal sequence number (up to 40 digits): compare as a number, never as text.
    pub sequence_number: Text<'a>,
    /// `SizeBytes` as reported by DynamoDB.
    pub size_bytes: Option<i64>,
    /// NEW_AND_OLD_IMAGES, NEW_IMAGE, OLD_IMAGE or KEYS_ONLY.
    pub stream_view_type: Option<Text<'a>>,
    /// `userIdentity.principalId`, present for deletions made by a service.
    pub principal: Option<Text<'a>>,
    /// Whether this is a REMOVE made by DynamoDB's TTL expiry.
    pub ttl_delete: bool,
}

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The record is not valid JSON of the stream record shape.
    #[error("record does not decode as a DynamoDB stream record: {0}")]
    Shape(#[source] serde_json::Error),
    /// `eventName` is not INSERT, MODIFY or REMOVE.
    #[error("eventName `{0}` is not INSERT, MODIFY or REMOVE")]
    EventName(String),
    /// The sequence number is not a canonical decimal integer (the views order by length,
    /// then text, which only works without leading zeros).
    #[error(
        "SequenceNumber `{0}` is not a decimal integer of 1 to {MAX_SEQUENCE_DIGITS} digits without leading zeros"
    )]
    SequenceNumber(String),
    /// The record carries no ApproximateCreationDateTime, so it has no partition.
    #[error("record has no dynamodb.ApproximateCreationDateTime (needed for its dt partition)")]
    NoTime,
    /// ApproximateCreationDateTime is not a time a `dt` partition can name.
    #[error(
        "dynamodb.ApproximateCreationDateTime {0} is not a time in seconds from 1970-01-01 through 9999-12-31, \
         the days a dt partition can name (DynamoDB Streams sends seconds; a value in milliseconds, as \
         Kinesis Data Streams records carry, is 1000 times too large)"
    )]
    TimeOutOfRange(f64),
    /// `Keys` is not one or two key attributes of a key type.
    #[error("dynamodb.Keys {0}")]
    Keys(String),
    /// `StreamViewType` is not one DynamoDB has.
    #[error("StreamViewType `{0}` is not NEW_AND_OLD_IMAGES, NEW_IMAGE, OLD_IMAGE or KEYS_ONLY")]
    StreamViewType(String),
}

/// Most digits a sequence number has (DynamoDB: 21 to 40).
pub const MAX_SEQUENCE_DIGITS: usize = 40;

/// The last millisecond a `dt=YYYY-MM-DD` partition can name: 9999-12-31T23:59:59.999Z.
pub const LAST_EVENT_MILLIS: i64 = 253_402_300_799_999;

/// Whether `s` is a sequence number as DynamoDB writes it: 1 to [`MAX_SEQUENCE_DIGITS`]
/// decimal digits, no leading zero (so that ordering by length, then text, is numeric order).
pub fn is_canonical_sequence_number(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_SEQUENCE_DIGITS
        && b.iter().all(u8::is_ascii_digit)
        && (b[0] != b'0' || b.len() == 1)
}

/// `ApproximateCreationDateTime` (seconds since the epoch, maybe fractional) in milliseconds,
/// when it is a time from 1970-01-01 through 9999-12-31 ([`LAST_EVENT_MILLIS`]).
pub fn event_time_millis(secs: f64) -> Option<i64> {
    let millis = (secs * 1000.0).round();
    (millis.is_finite() && (0.0..=LAST_EVENT_MILLIS as f64).contains(&millis)).then_some(millis as i64)
}

/// The key attributes must be what a DynamoDB key is: one or two attributes (partition key,
/// sort key) of type S, N or B, strings and binaries not empty.
fn check_keys(keys: &Item<'_>) -> Result<(), RecordError> {
    let bad = |why: String| Err(RecordError::Keys(why));
    if keys.is_empty() {
        return bad("is missing or empty; a stream record names its item's key attributes".into());
    }
    if keys.len() > 2 {
        return bad(format!("has {} attributes; a table's key has one or two (partition key, sort key)", keys.len()));
    }
    let mut names = keys.iter().map(|(n, _)| n.as_str());
    if let (Some(a), Some(b)) = (names.next(), names.next()) {
        if a == b {
            return bad(format!("names `{}` twice", clip(a)));
        }
    }
    for (name, value) in keys {
        match value {
            AttributeValue::S(t) | AttributeValue::B(t) if t.as_str().is_empty() => {
                return bad(format!(
                    "attribute `{}` is an empty {}; DynamoDB never allows an empty key",
                    clip(name.as_str()),
                    value.type_name()
                ))
            }
            AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_) => {}
            other => {
                return bad(format!(
                    "attribute `{}` is a {}; key attributes are S, N or B",
                    clip(name.as_str()),
                    other.type_name()
                ))
            }
        }
    }
    Ok(())
}

/// What a stream shows of each changed item (`StreamViewType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamViewType {
    /// The item before and after the change.
    NewAndOldImages,
    /// The item after the change.
    NewImage,
    /// The item before the change.
    OldImage,
    /// The key attributes only.
    KeysOnly,
}

impl StreamViewType {
    /// The view type DynamoDB calls `name`.
    pub fn of(name: &str) -> Option<Self> {
        Some(match name {
            "NEW_AND_OLD_IMAGES" => StreamViewType::NewAndOldImages,
            "NEW_IMAGE" => StreamViewType::NewImage,
            "OLD_IMAGE" => StreamViewType::OldImage,
            "KEYS_ONLY" => StreamViewType::KeysOnly,
            _ => return None,
        })
    }

    /// The name as DynamoDB writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamViewType::NewAndOldImages => "NEW_AND_OLD_IMAGES",
            StreamViewType::NewImage => "NEW_IMAGE",
            StreamViewType::OldImage => "OLD_IMAGE",
            StreamViewType::KeysOnly => "KEYS_ONLY",
        }
    }

    /// Whether records of this view carry the new image.
    pub fn shows_new_image(self) -> bool {
        matches!(self, StreamViewType::NewAndOldImages | StreamViewType::NewImage)
    }

    /// Whether records of this view carry the old image.
    pub fn shows_old_image(self) -> bool {
        matches!(self, StreamViewType::NewAndOldImages | StreamViewType::OldImage)
    }
}

impl RecordError {
    /// What kind of error it is, in words that hold no value of the record.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::Shape(_) => "record does not decode",
            RecordError::EventName(_) => "unknown eventName",
            RecordError::SequenceNumber(_) => "bad SequenceNumber",
            RecordError::NoTime => "no ApproximateCreationDateTime",
            RecordError::TimeOutOfRange(_) => "time out of range",
            RecordError::Keys(_) => "bad Keys",
            RecordError::StreamViewType(_) => "unknown StreamViewType",
        }
    }

    /// The reason, without any value the record held (see [`without_quoted_text`]).
    pub fn reason(&self) -> String {
        match self {
            RecordError::Shape(_) => without_quoted_text(&self.to_string()),
            _ => self.to_string(),
        }
    }
}

/// A serde message without the text it quotes: serde's messages quote the value they could
/// not read (`invalid type: string "…", expected …`), and that value may be data a redaction
/// rule keeps out of every output, logs and quarantine objects included. Every quoted part
/// becomes `"…"`.
pub fn without_quoted_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            let mut escaped = false;
            for q in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if q == '\\' {
                    escaped = true;
                } else if q == '"' {
                    break;
                }
            }
            out.push_str("…\"");
        }
    }
    out
}

/// What an event is: the words of every error about one that is not.
const EVENT_SHAPE: &str = "a DynamoDB stream event {\"Records\": [...]}";

/// Reads the event object `{"Records": [...]}` and hands its `Records` value to `records`.
/// Anything else is refused with words the user knows: a JSON array (a list of events, or of
/// records) is named as such, and `Records` must appear once.
fn read_event<'de, S: de::DeserializeSeed<'de>>(
    event_json: &'de str,
    records: S,
) -> Result<S::Value, serde_json::Error> {
    struct EventVisitor<S>(S);
    impl<'de, S: de::DeserializeSeed<'de>> Visitor<'de> for EventVisitor<S> {
        type Value = S::Value;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(EVENT_SHAPE)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<S::Value, A::Error> {
            Err(de::Error::custom(format_args!(
                "the input is a JSON array, not {EVENT_SHAPE}: write each event as its own object \
                 (one per line), with its records in its `Records` list"
            )))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<S::Value, A::Error> {
            let mut seed = Some(self.0);
            let mut value = None;
            while let Some(key) = map.next_key::<Text<'de>>()? {
                if key.as_str() != "Records" {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
                match seed.take() {
                    Some(s) => value = Some(map.next_value_seed(s)?),
                    None => return Err(de::Error::custom("the event has `Records` twice")),
                }
            }
            value.ok_or_else(|| de::Error::custom(format_args!("no `Records` list: expected {EVENT_SHAPE}")))
        }
    }
    let mut de = serde_json::Deserializer::from_str(event_json);
    let value = de.deserialize_any(EventVisitor(records))?;
    de.end()?;
    Ok(value)
}

/// A serde_json message without its ` at line L column C`: the caller says where, in the
/// user's terms (the line of the file, not of the value that was parsed).
pub fn message_of(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// Splits one Lambda event (`{"Records": [...]}`) into the raw JSON of its records.
///
/// Fails only when the event itself is not an event; a record that is valid JSON but not a
/// valid stream record is returned here and fails later, in [`decode_record`], on its own.
pub fn split_event(event_json: &str) -> Result<Vec<&RawValue>, serde_json::Error> {
    read_event(event_json, std::marker::PhantomData::<Vec<&RawValue>>)
}

/// Checks that `event_json` is an event, with [`split_event`]'s verdict and error, without
/// keeping its records: most events are read by the fast path alone (`ddb-lake normalize`
/// checks every event of its input before it writes anything).
pub fn check_event(event_json: &str) -> Result<(), serde_json::Error> {
    if fast::is_event(event_json) {
        return Ok(());
    }
    split_event(event_json).map(drop)
}

/// Decodes the raw JSON of one stream record.
pub fn decode_record(raw: &str) -> Result<StreamRecord<'_>, RecordError> {
    let wire = match fast::record(raw) {
        Some(wire) => wire,
        None => serde_json::from_str::<RecordWire<'_>>(raw).map_err(RecordError::Shape)?,
    };
    wire.check()
}

/// Decodes a whole event in one pass and hands each record to `f` as soon as it is decoded,
/// so only one decoded record is held at a time. Returns the number of records.
///
/// Fails as soon as any record does not decode (records before it have been handed over):
/// the caller then starts again with [`split_event`] and [`decode_record`], record by
/// record, so that only the bad ones are quarantined.
pub fn for_each_record<'a>(
    event_json: &'a str,
    mut f: impl FnMut(usize, StreamRecord<'a>),
) -> Result<usize, RecordError> {
    match fast::for_each_record(event_json, &mut f) {
        Some(done) => done,
        None => for_each_record_serde(event_json, f),
    }
}

/// [`for_each_record`] by serde alone (the fast path's reference).
fn for_each_record_serde<'a>(
    event_json: &'a str,
    f: impl FnMut(usize, StreamRecord<'a>),
) -> Result<usize, RecordError> {
    struct RecordsSeed<F>(F);
    impl<'de, F: FnMut(usize, StreamRecord<'de>)> de::DeserializeSeed<'de> for RecordsSeed<F> {
        type Value = usize;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
            deserializer.deserialize_seq(self)
        }
    }
    impl<'de, F: FnMut(usize, StreamRecord<'de>)> Visitor<'de> for RecordsSeed<F> {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of stream records")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<usize, A::Error> {
            let mut index = 0;
            while let Some(wire) = seq.next_element::<RecordWire<'de>>()? {
                let rec = wire.check().map_err(de::Error::custom)?;
                (self.0)(index, rec);
                index += 1;
            }
            Ok(index)
        }
    }
    read_event(event_json, RecordsSeed(f)).map_err(RecordError::Shape)
}

impl<'a> RecordWire<'a> {
    /// Checks the fields serde cannot, and builds the record.
    fn check(self) -> Result<StreamRecord<'a>, RecordError> {
        let wire = self;
        let event_name = match wire.event_name.as_str() {
            "INSERT" => EventName::Insert,
            "MODIFY" => EventName::Modify,
            "REMOVE" => EventName::Remove,
            other => return Err(RecordError::EventName(clip(other))),
        };
        let change = wire.change;
        let seq = change.sequence_number;
        if !is_canonical_sequence_number(seq.as_str()) {
            return Err(RecordError::SequenceNumber(clip(seq.as_str())));
        }
        let event_time_millis = match change.approximate_creation_date_time {
            None => return Err(RecordError::NoTime),
            Some(secs) => event_time_millis(secs).ok_or(RecordError::TimeOutOfRange(secs))?,
        };
        let keys = change.keys.unwrap_or_default();
        check_keys(&keys)?;
        let view = match change.stream_view_type {
            None => None,
            Some(v) => {
                Some(StreamViewType::of(v.as_str()).ok_or_else(|| RecordError::StreamViewType(clip(v.as_str())))?)
            }
        };
        // The images a record of its kind carries: a REMOVE has no new image, and a stream
        // view shows only its own (docs/lake-spec.md: such records appear in `changes` only).
        let shows_new = event_name != EventName::Remove && view.is_none_or(StreamViewType::shows_new_image);
        let shows_old = view.is_none_or(StreamViewType::shows_old_image);
        let new_image = change.new_image.filter(|i| shows_new && !i.is_empty());
        let old_image = change.old_image.filter(|i| shows_old && !i.is_empty());
        let (principal, kind) = match wire.user_identity {
            Some(u) => (u.principal_id, u.kind),
            None => (None, None),
        };
        let ttl_delete = event_name == EventName::Remove
            && principal.as_ref().is_some_and(|p| p.as_str() == TTL_PRINCIPAL)
            && kind.as_ref().is_none_or(|k| k.as_str() == "Service");
        Ok(StreamRecord {
            event_id: wire.event_id,
            event_name,
            event_source_arn: wire.event_source_arn,
            event_time_millis,
            keys,
            new_image,
            old_image,
            sequence_number: seq,
            size_bytes: change.size_bytes,
            stream_view_type: view.map(|v| Text(Cow::Borrowed(v.as_str()))),
            principal,
            ttl_delete,
        })
    }
}

impl<'a> StreamRecord<'a> {
    /// An item of a snapshot taken at `time_millis`, as the record the flattener reads: event
    /// name [`EventName::Snapshot`], the item as its new image, `keys` its key attributes, no
    /// sequence number (the text is empty and the flattener writes NULL), no stream fields.
    pub fn snapshot(keys: Item<'a>, item: Item<'a>, time_millis: i64) -> Self {
        StreamRecord {
            event_id: None,
            event_name: EventName::Snapshot,
            event_source_arn: None,
            event_time_millis: time_millis,
            keys,
            new_image: Some(item),
            old_image: None,
            sequence_number: Text(Cow::Borrowed("")),
            size_bytes: None,
            stream_view_type: None,
            principal: None,
            ttl_delete: false,
        }
    }

    /// An item of an incremental export, as the record the flattener reads: event name
    /// [`EventName::Incremental`] with its new image, or [`EventName::IncrementalRemove`]
    /// without one (its last write in the window deleted it); `keys` its key attributes, the
    /// write's time `time_millis` and its `WriteTimestampMicros` as the sequence number (it
    /// orders the item's rows of several exports), the old image when the view has it (for
    /// the tenant rule), no stream fields.
    pub fn incremental(
        keys: Item<'a>,
        write_micros: Text<'a>,
        new_image: Option<Item<'a>>,
        old_image: Option<Item<'a>>,
        time_millis: i64,
    ) -> Self {
        let event_name = if new_image.is_some() { EventName::Incremental } else { EventName::IncrementalRemove };
        StreamRecord {
            event_id: None,
            event_name,
            event_source_arn: None,
            event_time_millis: time_millis,
            keys,
            new_image,
            old_image: old_image.filter(|i| !i.is_empty()),
            sequence_number: write_micros,
            size_bytes: None,
            stream_view_type: None,
            principal: None,
            ttl_delete: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_events::record;
    use serde_json::json;

    /// The every_type fixture's first record (an INSERT with every attribute type), as text.
    fn every_type() -> String {
        record("every_type.json").to_string()
    }

    #[test]
    fn a_wide_map_is_looked_up_by_name_in_event_order_with_the_first_of_a_repeated_name() {
        // 40 names in descending order (so event order and name order differ), one repeated.
        let names: Vec<String> = (0..40).rev().map(|i| format!("a{i:02}")).collect();
        let mut members: Vec<String> = names.iter().map(|n| format!(r#""{n}":{{"S":"v-{n}"}}"#)).collect();
        members.push(r#""a07":{"S":"second"}"#.to_owned());
        let json = format!("{{{}}}", members.join(","));
        let item: Item<'_> = serde_json::from_str(&json).unwrap();
        assert!(item.len() > ByName::SCAN_UP_TO);
        assert_eq!(item.len(), 41);
        let in_order: Vec<&str> = item.iter().map(|(n, _)| n.as_str()).take(40).collect();
        assert_eq!(in_order, names);
        let by_name = item.by_name();
        for n in &names {
            let expected = Some(format!("v-{n}"));
            assert_eq!(by_name.get(n).and_then(|v| v.scalar_text()), expected.as_deref(), "{n}");
            assert_eq!(item.get(n).and_then(|v| v.scalar_text()), expected.as_deref(), "{n}");
        }
        assert_eq!(by_name.get("a07").and_then(|v| v.scalar_text()), Some("v-a07"));
        for missing in ["", "a", "a40", "a0", "b", "a07 "] {
            assert_eq!(by_name.get(missing), None, "{missing:?}");
        }
        // Looked for first at a position, the answer is `get`'s wherever the name is: at
        // that position or not, repeated (the second a07 is at 40) or not.
        let unrepeated_json = format!("{{{}}}", members[..40].join(","));
        let unrepeated: Item<'_> = serde_json::from_str(&unrepeated_json).unwrap();
        for map in [&item, &unrepeated] {
            let by_name = map.by_name();
            for n in names.iter().map(String::as_str).chain(["", "a40", "a07 "]) {
                for at in 0..map.len() + 2 {
                    assert_eq!(by_name.get_at(at, n), by_name.get(n), "{n} at {at}");
                }
            }
        }
        let small: Item<'_> = serde_json::from_str(r#"{"b":{"N":"1"},"a":{"N":"2"},"b":{"N":"3"}}"#).unwrap();
        type Lookup = fn(&Item<'static>, &str) -> Option<AttributeValue<'static>>;
        let lookups: [Lookup; 2] = [|i, n| i.get(n).cloned(), |i, n| i.by_name().get(n).cloned()];
        for lookup in lookups {
            assert_eq!(lookup(&small, "b").as_ref().and_then(|v| v.scalar_text()), Some("1"));
            assert_eq!(lookup(&small, "a").as_ref().and_then(|v| v.scalar_text()), Some("2"));
            assert_eq!(lookup(&small, "c"), None);
        }
    }

    #[test]
    fn decodes_every_type_exactly() {
        let text = every_type();
        let r = decode_record(&text).unwrap();
        assert_eq!(r.event_name, EventName::Insert);
        assert_eq!(r.event_time_millis, 1_793_887_200_000);
        assert_eq!(r.sequence_number.as_str(), "98000000000000000000031");
        assert_eq!(r.size_bytes, Some(842));
        assert!(!r.ttl_delete && r.old_image.is_none());
        let img = r.new_image.as_ref().unwrap();
        let text_of = |name: &str| img.get(name).and_then(|v| v.scalar_text());
        assert_eq!(text_of("name"), Some("Zoë's sync — 日本語 🦀"));
        assert_eq!(text_of("note"), Some(""));
        assert_eq!(text_of("literalNull"), Some("\\N"));
        assert_eq!(text_of("multiline"), Some("line one\nline two\r\n\tC:\\temp ␊"));
        assert_eq!(text_of("checksum"), Some("c2hhMjU2IG9mIGZpeHR1cmUgY2hlY2tzdW0AAf8="));
        assert!(matches!(img.get("enabled"), Some(AttributeValue::Bool(false))));
        let types: Vec<&str> = ["deletedAt", "labels", "weights", "blobs", "tags", "settings"]
            .map(|n| img.get(n).unwrap().type_name())
            .to_vec();
        assert_eq!(types, ["NULL", "SS", "NS", "BS", "L", "M"]);
        match img.get("counters").unwrap() {
            AttributeValue::M(m) => {
                assert_eq!(m.get("syncedIssues").unwrap().scalar_text(), Some("99999999999999999999999999999999999999"))
            }
            other => panic!("{other:?}"),
        }
        match img.get("fieldMappings").unwrap() {
            AttributeValue::L(l) => match &l[0] {
                AttributeValue::M(m) => assert_eq!(m.get("mapping").unwrap().scalar_text(), Some("tab\there")),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let text = every_type();
        let r = decode_record(&text).unwrap();
        assert!(matches!(r.keys.iter().next().unwrap().0 .0, Cow::Borrowed(_)));
    }

    #[test]
    fn unknown_type_and_bad_number_are_record_errors() {
        let variant = |name: &str, value: serde_json::Value| {
            let mut r = record("every_type.json");
            r["dynamodb"]["NewImage"][name] = value;
            decode_record(&r.to_string()).map(|_| ()).map_err(|e| e.to_string())
        };
        let e = variant("enabled", json!({"DATE": "x"})).unwrap_err();
        assert!(e.contains("unknown DynamoDB attribute type `DATE`"), "{e}");
        let e = variant("weights", json!({"NS": ["2.5", "1.2.3"]})).unwrap_err();
        assert!(e.contains("not a DynamoDB number"), "{e}");
        assert!(variant("checksum", json!({"B": "%%%"})).is_err());
        assert!(variant("checksum", json!({"B": "c2hh"})).is_ok());
    }

    #[test]
    fn ttl_remove_is_recognised() {
        let ttl = record("ttl_delete.json").to_string();
        let r = decode_record(&ttl).unwrap();
        assert!(r.ttl_delete);
        assert_eq!(r.principal.as_ref().map(Text::as_str), Some(TTL_PRINCIPAL));
        assert_eq!(r.event_time_millis, 1_793_001_234_000);
        assert!(r.new_image.is_none() && r.old_image.is_some());
        // A user's delete is not a TTL expiry.
        let user = record("remove.json").to_string();
        let r = decode_record(&user).unwrap();
        assert!(!r.ttl_delete && r.principal.is_none());
        // A fractional time keeps its milliseconds; a KEYS_ONLY record has no images.
        let mut keys_only = record("keys_only.json");
        keys_only["dynamodb"]["ApproximateCreationDateTime"] = json!(1793883600.5);
        let keys_only = keys_only.to_string();
        let r = decode_record(&keys_only).unwrap();
        assert_eq!(r.event_time_millis, 1_793_883_600_500);
        assert!(r.new_image.is_none() && r.old_image.is_none());
        assert_eq!(r.stream_view_type.as_ref().map(Text::as_str), Some("KEYS_ONLY"));
    }

    #[test]
    fn each_view_type_decodes_the_images_it_carries() {
        for (fixture, view, new, old) in [
            ("keys_only.json", "KEYS_ONLY", false, false),
            ("new_image.json", "NEW_IMAGE", true, false),
            ("old_image.json", "OLD_IMAGE", false, true),
            ("modify.json", "NEW_AND_OLD_IMAGES", true, true),
        ] {
            let text = record(fixture).to_string();
            let r = decode_record(&text).unwrap();
            assert_eq!(r.event_name, EventName::Modify, "{fixture}");
            assert_eq!(r.stream_view_type.as_ref().map(Text::as_str), Some(view), "{fixture}");
            assert_eq!((r.new_image.is_some(), r.old_image.is_some()), (new, old), "{fixture}");
            assert_eq!(r.keys.get("pk").and_then(|v| v.scalar_text()).map(|pk| pk.starts_with("CLIENT#")), Some(true));
        }
    }

    #[test]
    fn split_keeps_bad_records_for_later() {
        let ev = r#"{"Records":[{"eventName":"INSERT"}, 5, {"x":1}]}"#;
        let recs = split_event(ev).unwrap();
        assert_eq!(recs.len(), 3);
        assert!(decode_record(recs[1].get()).is_err());
        assert!(split_event("{\"Records\": [").is_err());
    }
}
