//! Lambda-event JSON: the text Lambda hands the function for a DynamoDB stream batch.
//!
//! One writer for every producer of such text in ddb-lake: the generator here and the
//! stream reader of `ddb-lake replay` (which turns the records it reads into
//! `aws_lambda_events` types and calls [`event_json`]). See the crate documentation
//! ("JSON form") for the exact form.

use std::collections::HashMap;
use std::fmt::Write as _;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_dynamo::AttributeValue;

pub(crate) fn push_json_str(out: &mut String, value: &str) {
    out.push('"');
    let bytes = value.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(value);
        out.push('"');
        return;
    }
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[from..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        from = i + 1;
    }
    out.push_str(&value[from..]);
    out.push('"');
}

fn push_key(out: &mut String, key: &str) {
    push_json_str(out, key);
    out.push(':');
}

fn push_base64(out: &mut String, bytes: &[u8]) {
    out.push('"');
    base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
    out.push('"');
}

pub(crate) fn write_map(out: &mut String, map: &HashMap<String, AttributeValue>) {
    let mut entries: Vec<(&String, &AttributeValue)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_key(out, key);
        write_value(out, value);
    }
    out.push('}');
}

fn write_list<T>(out: &mut String, values: &[T], mut write: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, value);
    }
    out.push(']');
}

fn write_value(out: &mut String, value: &AttributeValue) {
    out.push('{');
    match value {
        AttributeValue::S(v) => {
            push_key(out, "S");
            push_json_str(out, v);
        }
        AttributeValue::N(v) => {
            push_key(out, "N");
            push_json_str(out, v);
        }
        AttributeValue::B(v) => {
            push_key(out, "B");
            push_base64(out, v);
        }
        AttributeValue::Bool(v) => {
            push_key(out, "BOOL");
            out.push_str(if *v { "true" } else { "false" });
        }
        AttributeValue::Null(v) => {
            push_key(out, "NULL");
            out.push_str(if *v { "true" } else { "false" });
        }
        AttributeValue::M(v) => {
            push_key(out, "M");
            write_map(out, v);
        }
        AttributeValue::L(v) => {
            push_key(out, "L");
            write_list(out, v, write_value);
        }
        AttributeValue::Ss(v) => {
            push_key(out, "SS");
            write_list(out, v, |o, x| push_json_str(o, x));
        }
        AttributeValue::Ns(v) => {
            push_key(out, "NS");
            write_list(out, v, |o, x| push_json_str(o, x));
        }
        AttributeValue::Bs(v) => {
            push_key(out, "BS");
            write_list(out, v, |o, x| push_base64(o, x));
        }
    }
    out.push('}');
}

fn push_opt_field(out: &mut String, key: &str, value: Option<&String>) {
    if let Some(v) = value {
        out.push(',');
        push_key(out, key);
        push_json_str(out, v);
    }
}

pub(crate) fn write_record(out: &mut String, record: &EventRecord) {
    out.push('{');
    push_key(out, "eventID");
    push_json_str(out, &record.event_id);
    out.push(',');
    push_key(out, "eventName");
    push_json_str(out, &record.event_name);
    push_opt_field(out, "eventVersion", record.event_version.as_ref());
    push_opt_field(out, "eventSource", record.event_source.as_ref());
    out.push(',');
    push_key(out, "awsRegion");
    push_json_str(out, &record.aws_region);
    if let Some(identity) = &record.user_identity {
        out.push(',');
        push_key(out, "userIdentity");
        out.push('{');
        push_key(out, "type");
        push_json_str(out, &identity.type_);
        out.push(',');
        push_key(out, "principalId");
        push_json_str(out, &identity.principal_id);
        out.push('}');
    }
    out.push(',');
    push_key(out, "dynamodb");
    let change = &record.change;
    out.push('{');
    // The Unix epoch is what the type holds when the field was absent: leave it out again
    // (the decoder quarantines a record without a time rather than file it under 1970).
    let time = change.approximate_creation_date_time;
    if time != DateTime::<Utc>::UNIX_EPOCH {
        push_key(out, "ApproximateCreationDateTime");
        if time.timestamp_subsec_nanos() == 0 {
            let _ = write!(out, "{}", time.timestamp());
        } else {
            let seconds = time.timestamp() as f64 + f64::from(time.timestamp_subsec_nanos()) / 1e9;
            let _ = write!(out, "{seconds}");
        }
        out.push(',');
    }
    push_key(out, "Keys");
    write_map(out, &change.keys);
    if !change.new_image.is_empty() {
        out.push(',');
        push_key(out, "NewImage");
        write_map(out, &change.new_image);
    }
    if !change.old_image.is_empty() {
        out.push(',');
        push_key(out, "OldImage");
        write_map(out, &change.old_image);
    }
    push_opt_field(out, "SequenceNumber", change.sequence_number.as_ref());
    out.push(',');
    push_key(out, "SizeBytes");
    let _ = write!(out, "{}", change.size_bytes);
    if let Some(view) = &change.stream_view_type {
        out.push(',');
        push_key(out, "StreamViewType");
        push_json_str(out, &view.to_string());
    }
    out.push('}');
    push_opt_field(out, "eventSourceARN", record.event_source_arn.as_ref());
    push_opt_field(out, "recordFormat", record.record_format.as_ref());
    push_opt_field(out, "tableName", record.table_name.as_ref());
    out.push('}');
}

/// The JSON Lambda would receive for `event`, in the form the crate documentation
/// describes ("JSON form"): the one writer of Lambda-event text in ddb-lake, used by the
/// generator and by `ddb-lake replay`'s stream reader.
pub fn event_json(event: &Event) -> String {
    let mut out = String::new();
    write_event(&mut out, event);
    out
}

pub(crate) fn write_event(out: &mut String, event: &Event) {
    out.push_str("{\"Records\":[");
    for (i, record) in event.records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_record(out, record);
    }
    out.push_str("]}");
}
