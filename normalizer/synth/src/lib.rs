//! Synthetic DynamoDB Streams Lambda events for the `sync-configurations` table.
//!
//! ddb-lake's demos, tests and benchmarks need stream data that looks like
//! what Lambda really receives from a DynamoDB stream: the `{"Records":[...]}`
//! JSON of a SaaS app's table holding one "sync configuration" item per Jira
//! issue sync of a customer. This crate makes that data, deterministically
//! for a given seed. The writer and the Lambda function never link it. It is
//! called by:
//!
//! * the `ddb-lake generate` command, which writes [`generate`]'s events with
//!   [`write_json_lines`];
//! * the benchmark, which normalizes one Lambda-payload-sized event made by
//!   [`event_of_size`];
//! * the tests, which use both to get realistic, awkward input;
//! * `ddb-lake replay`'s stream reader, which writes the records it reads from
//!   a stream with [`event_json`], the same writer.
//!
//! # What is generated
//!
//! Items are spread over `customers` customers with a Zipf distribution, so a
//! few customers own most of them (and, owning more, edit more). Each item has
//! an `INSERT`, then zero or more `MODIFY`s (sync runs bumping counters, sync
//! errors setting and later clearing `lastError`, interval and enabled
//! changes, field mappings added, removed or changed, renames, ...), and
//! about 10% end with a `REMOVE` by a user and 5% with a `REMOVE` by TTL
//! expiry (the latter with `userIdentity` = DynamoDB's service principal).
//! Writes follow a working-hours (08–18 UTC) and weekday shape; TTL deletes
//! happen at any hour. Attribute values include the awkward cases a data lake
//! has to survive: names with tabs, quotes, backslashes, `\N`, CR/LF, commas,
//! emoji, CJK, combining marks, right-to-left text, empty and ~5 KB strings;
//! 38-digit and tiny numbers; binary with zero bytes; `NULL`s; sets; a map
//! nested four levels deep.
//!
//! All records use the `NEW_AND_OLD_IMAGES` view: an `INSERT` has only a
//! `NewImage`, a `MODIFY` has both (its `OldImage` is exactly the previous
//! record's `NewImage`), a `REMOVE` has only an `OldImage`.
//!
//! # JSON form
//!
//! [`write_json_lines`], [`event_of_size`] and [`event_json`] write the JSON
//! the way Lambda sends it: absent images, `userIdentity`,
//! `ApproximateCreationDateTime` (the Unix epoch in the type) and other absent
//! optional fields are left out (rather than written as `{}` or `null` as the
//! `aws_lambda_events` types' own `Serialize` would), binary values are
//! base64, and the keys of item maps are sorted so that the text is
//! deterministic (the maps are `HashMap`s). The text parses back with
//! `serde_json::from_str::<Event>` into an equal [`Event`].

#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod catalogue;
pub mod export;
mod history;
mod item;
mod lambda_json;
mod options;

use std::io::{self, Write};

use aws_lambda_events::event::dynamodb::Event;

pub use lambda_json::event_json;
pub use options::{SynthError, SynthOptions, DEFAULT_START};

use history::Synth;
use lambda_json::{write_event, write_record};
use options::{validate, MAX_ITEMS, MAX_RECORDS_PER_EVENT};

/// Generates the whole history as Lambda events, records in stream order.
///
/// Every event but the last holds exactly `records_per_event` records.
/// Sequence numbers strictly increase and `ApproximateCreationDateTime`
/// never decreases through the whole history. The same options always give
/// equal events.
pub fn generate(opts: &SynthOptions) -> Result<Vec<Event>, SynthError> {
    let checked = validate(opts)?;
    let mut synth = Synth::new(opts.seed, checked);
    Ok(synth.history(opts.items, opts.customers, opts.records_per_event))
}

/// The most leaves in a list that fit [`widest_legal_item`] within DynamoDB's 400 KB.
pub const WIDEST_LEGAL_LIST: usize = 130_000;

