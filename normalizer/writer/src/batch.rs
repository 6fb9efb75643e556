//! One batch (one Lambda event) → the lake objects it produces
//! ([`crate::normalizer::Normalizer::normalize_event`]).
//!
//! The event is split into records, each decoded and flattened on its own; the rows of every
//! record that succeeded go to one gzip'd object per table × day (an `ObjectAssembler`, [`crate::assembler`]),
//! named after the batch. A record that fails is quarantined with its
//! reason ([`crate::quarantine`]) and the batch goes on. Nothing here does I/O; writing the
//! objects is the sink's job.

use serde_json::value::RawValue;

use crate::assembler::{LakeObject, ObjectAssembler, ObjectLayout};
use crate::flatten::{Flattener, Scratch};
use crate::quarantine::{quarantine_object, QuarantinedRecord};
use crate::record::{decode_record, for_each_record, is_canonical_sequence_number, split_event, StreamRecord};
use ddb_lake_core::object_key::{day_of, BatchId, ObjectKey};

/// An event that is not a Lambda DynamoDB event at all (not one of its records).
#[derive(Debug, thiserror::Error)]
#[error("not a DynamoDB stream event (expected {{\"Records\": [...]}}): {0}")]
pub struct EventError(#[from] pub serde_json::Error);

/// Settings for one batch.
#[derive(Debug, Clone, Default)]
pub struct BatchOptions {
    /// The shard the batch came from, when known; otherwise a hash of the stream ARN names it.
    pub source: Option<String>,
}

/// What a batch produced.
#[derive(Debug, Clone, Default)]
pub struct BatchOutput {
    /// Identity of the batch (names its objects).
    pub batch: Option<BatchId>,
    /// Objects to write: rows per table × day, then the quarantine object if any.
    pub objects: Vec<LakeObject>,
    /// Records that went to quarantine.
    pub quarantined: Vec<QuarantinedRecord>,
    /// Records in the event.
    pub records: usize,
    /// Sequence number of each record, by position (for batch item failures).
    pub sequence_numbers: Vec<Option<String>>,
    /// Rows written per table, in schema order.
    pub rows_per_table: Vec<(String, u64)>,
    /// Event time of each record that decoded, in ms since the epoch (for stream lag).
    pub event_times: Vec<i64>,
    /// Bytes of JSON in the event.
    pub input_bytes: usize,
}

impl BatchOutput {
    /// Cells of declared tables written as NULL because their value did not fit the column
    /// type (the rows of `_rejects`).
    pub fn cells_rejected(&self) -> u64 {
        let rejects = ddb_lake_core::schema::BuiltInTable::Rejects.name();
        self.rows_per_table.iter().filter(|(t, _)| t == rejects).map(|(_, n)| n).sum()
    }

    /// Total gzip'd bytes of all objects.
    pub fn output_bytes(&self) -> usize {
        self.objects.iter().map(|o| o.body.len()).sum()
    }
}

/// [`crate::normalizer::Normalizer::normalize_event`]: `event_json`'s records flattened by
/// `flattener` into objects laid out as `layout` says.
pub(crate) fn normalize_event(
    flattener: &Flattener<'_>,
    layout: &ObjectLayout,
    event_json: &str,
    options: &BatchOptions,
) -> Result<BatchOutput, EventError> {
    // Common case: one pass over the event, each record flattened as soon as it is decoded
    // (one decoded record in memory at a time). When a record does not decode, start again
    // record by record, so that only the bad ones are quarantined.
    let mut assembler = BatchAssembler::new(flattener, layout);
    let streamed = for_each_record(event_json, |index, rec| assembler.add(index, &rec));
    let mut raws: Vec<&RawValue> = Vec::new();
    if streamed.is_err() {
        raws = split_event(event_json)?;
        assembler = BatchAssembler::new(flattener, layout);
        for (index, raw) in raws.iter().enumerate() {
            match decode_record(raw.get()) {
                Ok(rec) => assembler.add(index, &rec),
                Err(e) => {
                    let Salvaged { event_id, sequence_number, stream_arn } = salvage_ids(raw.get());
                    if assembler.arn.is_none() {
                        // The batch is named after its stream even when no record decodes, so
                        // that batches of two streams never share a quarantine object's name.
                        assembler.arn = stream_arn;
                    }
                    assembler.sequence_numbers.push(sequence_number.clone());
                    assembler.quarantine.push(QuarantinedRecord {
                        index,
                        event_id,
                        sequence_number,
                        reason: e.reason(),
                        kind: e.kind(),
                    });
                }
            }
        }
    } else if !assembler.quarantine.is_empty() {
        // A record decoded but did not flatten: its raw text is needed for the quarantine line.
        raws = split_event(event_json)?;
    }
    Ok(assembler.finish(&raws, options, event_json))
}

/// Builds the objects of one batch, record by record.
struct BatchAssembler<'n, 's> {
    flattener: &'n Flattener<'s>,
    objects: ObjectAssembler<'n>,
    scratch: Scratch,
    sequence_numbers: Vec<Option<String>>,
    event_times: Vec<i64>,
    arn: Option<String>,
    quarantine: Vec<QuarantinedRecord>,
}

impl<'n, 's> BatchAssembler<'n, 's> {
    fn new(flattener: &'n Flattener<'s>, layout: &'n ObjectLayout) -> Self {
        BatchAssembler {
            flattener,
            objects: ObjectAssembler::new(layout),
            scratch: Scratch::default(),
            sequence_numbers: Vec::new(),
            event_times: Vec::new(),
            arn: None,
            quarantine: Vec::new(),
        }
    }

    /// Flattens record `index` and appends its rows, or quarantines it.
    fn add(&mut self, index: usize, rec: &StreamRecord<'_>) {
        self.sequence_numbers.push(Some(rec.sequence_number.as_str().to_owned()));
        if self.arn.is_none() {
            self.arn = rec.event_source_arn.as_ref().map(|a| a.as_str().to_owned());
        }
        let day = day_of(rec.event_time_millis);
        if let Err(e) = self.flattener.flatten(rec, &mut self.scratch, &mut self.objects.record(index, &day)) {
            self.quarantine.push(QuarantinedRecord {
                index,
                event_id: rec.event_id.as_ref().map(|t| t.as_str().to_owned()),
                sequence_number: Some(rec.sequence_number.as_str().to_owned()),
                reason: e.to_string(),
                kind: e.kind(),
            });
            return;
        }
        self.event_times.push(rec.event_time_millis);
    }

    /// Names and closes the objects. `raws` holds the records' raw JSON when any was quarantined.
    fn finish(self, raws: &[&RawValue], options: &BatchOptions, event_json: &str) -> BatchOutput {
        let batch =
            BatchId::of_batch(&self.sequence_numbers, options.source.as_deref(), self.arn.as_deref(), event_json);
        let level = self.objects.level();
        let (mut objects, rows_per_table) = self.objects.finish(|table, day| ObjectKey::rows(table, day, &batch));
        let mut quarantine = self.quarantine;
        if !quarantine.is_empty() {
            quarantine.sort_by_key(|q| q.index);
            let lines = quarantine.iter().filter_map(|q| raws.get(q.index).map(|raw| (q, raw.get())));
            objects.push(quarantine_object(self.flattener.redactor(), ObjectKey::quarantine(&batch), level, lines));
        }
        BatchOutput {
            batch: Some(batch),
            objects,
            quarantined: quarantine,
            records: self.sequence_numbers.len(),
            sequence_numbers: self.sequence_numbers,
            rows_per_table,
            event_times: self.event_times,
            input_bytes: event_json.len(),
        }
    }
}

/// What can be read of a record that did not decode.
#[derive(Default)]
struct Salvaged {
    event_id: Option<String>,
    /// Only a canonical one (it names the batch's objects and orders the views).
    sequence_number: Option<String>,
    stream_arn: Option<String>,
}

/// Best effort: the eventID, sequence number and stream of a record that did not decode.
fn salvage_ids(raw: &str) -> Salvaged {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(raw) else {
        return Salvaged::default();
    };
    let text = |v: Option<&serde_json::Value>| v.and_then(|x| x.as_str()).map(str::to_owned);
    Salvaged {
        event_id: text(v.get("eventID")),
        sequence_number: text(v.get("dynamodb").and_then(|d| d.get("SequenceNumber")))
            .filter(|s| is_canonical_sequence_number(s)),
        stream_arn: text(v.get("eventSourceARN")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalizer::Normalizer;
    use ddb_lake_core::spec::LakeSpec;

    use crate::test_events::{event_of, record, with_sequence};
    use serde_json::json;

    /// The insert fixture's record (an item with 16 leaves, `version` = 1, on 2026-11-05) as
    /// event `name` with sequence number `seq`.
    fn rec(seq: &str, name: &str) -> serde_json::Value {
        let mut r = with_sequence(record("insert.json"), seq);
        r["eventName"] = name.into();
        r
    }

    /// `r` with its new image's attribute `name` set to `value`.
    fn with(mut r: serde_json::Value, name: &str, value: serde_json::Value) -> serde_json::Value {
        r["dynamodb"]["NewImage"][name] = value;
        r
    }

    #[test]
    fn poison_record_goes_to_quarantine_and_the_rest_lands() {
        let spec = LakeSpec::default();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let bad = with(rec("150", "INSERT"), "version", json!({"X": "1"}));
        let ev = event_of(vec![rec("100", "INSERT"), bad, rec("200", "MODIFY")]);
        let out = normalizer.normalize_event(&ev, &BatchOptions { source: Some("shard-1".into()) }).unwrap();
        assert_eq!(out.records, 3);
        assert_eq!(out.quarantined.len(), 1);
        assert_eq!(out.quarantined[0].index, 1);
        assert_eq!(out.quarantined[0].sequence_number.as_deref(), Some("150"));
        assert!(out.quarantined[0].reason.contains("unknown DynamoDB attribute type `X`"));
        assert_eq!(out.rows_per_table[0], ("changes".to_string(), 2));
        let keys: Vec<&str> = out.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "changes/dt=2026-11-05/shard-1_100_200.tsv.gz",
                "attributes/dt=2026-11-05/shard-1_100_200.tsv.gz",
                "_quarantine/shard-1_100_200.jsonl.gz"
            ]
        );
        // Same input, same bytes.
        let again = normalizer.normalize_event(&ev, &BatchOptions { source: Some("shard-1".into()) }).unwrap();
        assert_eq!(out.objects, again.objects);
    }

    #[test]
    fn a_value_that_does_not_fit_its_column_is_a_null_cell_and_a_reject_not_a_quarantine() {
        let text = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n[[tables]]\nname = \"x\"\n[[tables.columns]]\nname = \"v\"\npath = \"version\"\ntype = \"boolean\"\n";
        let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let ok = with(rec("100", "INSERT"), "version", json!({"BOOL": true}));
        let ev = event_of(vec![ok, rec("200", "INSERT")]);
        let out = normalizer.normalize_event(&ev, &BatchOptions::default()).unwrap();
        assert!(out.quarantined.is_empty());
        assert_eq!(out.cells_rejected(), 1);
        let names: Vec<&str> = out.rows_per_table.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["changes", "attributes", "x", "_rejects"]);
        assert_eq!(out.rows_per_table[0].1, 2, "both records reach changes");
        assert_eq!(out.rows_per_table[2].1, 2, "and the declared table, the bad cell NULL");
        let body = |table: &str| {
            let o = out.objects.iter().find(|o| o.table.as_deref() == Some(table)).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(o.body.as_slice()), &mut text).unwrap();
            text
        };
        let x = body("x");
        assert!(x.lines().any(|l| l.starts_with("INSERT\t100\t") && l.ends_with("\ttrue")), "{x}");
        assert!(x.lines().any(|l| l.starts_with("INSERT\t200\t") && l.ends_with("\t\\N")), "{x}");
        let rejects = body("_rejects");
        let lines: Vec<&str> = rejects.lines().collect();
        assert_eq!(
            lines[0],
            "event_name\tsequence_number\tevent_time\ttenant\titem_key\tpk\tsk\ttable_name\tcolumn_name\tpath\telement_index\treason"
        );
        assert_eq!(
            lines[1],
            "INSERT\t200\t2026-11-05 12:00:00.000\t\\N\t{\"pk\":\"CLIENT#c0042\",\"sk\":\"SYNC#1a2b3c4d\"}\tCLIENT#c0042\tSYNC#1a2b3c4d\t\
             x\tv\tversion\t\\N\ttable `x` column `v`: value at `version` is N, which cannot be converted for type boolean"
        );
        assert_eq!(lines.len(), 2);
    }

    /// Hole 4: quarantine objects held the raw images.
    #[test]
    fn quarantine_objects_hold_redacted_images_and_reasons_without_values() {
        let text = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n[redaction]\n\
                    [[redaction.rule]]\npath = \"email\"\naction = \"drop\"\n\
                    [[redaction.rule]]\npath = \"phone\"\naction = \"hash\"\n\
                    [[tables]]\nname = \"x\"\n[[tables.columns]]\nname = \"v\"\npath = \"v\"\ntype = \"boolean\"\n";
        let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
        let normalizer = Normalizer::new(&spec, Some(b"0123456789abcdef")).unwrap();
        let personal = |r: serde_json::Value, email: serde_json::Value| {
            let r = with(r, "email", email);
            let r = with(r, "phone", json!({"S": "+4412345"}));
            with(r, "profile", json!({"M": {"apiToken": {"S": "tok-123"}, "name": {"S": "Ann"}}}))
        };
        // Two records that do not decode: a type DynamoDB does not have, a BOOL that is a string.
        let conflict = with(
            personal(rec("100", "INSERT"), json!({"S": "ann@example.com"})),
            "when",
            json!({"DATE": "2026-11-01"}),
        );
        let broken = personal(rec("200", "INSERT"), json!({"BOOL": "ann@example.com"}));
        let ev = event_of(vec![conflict, broken]);
        let out = normalizer.normalize_event(&ev, &BatchOptions::default()).unwrap();
        assert_eq!(out.quarantined.len(), 2);
        let q = out.objects.iter().find(|o| o.table.is_none()).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(q.body.as_slice()), &mut text).unwrap();
        for secret in ["ann@example.com", "+4412345", "tok-123"] {
            assert!(!text.contains(secret), "{secret} in the quarantine: {text}");
        }
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        for line in &lines {
            let image = &line["record_json"]["dynamodb"]["NewImage"];
            assert!(image.get("email").is_none(), "{image}");
            assert_eq!(image["phone"]["S"].as_str().map(str::len), Some(64), "hashed: {image}");
            assert_eq!(image["profile"]["M"]["name"]["S"], "Ann");
            assert!(image["profile"]["M"].get("apiToken").is_none(), "dropped by default: {image}");
            assert_eq!(
                line["redacted"],
                serde_json::json!([
                    {"path": "email", "action": "drop"},
                    {"path": "phone", "action": "hash"},
                    {"path": "profile.apiToken", "action": "drop"}
                ])
            );
        }
        // The hash is the one the rows would hold.
        let mut m = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(b"0123456789abcdef").unwrap();
        hmac::Mac::update(&mut m, b"+4412345");
        let hex: String = hmac::Mac::finalize(m).into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(lines[0]["record_json"]["dynamodb"]["NewImage"]["phone"]["S"], hex.as_str());
        assert!(lines[1]["reason"].as_str().unwrap().contains("invalid type: string \"…\""), "{}", lines[1]["reason"]);
    }

    #[test]
    fn rows_and_keys_do_not_depend_on_how_many_objects_are_compressed_as_they_go() {
        // 40 records on 27 days: every third on the same day as the one before.
        let records: Vec<serde_json::Value> = (0..40u32)
            .map(|i| {
                let secs = 1_700_000_000 + 86_400 * (i - i / 3);
                let mut r = rec(&format!("{}", 100 + i), if i % 2 == 0 { "INSERT" } else { "MODIFY" });
                r["dynamodb"]["ApproximateCreationDateTime"] = secs.into();
                with(r, "version", json!({"N": i.to_string()}))
            })
            .collect();
        let ev = event_of(records);
        let spec = LakeSpec::default();
        let gunzip = |body: &[u8]| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(body), &mut text).unwrap();
            text
        };
        let run = |bound: usize| {
            let normalizer = Normalizer::new(&spec, None).unwrap().with_max_open_encoders(bound);
            let out = normalizer.normalize_event(&ev, &BatchOptions::default()).unwrap();
            out.objects.iter().map(|o| (o.key.to_string(), gunzip(&o.body), o.rows, o.first_record)).collect::<Vec<_>>()
        };
        let streamed = run(usize::MAX);
        assert_eq!(streamed.len(), 2 * 27, "changes and attributes on each of the 27 days");
        for (key, text, rows, first) in &streamed {
            // Expected from the input: the records of the object's day, in order.
            let day = key.split("dt=").nth(1).unwrap().split('/').next().unwrap();
            let of_day: Vec<usize> = (0..40usize)
                .filter(|&i| {
                    ddb_lake_core::object_key::day_of((1_700_000_000 + 86_400 * (i - i / 3)) as i64 * 1000) == day
                })
                .collect();
            assert_eq!(*first, of_day[0], "{key}");
            // A change row per record; an attribute row per leaf of its new image (the insert
            // fixture's item has 16).
            let per_record = if key.starts_with("changes/") { 1 } else { 16 };
            assert_eq!(*rows, (per_record * of_day.len()) as u64, "{key}");
            assert_eq!(text.lines().count(), 1 + per_record * of_day.len(), "{key}: {text}");
        }
        for bound in [0, 1, 5] {
            assert_eq!(run(bound), streamed, "bound {bound}");
        }
    }

    /// `out`'s rows of `table`, as lines (header first).
    fn lines_of(out: &BatchOutput, table: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for o in out.objects.iter().filter(|o| o.table.as_deref() == Some(table)) {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(o.body.as_slice()), &mut text).unwrap();
            lines.extend(text.lines().map(str::to_owned));
        }
        lines
    }

    /// Record `i` of the insert fixture as sequence number 100 + i with `change` applied.
    fn variant(i: usize, change: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
        let mut r = rec(&(100 + i).to_string(), "INSERT");
        change(&mut r);
        r
    }

    /// Hostile input 1: a time a `dt` partition cannot name, or before the day the projection
    /// starts, is quarantined with the reason; the bounds themselves are kept.
    #[test]
    fn times_outside_what_the_projection_reads_are_quarantined() {
        let spec = LakeSpec::default();
        assert_eq!(spec.projection_start, "2020-01-01");
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let first_second = 1_577_836_800; // 2020-01-01T00:00:00Z
        let cases: [(serde_json::Value, Option<&str>); 7] = [
            (json!(1_793_887_200_000u64), Some("milliseconds")), // ms, as Kinesis Data Streams sends
            (json!(253_402_300_800u64), Some("9999-12-31")),     // 10000-01-01
            (json!(1e13), Some("9999-12-31")),
            (json!(-1), Some("1970-01-01")),
            (json!(first_second - 1), Some("before partitioning.projection_start 2020-01-01")),
            (json!(first_second), None),
            (json!(253_402_300_799u64), None), // 9999-12-31T23:59:59Z
        ];
        let records = cases
            .iter()
            .enumerate()
            .map(|(i, (t, _))| variant(i, |r| r["dynamodb"]["ApproximateCreationDateTime"] = t.clone()))
            .collect();
        let out = normalizer.normalize_event(&event_of(records), &BatchOptions::default()).unwrap();
        let quarantined: Vec<(usize, &str)> = out.quarantined.iter().map(|q| (q.index, q.reason.as_str())).collect();
        let expected: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].1.is_some()).collect();
        assert_eq!(quarantined.iter().map(|q| q.0).collect::<Vec<_>>(), expected, "{quarantined:?}");
        for (i, reason) in quarantined {
            assert!(reason.contains(cases[i].1.unwrap()), "case {i}: {reason}");
        }
        let days: Vec<&str> =
            out.objects.iter().filter_map(|o| o.key.as_str().split("dt=").nth(1)?.split('/').next()).collect();
        assert_eq!(days, ["2020-01-01", "9999-12-31"].repeat(2));
        assert_eq!(out.rows_per_table[0].1, 2);
        // A later projection start moves the bound with it.
        let later = LakeSpec::from_toml(
            "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n[partitioning]\nprojection_start = \"2026-11-06\"\n",
            "t.toml",
        )
        .unwrap();
        let normalizer = Normalizer::new(&later, None).unwrap();
        let out = normalizer.normalize_event(&event_of(vec![rec("100", "INSERT")]), &BatchOptions::default()).unwrap();
        assert_eq!(out.quarantined.len(), 1, "the fixture is from 2026-11-05");
        assert!(out.quarantined[0].reason.contains("2026-11-05 12:00:00.000"), "{}", out.quarantined[0].reason);
    }

    /// Hostile input 2: a batch whose every record is quarantined is still named after its
    /// stream, so two streams' batches never overwrite each other's quarantine object.
    #[test]
    fn quarantine_objects_of_two_streams_have_two_names() {
        let spec = LakeSpec::default();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let key_of = |arn: &str| {
            let r = variant(0, |r| {
                r["eventSourceARN"] = arn.into();
                r["dynamodb"]["NewImage"]["version"] = json!({"X": "1"});
            });
            let out = normalizer.normalize_event(&event_of(vec![r]), &BatchOptions::default()).unwrap();
            assert_eq!((out.records, out.quarantined.len(), out.objects.len()), (1, 1, 1));
            out.objects[0].key.to_string()
        };
        let a = key_of("arn:aws:dynamodb:us-east-1:123456789012:table/a/stream/2026-01-01T00:00:00.000");
        let b = key_of("arn:aws:dynamodb:us-east-1:123456789012:table/b/stream/2026-01-01T00:00:00.000");
        assert_ne!(a, b);
        assert!(a.starts_with("_quarantine/") && !a.contains("local"), "{a}");
    }

    /// Hostile input 5: records that show no new image (a REMOVE, a KEYS_ONLY or OLD_IMAGE
    /// stream) appear in `changes` only, whatever images they carry.
    #[test]
    fn records_without_a_new_image_by_their_kind_are_in_changes_only() {
        let spec = LakeSpec::from_toml(
            "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n[[tables]]\nname = \"x\"\n\
             [[tables.columns]]\nname = \"v\"\npath = \"version\"\ntype = \"bigint\"\n",
            "t.toml",
        )
        .unwrap();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let image = record("insert.json")["dynamodb"]["NewImage"].clone();
        let records = vec![
            variant(0, |r| {
                r["eventName"] = "REMOVE".into();
                r["dynamodb"]["OldImage"] = image.clone();
            }),
            variant(1, |r| {
                r["eventName"] = "MODIFY".into();
                r["dynamodb"]["StreamViewType"] = "KEYS_ONLY".into();
                r["dynamodb"]["OldImage"] = image.clone();
            }),
            variant(2, |r| {
                r["eventName"] = "MODIFY".into();
                r["dynamodb"]["StreamViewType"] = "OLD_IMAGE".into();
                r["dynamodb"]["OldImage"] = image.clone();
            }),
            variant(3, |r| r["dynamodb"]["StreamViewType"] = "NEW_IMAGE".into()),
        ];
        let out = normalizer.normalize_event(&event_of(records), &BatchOptions::default()).unwrap();
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        let counts: Vec<u64> = out.rows_per_table.iter().map(|(_, n)| *n).collect();
        // changes: all four; attributes (16 leaves) and `x`: only the NEW_IMAGE insert.
        assert_eq!(counts, [4, 16, 1, 0]);
        let changes = lines_of(&out, "changes");
        let removed = changes.iter().find(|l| l.starts_with("REMOVE\t100\t")).unwrap();
        assert!(removed.ends_with(",version"), "a REMOVE lists what it deletes: {removed}");
    }

    /// Hostile input 6: keys, sequence numbers and the view type must be what DynamoDB
    /// writes; anything else is quarantined with the reason, and the rest of the batch lands.
    #[test]
    fn keys_sequence_numbers_and_view_types_are_checked() {
        let spec = LakeSpec::default();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let keys = |k: serde_json::Value| move |r: &mut serde_json::Value| r["dynamodb"]["Keys"] = k;
        let seq = |s: &str| {
            let s = s.to_owned();
            move |r: &mut serde_json::Value| r["dynamodb"]["SequenceNumber"] = s.into()
        };
        type Change = Box<dyn FnOnce(&mut serde_json::Value)>;
        let bad: Vec<(Change, &str)> = vec![
            (
                Box::new(|r: &mut serde_json::Value| drop(r["dynamodb"].as_object_mut().unwrap().remove("Keys"))),
                "missing or empty",
            ),
            (Box::new(keys(json!({}))), "missing or empty"),
            (Box::new(keys(json!({"pk": {"NULL": true}}))), "`pk` is a NULL"),
            (Box::new(keys(json!({"pk": {"M": {"a": {"S": "x"}}}}))), "`pk` is a M"),
            (Box::new(keys(json!({"pk": {"S": ""}}))), "`pk` is an empty S"),
            (Box::new(keys(json!({"pk": {"S": "a"}, "sk": {"S": "b"}, "x": {"N": "1"}}))), "has 3 attributes"),
            (Box::new(keys(json!({"pk": {"SS": ["a"]}}))), "`pk` is a SS"),
            (
                Box::new(|r: &mut serde_json::Value| r["dynamodb"]["StreamViewType"] = "BOGUS".into()),
                "StreamViewType `BOGUS`",
            ),
            (Box::new(seq("0100")), "without leading zeros"),
            (Box::new(seq(&"9".repeat(41))), "1 to 40 digits"),
            (Box::new(seq("")), "SequenceNumber ``"),
        ];
        let n = bad.len();
        let mut records: Vec<serde_json::Value> = Vec::new();
        let mut reasons = Vec::new();
        for (i, (change, reason)) in bad.into_iter().enumerate() {
            records.push(variant(i, change));
            reasons.push(reason);
        }
        records.push(variant(n, |r| r["dynamodb"]["Keys"] = json!({"pk": {"N": "7"}, "sk": {"B": "AA=="}})));
        records.push(variant(n + 1, seq("0")));
        let out = normalizer.normalize_event(&event_of(records), &BatchOptions::default()).unwrap();
        let got: Vec<(usize, &str)> = out.quarantined.iter().map(|q| (q.index, q.reason.as_str())).collect();
        assert_eq!(got.len(), n, "{got:?}");
        for (i, reason) in got {
            assert!(reason.contains(reasons[i]), "record {i}: `{reason}` does not say `{}`", reasons[i]);
        }
        let changes = lines_of(&out, "changes");
        assert_eq!(changes.len(), 3, "header and the two good records: {changes:?}");
        assert!(changes[1].starts_with(&format!("INSERT\t{}\t", 100 + n)), "{}", changes[1]);
        assert!(changes[2].starts_with("INSERT\t0\t"), "{}", changes[2]);
    }

    #[test]
    fn not_an_event_is_an_error() {
        let spec = LakeSpec::default();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let e = normalizer.normalize_event("{\"Records\": [1,", &BatchOptions::default()).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