/// An item at DynamoDB's limits, as DynamoDB JSON (`{"pk": {"S": …}, …}`): the largest keys a
/// table allows (a 2,048-byte partition key `pk`, a 1,024-byte sort key `sk`, which starts
/// with `sk_start`) and a list `numbers` of `numbers` one-digit numbers, the most leaves per
/// byte. By DynamoDB's size rules (names and values in UTF-8 bytes; a number 1 byte per two
/// digits plus 1; a list 3 bytes plus 1 per element) it is 3,086 + 3 × `numbers` bytes:
/// 393,086 bytes for [`WIDEST_LEGAL_LIST`], under the 409,600-byte limit. Every one of its
/// leaves is a row of `attributes` that repeats the 3 KB of keys (three times: `item_key`,
/// `pk`, `sk`) — the benchmarks' worst case for memory.
pub fn widest_legal_item(sk_start: &str, numbers: usize) -> serde_json::Value {
    let pk = "P".repeat(2048);
    let mut sk: String = sk_start.chars().take(1024).collect();
    sk.push_str(&"S".repeat(1024usize.saturating_sub(sk.len())));
    let list: Vec<serde_json::Value> = (0..numbers).map(|i| serde_json::json!({"N": (i % 10).to_string()})).collect();
    serde_json::json!({"pk": {"S": pk}, "sk": {"S": sk}, "numbers": {"L": list}})
}

/// Generates one event whose serialized JSON is as close to `target_bytes`
/// as possible without exceeding it (for the benchmark: 6 MB = Lambda payload
/// limit, ~2,000 records); returns the JSON text.
///
/// The records are the start of the history [`generate`] makes for the
/// default options with `seed` and enough items; the gap that is left is
/// then filled, where it is large enough, by one more `INSERT` whose `name`
/// is padded so that the text usually ends up exactly `target_bytes` long.
/// A `target_bytes` below 14 still gets the empty event `{"Records":[]}`.
pub fn event_of_size(target_bytes: usize, seed: u64) -> String {
    const HEAD: &str = "{\"Records\":[";
    const TAIL: &str = "]}";
    let limit = target_bytes.saturating_sub(TAIL.len());
    let mut out = String::with_capacity(target_bytes.min(1 << 28));
    out.push_str(HEAD);
    if out.len() >= limit {
        out.push_str(TAIL);
        return out;
    }
    // About 11 KB of JSON per item: start with enough for one pass.
    let mut items = (target_bytes / 8_000).clamp(16, MAX_ITEMS);
    let mut record_json = String::new();
    loop {
        let opts = SynthOptions { items, seed, ..SynthOptions::default() };
        let Ok(checked) = validate(&opts) else {
            break;
        };
        let mut synth = Synth::new(seed, checked);
        let events = synth.history(opts.items, opts.customers, MAX_RECORDS_PER_EVENT);
        out.truncate(HEAD.len());
        // (length of `out` before the record, time of the record before it)
        let mut last: Option<(usize, i64)> = None;
        let mut last_time = synth.start;
        let mut full = false;
        for record in events.iter().flat_map(|e| e.records.iter()) {
            record_json.clear();
            write_record(&mut record_json, record);
            let sep = usize::from(out.len() > HEAD.len());
            if out.len() + sep + record_json.len() > limit {
                full = true;
                break;
            }
            last = Some((out.len(), last_time));
            if sep == 1 {
                out.push(',');
            }
            out.push_str(&record_json);
            last_time = record.change.approximate_creation_date_time.timestamp();
        }
        if full || items >= MAX_ITEMS {
            // Fill the gap with one padded INSERT; if even an unpadded one does
            // not fit, let one take the last record's place.
            let sep = usize::from(out.len() > HEAD.len());
            let gap = limit - out.len();
            let mut pad = if gap > sep { synth.padding_record(last_time, gap - sep) } else { None };
            if pad.is_none() {
                if let Some((len, time)) = last {
                    let sep = usize::from(len > HEAD.len());
                    pad = synth.padding_record(time, limit - len - sep);
                    if pad.is_some() {
                        out.truncate(len);
                    }
                }
            }
            if let Some(pad) = pad {
                if out.len() > HEAD.len() {
                    out.push(',');
                }
                out.push_str(&pad);
            }
            break;
        }
        items = (items * 2).min(MAX_ITEMS);
    }
    out.push_str(TAIL);
    out
}

/// Writes events as JSON lines (one event per line) and returns the number of
/// records written.
///
/// Each line is the JSON Lambda would receive for the event (see the module
/// documentation for its exact form).
pub fn write_json_lines<W: Write>(events: &[Event], out: W) -> io::Result<usize> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let mut line = String::new();
    let mut records = 0usize;
    for event in events {
        line.clear();
        write_event(&mut line, event);
        line.push('\n');
        out.write_all(line.as_bytes())?;
        records += event.records.len();
    }
    out.flush()?;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DynamoDB's item size rules (developer guide, "Item sizes"): names and strings in UTF-8
    /// bytes, a number 1 byte per two significant digits plus 1, a list or map 3 bytes plus 1
    /// per element.
    fn dynamodb_size(v: &serde_json::Value) -> usize {
        let (kind, inner) = v.as_object().and_then(|m| m.iter().next()).unwrap();
        match kind.as_str() {
            "S" => inner.as_str().unwrap().len(),
            "N" => inner.as_str().unwrap().trim_start_matches('0').len().max(1).div_ceil(2) + 1,
            "L" => 3 + inner.as_array().unwrap().iter().map(|e| dynamodb_size(e) + 1).sum::<usize>(),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn the_widest_legal_item_is_within_dynamodbs_limits() {
        let item = widest_legal_item("SYNC#7#", WIDEST_LEGAL_LIST);
        let map = item.as_object().unwrap();
        let size: usize = map.iter().map(|(name, v)| name.len() + dynamodb_size(v)).sum();
        assert!(size <= 400 * 1024, "{size} bytes");
        assert!(size > 390_000, "{size} bytes: the widest, not a small one");
        assert_eq!(item["pk"]["S"].as_str().unwrap().len(), 2048);
        assert_eq!(item["sk"]["S"].as_str().unwrap().len(), 1024);
        assert!(item["sk"]["S"].as_str().unwrap().starts_with("SYNC#7#"));
        assert_eq!(item["numbers"]["L"].as_array().unwrap().len(), WIDEST_LEGAL_LIST);
    }
    use crate::catalogue::*;
    use aws_lambda_events::event::dynamodb::{EventRecord, StreamViewType};
    use chrono::{DateTime, Datelike, Timelike};
    use serde_dynamo::{AttributeValue, Item};
    use std::collections::{HashMap, HashSet};

    use crate::lambda_json::push_json_str;
    use crate::options::*;

    fn jsonl(events: &[Event]) -> Vec<u8> {
        let mut out = Vec::new();
        let written = write_json_lines(events, &mut out);
        assert!(written.is_ok());
        out
    }

    fn records(events: &[Event]) -> Vec<&EventRecord> {
        events.iter().flat_map(|e| e.records.iter()).collect()
    }

    fn text(item: &Item, name: &str) -> Option<String> {
        match item.get(name) {
            Some(AttributeValue::S(v)) => Some(v.clone()),
            _ => None,
        }
    }

    fn key_of(record: &EventRecord) -> (String, String) {
        let keys = &record.change.keys;
        (text(keys, "pk").unwrap_or_default(), text(keys, "sk").unwrap_or_default())
    }

    fn generated(opts: &SynthOptions) -> Vec<Event> {
        match generate(opts) {
            Ok(events) => events,
            Err(e) => panic!("options rejected: {e}"),
        }
    }

    fn default_events() -> Vec<Event> {
        generated(&SynthOptions::default())
    }

    #[test]
    fn same_options_give_identical_json() {
        let opts = SynthOptions { items: 300, ..SynthOptions::default() };
        let a = jsonl(&generated(&opts));
        let b = jsonl(&generated(&opts));
        assert!(!a.is_empty());
        assert_eq!(a, b);
        let other = SynthOptions { seed: 43, ..opts };
        let c = jsonl(&generated(&other));
        assert_ne!(a, c);
    }

    #[test]
    fn events_round_trip_in_stream_order() {
        let opts = SynthOptions { records_per_event: 37, ..SynthOptions::default() };
        let events = generated(&opts);
        assert!(!events.is_empty());
        let mut total = 0;
        for (i, event) in events.iter().enumerate() {
            assert!(event.records.len() <= 37 && !event.records.is_empty());
            if i + 1 < events.len() {
                assert_eq!(event.records.len(), 37);
            }
            let json = event_json(event);
            let back: Result<Event, _> = serde_json::from_str(&json);
            assert_eq!(back.ok().as_ref(), Some(event), "event {i} did not round-trip");
            // The crate's own serialization parses too.
            let theirs = serde_json::to_string(event).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(serde_json::from_str::<Event>(&theirs).ok().as_ref(), Some(event));
            total += event.records.len();
        }
        let lines = jsonl(&events);
        let mut out = Vec::new();
        assert_eq!(write_json_lines(&events, &mut out).ok(), Some(total));
        assert_eq!(lines.iter().filter(|&&b| b == b'\n').count(), events.len());

        let all = records(&events);
        for pair in all.windows(2) {
            let a = pair[0].change.sequence_number.clone().unwrap_or_default();
            let b = pair[1].change.sequence_number.clone().unwrap_or_default();
            assert!((a.len(), &a) < (b.len(), &b), "{a} !< {b}");
            assert!(pair[0].change.approximate_creation_date_time <= pair[1].change.approximate_creation_date_time);
        }
        let first = all[0].change.sequence_number.clone().unwrap_or_default();
        assert_eq!(first.len(), 21);
        let ids: HashSet<&String> = all.iter().map(|r| &r.event_id).collect();
        assert_eq!(ids.len(), all.len());
        let start = opts.start;
        let end = start + chrono::Duration::days(i64::from(opts.days));
        for r in &all {
            let t = r.change.approximate_creation_date_time;
            assert!(t >= start && t < end);
            assert_eq!(r.event_id.len(), 32);
            assert_eq!(r.event_source.as_deref(), Some("aws:dynamodb"));
            assert_eq!(r.event_version.as_deref(), Some("1.1"));
            assert_eq!(r.aws_region, "us-east-1");
            assert_eq!(r.event_source_arn.as_deref(), Some(DEFAULT_STREAM_ARN));
            assert_eq!(r.change.stream_view_type, Some(StreamViewType::NewAndOldImages));
            assert!(r.change.size_bytes > 0);
        }
    }

    #[test]
    fn images_follow_each_item_history() {
        let events = default_events();
        let all = records(&events);
        let mut current: HashMap<(String, String), Item> = HashMap::new();
        let (mut inserts, mut modifies, mut user_removes, mut ttl_removes) = (0, 0, 0, 0);
        for r in &all {
            let key = key_of(r);
            let c = &r.change;
            assert_eq!(c.keys.len(), 2);
            match r.event_name.as_str() {
                "INSERT" => {
                    inserts += 1;
                    assert!(c.old_image.is_empty() && !c.new_image.is_empty());
                    assert!(r.user_identity.is_none());
                    assert!(current.insert(key, c.new_image.clone()).is_none());
                }
                "MODIFY" => {
                    modifies += 1;
                    assert_eq!(current.get(&key), Some(&c.old_image));
                    assert_ne!(c.old_image, c.new_image);
                    current.insert(key, c.new_image.clone());
                }
                "REMOVE" => {
                    assert!(c.new_image.is_empty());
                    assert_eq!(current.remove(&key).as_ref(), Some(&c.old_image));
                    match &r.user_identity {
                        None => user_removes += 1,
                        Some(id) => {
                            assert_eq!(id.type_, "Service");
                            assert_eq!(id.principal_id, "dynamodb.amazonaws.com");
                            ttl_removes += 1;
                            let ttl = match c.old_image.get("ttl") {
                                Some(AttributeValue::N(v)) => v.parse::<i64>().unwrap_or(i64::MAX),
                                _ => i64::MAX,
                            };
                            assert!(ttl <= c.approximate_creation_date_time.timestamp());
                        }
                    }
                }
                other => panic!("unexpected eventName {other}"),
            }
            let keys_match = |image: &Item| {
                image.is_empty() || (image.get("pk") == c.keys.get("pk") && image.get("sk") == c.keys.get("sk"))
            };
            assert!(keys_match(&c.new_image) && keys_match(&c.old_image));
        }
        assert_eq!(inserts, 1000);
        assert!(modifies > inserts, "{modifies} modifies");
        assert!((50..=150).contains(&user_removes), "{user_removes} user removes");
        assert!((20..=90).contains(&ttl_removes), "{ttl_removes} TTL removes");

        // JSON form: INSERT without OldImage, user REMOVE without userIdentity.
        let insert = all.iter().find(|r| r.event_name == "INSERT").copied();
        let remove = all.iter().find(|r| r.event_name == "REMOVE" && r.user_identity.is_none()).copied();
        let mut json = String::new();
        if let Some(r) = insert {
            write_record(&mut json, r);
        }
        assert!(json.contains("\"NewImage\"") && !json.contains("\"OldImage\""));
        json.clear();
        if let Some(r) = remove {
            write_record(&mut json, r);
        }
        assert!(json.contains("\"OldImage\"") && !json.contains("NewImage"));
        assert!(!json.contains("userIdentity") && !json.contains("null,"));
    }

    #[test]
    fn customers_are_skewed() {
        let events = default_events();
        let mut owned: HashMap<String, usize> = HashMap::new();
        for r in records(&events) {
            if r.event_name == "INSERT" {
                let pk = key_of(r).0;
                let client = text(&r.change.new_image, "clientKey").unwrap_or_default();
                let number = pk.trim_start_matches("CLIENT#c").trim_start_matches('0');
                assert_eq!(client, format!("client-{number}"));
                *owned.entry(pk).or_default() += 1;
            }
        }
        let mut counts: Vec<usize> = owned.values().copied().collect();
        counts.resize(50.max(counts.len()), 0);
        counts.sort_unstable();
        let top = counts[counts.len() - 1];
        let median = counts[counts.len() / 2];
        assert!(top > 3 * median.max(1), "top {top}, median {median}");
    }

    #[test]
    fn history_has_realistic_shape_and_awkward_values() {
        let events = default_events();
        let all = records(&events);
        let (mut busy, mut quiet, mut weekday, mut weekend) = (0usize, 0usize, 0usize, 0usize);
        for r in &all {
            let t = r.change.approximate_creation_date_time;
            if (8..18).contains(&t.hour()) {
                busy += 1;
            } else {
                quiet += 1;
            }
            if t.weekday().num_days_from_monday() < 5 {
                weekday += 1;
            } else {
                weekend += 1;
            }
        }
        // 10 busy hours vs 14 quiet ones; 5 weekdays vs 2 weekend days.
        assert!(busy > quiet, "busy {busy}, quiet {quiet}");
        assert!(weekday / 5 > 2 * (weekend / 2), "weekday {weekday}, weekend {weekend}");

        // Final state of items still present.
        let mut last: HashMap<(String, String), &Item> = HashMap::new();
        for r in &all {
            if r.event_name == "REMOVE" {
                last.remove(&key_of(r));
            } else {
                last.insert(key_of(r), &r.change.new_image);
            }
        }
        let with_error = last.values().filter(|i| i.contains_key("lastError")).count();
        let share = with_error as f64 / last.len() as f64;
        assert!((0.07..=0.30).contains(&share), "lastError share {share}");

        let json = String::from_utf8(jsonl(&events)).unwrap_or_default();
        for needle in [
            "\\t",
            "\\\"",
            "\\\\N",
            "\\r\\n",
            "🚀",
            "同步",
            "\u{301}",
            "\u{5e1}",
            "{\"S\":\"\"}",
            "\"NULL\":true",
            "\"BS\":",
            "\"maxSeconds\"",
            "\"transform\":{\"NULL\":true}",
            "\"L\":[]",
        ] {
            assert!(json.contains(needle), "no {needle:?} in the output");
        }
        assert!(json.contains("-0.000000000000000000000000000000000001"));
        let long_names =
            all.iter().filter_map(|r| text(&r.change.new_image, "name")).filter(|n| n.len() >= 5000).count();
        assert!(long_names > 0);
        let big_numbers = all
            .iter()
            .filter_map(|r| match r.change.new_image.get("counters") {
                Some(AttributeValue::M(m)) => m.get("syncedIssues").cloned(),
                _ => None,
            })
            .filter(|v| matches!(v, AttributeValue::N(n) if n.len() == 38))
            .count();
        assert!(big_numbers > 0);
        let zero_bytes = all.iter().any(|r| {
            matches!(r.change.new_image.get("checksum"), Some(AttributeValue::B(b)) if b.len() == 16 && b.contains(&0))
        });
        assert!(zero_bytes);
    }

    #[test]
    fn event_of_size_fills_a_lambda_payload() {
        let json = event_of_size(6_000_000, 1);
        assert!(json.len() <= 6_000_000 && json.len() > 5_700_000, "{}", json.len());
        let event: Event = serde_json::from_str(&json).unwrap_or_else(|e| panic!("not an Event: {e}"));
        let n = event.records.len();
        assert!((1_500..=3_000).contains(&n), "{n} records");
        assert_eq!(event_of_size(6_000_000, 1), json);
        for pair in event.records.windows(2) {
            let a = pair[0].change.sequence_number.clone().unwrap_or_default();
            let b = pair[1].change.sequence_number.clone().unwrap_or_default();
            assert!((a.len(), &a) < (b.len(), &b));
        }

        let small = event_of_size(10_000, 7);
        assert!(small.len() <= 10_000);
        assert!(serde_json::from_str::<Event>(&small).is_ok());
        assert_eq!(event_of_size(5, 7), "{\"Records\":[]}");
    }

    #[test]
    fn bad_options_are_named() {
        let cases = [
            (SynthOptions { items: 0, ..SynthOptions::default() }, "`items`"),
            (SynthOptions { customers: 0, ..SynthOptions::default() }, "`customers`"),
            (SynthOptions { records_per_event: 0, ..SynthOptions::default() }, "`records_per_event`"),
            (SynthOptions { records_per_event: 10_001, ..SynthOptions::default() }, "`records_per_event`"),
            (SynthOptions { days: 0, ..SynthOptions::default() }, "`days`"),
            (
                SynthOptions { start: DateTime::UNIX_EPOCH - chrono::Duration::days(1), ..SynthOptions::default() },
                "`start`",
            ),
            (SynthOptions { table_name: "x".into(), ..SynthOptions::default() }, "`table_name`"),
            (SynthOptions { table_name: "other-table".into(), ..SynthOptions::default() }, "`stream_arn`"),
        ];
        for (opts, name) in cases {
            match generate(&opts) {
                Ok(_) => panic!("{name} accepted"),
                Err(e) => assert!(e.to_string().contains(name), "{e} does not name {name}"),
            }
        }
        let msg = generate(&SynthOptions { items: 0, ..SynthOptions::default() })
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("between 1 and 1000000"), "{msg}");
    }

    #[test]
    fn empty_stream_arn_is_derived_and_region_follows_the_arn() {
        let opts = SynthOptions {
            items: 5,
            table_name: "other-table".into(),
            stream_arn: String::new(),
            ..SynthOptions::default()
        };
        let events = generated(&opts);
        let arn = events[0].records[0].event_source_arn.clone().unwrap_or_default();
        assert_eq!(arn, "arn:aws:dynamodb:us-east-1:123456789012:table/other-table/stream/2026-11-01T00:00:00.000");
        let opts = SynthOptions {
            items: 5,
            stream_arn: DEFAULT_STREAM_ARN.replace("us-east-1", "eu-west-1"),
            ..SynthOptions::default()
        };
        let events = generated(&opts);
        assert_eq!(events[0].records[0].aws_region, "eu-west-1");
    }

    #[test]
    fn json_strings_are_escaped_like_serde_json() {
        for value in AWKWARD_NAMES.iter().copied().chain(["\u{0}\u{1}\u{7f}\u{8}\u{c}", "ok"]) {
            let mut ours = String::new();
            push_json_str(&mut ours, value);
            assert_eq!(Some(ours), serde_json::to_string(value).ok());
        }
    }
}
