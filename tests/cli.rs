//! End-to-end tests of the `ddb-lake` command on a local lake: generate → normalize →
//! decode the objects with the documented row rules → compare, value for value, with the
//! events as the reference decoder (`aws_lambda_events` + `serde_dynamo`) reads them.
//!
//! Each test runs the real binary in its own temporary directory.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

mod helpers;

use aws_lambda_events::event::dynamodb::Event;
use base64::Engine;
use ddb_lake_core::rowfmt::{decode_object, Row};
use flate2::read::MultiGzDecoder;
use helpers::fixtures::{event_of, event_path, record, with_sequence};
use helpers::{ddb_lake as run, ddb_lake_ok as ok, tree};
use serde_dynamo::AttributeValue;

fn example_spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/sync-configurations.toml")
}

/// Rows of every object of one table: (header, rows).
fn table_rows(lake: &BTreeMap<String, Vec<u8>>, table: &str) -> (Vec<String>, Vec<Row>) {
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for (k, v) in lake {
        if !k.starts_with(&format!("{table}/")) {
            continue;
        }
        assert!(k.ends_with(".tsv.gz"), "{k}");
        let mut body = Vec::new();
        MultiGzDecoder::new(v.as_slice()).read_to_end(&mut body).unwrap();
        let (h, r) = decode_object(&body).unwrap();
        // The partition folder holds the row's own day.
        let day = k.split('/').nth(1).unwrap().strip_prefix("dt=").unwrap().to_owned();
        for row in &r {
            assert_eq!(&row[2].as_deref().unwrap()[..10], day, "row in the wrong partition: {k}");
        }
        header = h;
        rows.extend(r);
    }
    (header, rows)
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Reference flattening of a serde_dynamo value: (path, type, value) leaves.
fn leaves(path: &str, v: &AttributeValue, out: &mut Vec<(String, String, Option<String>)>) {
    let mut push = |t: &str, val: Option<String>| out.push((path.to_owned(), t.to_owned(), val));
    match v {
        AttributeValue::S(s) => push("S", Some(s.clone())),
        AttributeValue::N(n) => push("N", Some(n.clone())),
        AttributeValue::B(b) => push("B", Some(b64(b))),
        AttributeValue::Bool(b) => push("BOOL", Some(b.to_string())),
        AttributeValue::Null(_) => push("NULL", None),
        AttributeValue::Ss(s) => {
            s.iter().enumerate().for_each(|(i, e)| out.push((format!("{path}[{i}]"), "SS".into(), Some(e.clone()))))
        }
        AttributeValue::Ns(s) => {
            s.iter().enumerate().for_each(|(i, e)| out.push((format!("{path}[{i}]"), "NS".into(), Some(e.clone()))))
        }
        AttributeValue::Bs(s) => {
            s.iter().enumerate().for_each(|(i, e)| out.push((format!("{path}[{i}]"), "BS".into(), Some(b64(e)))))
        }
        AttributeValue::L(l) if l.is_empty() => push("L", None),
        AttributeValue::M(m) if m.is_empty() => push("M", None),
        AttributeValue::L(l) => l.iter().enumerate().for_each(|(i, e)| leaves(&format!("{path}[{i}]"), e, out)),
        AttributeValue::M(m) => m.iter().for_each(|(k, e)| leaves(&format!("{path}.{k}"), e, out)),
    }
}

fn reference_events(path: &Path) -> Vec<Event> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Event>(l).expect("reference decoder reads the generated events"))
        .collect()
}

#[test]
fn generated_events_land_value_for_value() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let lake = dir.path().join("lake");
    let say = ok(&["generate", "--items", "300", "--customers", "20", "--out", events.to_str().unwrap()]);
    assert!(say.contains("stream records"), "{say}");
    let say = ok(&[
        "normalize",
        "--spec",
        example_spec().to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
        "--out",
        lake.to_str().unwrap(),
    ]);
    assert!(say.contains("quarantined 0 records"), "{say}");

    let reference = reference_events(&events);
    let records: Vec<_> = reference.iter().flat_map(|e| e.records.iter()).collect();
    assert!(records.len() > 300);
    let files = tree(&lake);

    // changes: one row per record, with the right name, sequence number and TTL flag.
    let (h, changes) = table_rows(&files, "changes");
    assert_eq!(&h[..3], ["event_name", "sequence_number", "event_time"]);
    assert_eq!(changes.len(), records.len());
    let by_seq: BTreeMap<&str, &Vec<Option<String>>> = changes.iter().map(|r| (r[1].as_deref().unwrap(), r)).collect();
    let ttl_col = h.iter().position(|c| c == "ttl_delete").unwrap();
    let mut ttl_seen = 0;
    for r in &records {
        let seq = r.change.sequence_number.as_deref().unwrap();
        let row = by_seq[seq];
        assert_eq!(row[0].as_deref(), Some(r.event_name.as_str()));
        let ttl = r.user_identity.as_ref().is_some_and(|u| u.principal_id == "dynamodb.amazonaws.com");
        ttl_seen += ttl as usize;
        assert_eq!(row[ttl_col].as_deref(), Some(if ttl { "true" } else { "false" }), "{seq}");
    }
    assert!(ttl_seen > 0, "the generator makes TTL deletes");

    // attributes: exactly the leaves of every new image, per sequence number.
    let (h, attrs) = table_rows(&files, "attributes");
    let (pc, tc, vc) = (
        h.iter().position(|c| c == "path").unwrap(),
        h.iter().position(|c| c == "type").unwrap(),
        h.iter().position(|c| c == "value").unwrap(),
    );
    let mut got: BTreeMap<String, Vec<(String, String, Option<String>)>> = BTreeMap::new();
    for r in &attrs {
        got.entry(r[1].clone().unwrap()).or_default().push((
            r[pc].clone().unwrap(),
            r[tc].clone().unwrap(),
            r[vc].clone(),
        ));
    }
    let mut compared = 0;
    let mut big_numbers = 0;
    for r in &records {
        let seq = r.change.sequence_number.clone().unwrap();
        let mut expected = Vec::new();
        for (k, v) in r.change.new_image.iter() {
            if k == "credentials" {
                continue; // dropped by the spec's redaction rule
            }
            leaves(k, v, &mut expected);
        }
        let mut actual = got.remove(&seq).unwrap_or_default();
        expected.sort();
        actual.sort();
        big_numbers += actual
            .iter()
            .filter(|(_, t, v)| t.starts_with('N') && v.as_ref().is_some_and(|v| v.trim_start_matches('-').len() >= 38))
            .count();
        assert_eq!(actual, expected, "attributes of record {seq}");
        compared += expected.len();
    }
    assert!(got.is_empty(), "rows for records that have no new image: {:?}", got.keys().collect::<Vec<_>>());
    assert!(compared > 5000, "compared {compared} values");
    assert!(big_numbers > 0, "38-digit numbers were compared");
    let awkward = attrs
        .iter()
        .filter(|r| r[vc].as_deref().is_some_and(|v| v.contains('\n') || v.contains('\t') || v.contains('\\')))
        .count();
    assert!(awkward > 0, "strings with newlines, tabs or backslashes were compared");

    // field_mappings: one row per element of every new image's list.
    let (h, fm) = table_rows(&files, "field_mappings");
    let expected: usize = records
        .iter()
        .filter_map(|r| match r.change.new_image.get("fieldMappings") {
            Some(AttributeValue::L(l)) => Some(l.len()),
            _ => None,
        })
        .sum();
    assert_eq!(fm.len(), expected);
    let fid = h.iter().position(|c| c == "field_id").unwrap();
    assert!(fm.iter().all(|r| r[fid].is_some()));
}

#[test]
fn same_events_give_identical_objects() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.jsonl");
    ok(&["generate", "--items", "120", "--seed", "7", "--out", events.to_str().unwrap()]);
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    ok(&["normalize", "--events", events.to_str().unwrap(), "--out", a.to_str().unwrap()]);
    ok(&["normalize", "--events", events.to_str().unwrap(), "--out", b.to_str().unwrap()]);
    let (ta, tb) = (tree(&a), tree(&b));
    assert!(ta.len() > 2);
    assert_eq!(ta, tb);
    // Normalizing again into the same folder overwrites the same objects: nothing new.
    ok(&["normalize", "--events", events.to_str().unwrap(), "--out", a.to_str().unwrap()]);
    assert_eq!(tree(&a), tb);
}

#[test]
fn broken_json_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.jsonl");
    let good = serde_json::to_string(&helpers::fixtures::event("insert.json")).unwrap();
    std::fs::write(&events, format!("{good}\n{{\"Records\": [\n")).unwrap();
    let lake = dir.path().join("lake");
    let out = run(&["normalize", "--events", events.to_str().unwrap(), "--out", lake.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("e.jsonl: line 3"), "{err}");
    assert!(!lake.exists(), "nothing written for unusable input");

    std::fs::write(&events, format!("{good}\n{{\"Items\": []}}\n")).unwrap();
    let out = run(&["normalize", "--events", events.to_str().unwrap(), "--out", lake.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("e.jsonl: line 2, column 13: event 2 is not a DynamoDB stream event: no `Records` list"),
        "{err}"
    );
}

/// Hostile input 7: messages about unusable input name the line and column in the file and
/// speak of events and records, never of the program's own types.
#[test]
fn unusable_input_is_named_in_the_users_terms() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.json");
    let lake = dir.path().join("lake");
    let good = serde_json::to_string(&helpers::fixtures::event("insert.json")).unwrap();
    let record = serde_json::to_string(&helpers::fixtures::event("insert.json")["Records"][0]).unwrap();
    let refused = |bytes: &[u8]| {
        std::fs::write(&events, bytes).unwrap();
        let out = run(&["normalize", "--events", events.to_str().unwrap(), "--out", lake.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
        assert!(!lake.exists(), "nothing written for unusable input");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        for internal in ["Wire", "struct", "does it exist"] {
            assert!(!err.contains(internal), "`{internal}` in: {err}");
        }
        err
    };
    // Invalid UTF-8 on line 2, after three characters (one of them two bytes long).
    let mut bytes = format!("{good}\n\"é").into_bytes();
    bytes.extend_from_slice(b"\xFF\"\n");
    let err2 = refused(&bytes);
    assert!(err2.contains("e.json: line 2, column 3: byte 0xFF is not UTF-8"), "{err2}");
    // A list of records, or a list of events, is not an event.
    let err = refused(format!("[[{record}]]").as_bytes());
    assert!(
        err.contains("line 1, column 1: event 1 is not a DynamoDB stream event: the input is a JSON array"),
        "{err}"
    );
    let err = refused(format!("[{good}]").as_bytes());
    assert!(err.contains("the input is a JSON array, not a DynamoDB stream event {\"Records\": [...]}"), "{err}");
    assert!(!err.contains("expected a sequence"), "{err}");
    // A record whose dynamodb part is a list: the message names the part, not a type.
    let bad = good.replacen("\"dynamodb\":{", "\"dynamodb\":[],\"x\":{", 1);
    std::fs::write(&events, &bad).unwrap();
    let out = run(&["normalize", "--events", events.to_str().unwrap(), "--out", lake.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "a bad record is quarantined: {text}");
    assert!(text.contains("quarantined 1 records"), "{text}");
    assert!(text.contains("expected the record's dynamodb object"), "{text}");
    assert!(!text.contains("Wire"), "{text}");
    std::fs::remove_dir_all(&lake).unwrap();
    // A byte order mark is not part of the JSON: the file reads as without it.
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(good.as_bytes());
    std::fs::write(&events, &bytes).unwrap();
    let out = run(&["normalize", "--events", events.to_str().unwrap(), "--out", lake.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("read 1 records in 1 events"));
    std::fs::remove_dir_all(&lake).unwrap();
    let err = refused(b"\xFF\xFE{\x00}\x00");
    assert!(err.contains("UTF-16 byte order mark"), "{err}");
}

#[test]
fn poison_record_is_quarantined_and_the_rest_lands() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.json");
    // The insert fixture three times, the second with an attribute of a type DynamoDB does not have.
    let rec = |seq: &str, v: serde_json::Value| {
        let mut r = with_sequence(record("insert.json"), seq);
        r["dynamodb"]["NewImage"]["v"] = v;
        r
    };
    let batch = vec![
        rec("1", serde_json::json!({"S": "x"})),
        rec("2", serde_json::json!({"DATE": "2024"})),
        rec("3", serde_json::json!({"N": "5"})),
    ];
    std::fs::write(&events, event_of(batch).to_string()).unwrap();
    let lake = dir.path().join("lake");
    let say = ok(&["normalize", "--events", events.to_str().unwrap(), "--out", lake.to_str().unwrap()]);
    assert!(say.contains("quarantined 1 records"), "{say}");
    assert!(say.contains("unknown DynamoDB attribute type `DATE`"), "{say}");
    let files = tree(&lake);
    let (_, changes) = table_rows(&files, "changes");
    assert_eq!(changes.len(), 2);
    let q = files.iter().find(|(k, _)| k.starts_with("_quarantine/")).expect("quarantine object");
    let mut text = String::new();
    MultiGzDecoder::new(q.1.as_slice()).read_to_string(&mut text).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line["sequenceNumber"], "2");
    assert_eq!(line["record_json"]["dynamodb"]["NewImage"]["v"]["DATE"], "2024");
}

#[test]
fn spec_typo_names_file_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("lake.toml");
    let text = std::fs::read_to_string(example_spec())
        .unwrap()
        .replace("explode = \"fieldMappings\"", "explod = \"fieldMappings\"");
    std::fs::write(&spec, text).unwrap();
    let out = run(&["spec", "check", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lake.toml:") && err.contains("unknown field `explod`") && err.contains("fix:"), "{err}");
    let say = ok(&["spec", "check", example_spec().to_str().unwrap()]);
    assert!(say.contains("field_mappings") && say.contains("element_index int"), "{say}");
}

#[test]
fn cat_prints_csv() {
    let dir = tempfile::tempdir().unwrap();
    let events = event_path("every_type.json");
    let lake = dir.path().join("lake");
    ok(&["normalize", "--events", events.to_str().unwrap(), "--out", lake.to_str().unwrap(), "--source", "shard-1"]);
    let obj = lake.join("attributes/dt=2026-11-05/shard-1_98000000000000000000031_98000000000000000000032.tsv.gz");
    let csv = ok(&["cat", "--null", "NULL", obj.to_str().unwrap()]);
    let (header, rows) = csv.split_once('\n').unwrap();
    assert_eq!(header, "event_name,sequence_number,event_time,tenant,item_key,pk,sk,path,type,value,changed");
    // Each value as the item had it: line breaks, TAB and backslash back, quoted by RFC 4180;
    // without a spec there is no tenant rule.
    let prefix = r#"INSERT,98000000000000000000031,2026-11-05 14:00:00.000,NULL,"{""pk"":""CLIENT#c0100"",""sk"":""SYNC#types""}",CLIENT#c0100,SYNC#types"#;
    for row in [
        "multiline,S,\"line one\nline two\r\n\tC:\\temp \u{240a}\",true",
        "literalNull,S,\\N,true",
        "note,S,,true",
        "deletedAt,NULL,NULL,true",
        "settings.empty,M,NULL,true",
        "name,S,Zoë's sync — 日本語 🦀,true",
    ] {
        assert!(rows.contains(&format!("{prefix},{row}\n")), "{row} in\n{csv}");
    }
}

const EXPORT_ID: &str = "01793880000000-5a1c0e42";

fn export_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exports/sync-configurations/AWSDynamoDB").join(EXPORT_ID)
}

/// The items of the fixture export, read by the reference decoder (serde_dynamo).
fn reference_items() -> Vec<std::collections::HashMap<String, AttributeValue>> {
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(rename = "Item")]
        item: std::collections::HashMap<String, AttributeValue>,
    }
    let mut items = Vec::new();
    let manifest = std::fs::read_to_string(export_fixture().join("manifest-files.json")).unwrap();
    for entry in manifest.lines() {
        let entry: serde_json::Value = serde_json::from_str(entry).unwrap();
        let name = entry["dataFileS3Key"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        let mut text = String::new();
        MultiGzDecoder::new(std::fs::File::open(export_fixture().join("data").join(name)).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        items.extend(text.lines().map(|l| serde_json::from_str::<Line>(l).unwrap().item));
    }
    items
}

/// The `item_key` an item's rows carry, written out for the fixture's string keys.
fn item_key_of(item: &std::collections::HashMap<String, AttributeValue>) -> String {
    match (&item["pk"], &item["sk"]) {
        (AttributeValue::S(pk), AttributeValue::S(sk)) => format!("{{\"pk\":\"{pk}\",\"sk\":\"{sk}\"}}"),
        other => panic!("fixture keys are strings: {other:?}"),
    }
}

/// A copy of the fixture export to break, in `dir`.
fn copy_export(dir: &Path) -> PathBuf {
    let to = dir.join(EXPORT_ID);
    std::fs::create_dir_all(to.join("data")).unwrap();
    for (rel, bytes) in tree(&export_fixture()) {
        std::fs::write(to.join(rel), bytes).unwrap();
    }
    to
}

#[test]
fn backfill_writes_the_exports_items_value_for_value() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let export = export_fixture();
    let say = ok(&["backfill", "--export", export.to_str().unwrap(), "--out", lake.to_str().unwrap()]);
    let items = reference_items();
    assert!(
        say.starts_with(&format!(
            "read {} items in 3 data files of export {EXPORT_ID} (699 B gzip), a snapshot as of 2026-11-05T12:00:00.000Z\n",
            items.len()
        )),
        "{say}"
    );
    assert!(say.contains("stream records after 2026-11-05 11:55:00 (exportTime minus the 300 s margin) win"), "{say}");
    let files = tree(&lake);

    // changes: one SNAPSHOT row per item, at the export's time, without a sequence number.
    let (h, changes) = table_rows(&files, "changes");
    assert_eq!(changes.len(), items.len());
    let key = h.iter().position(|c| c == "item_key").unwrap();
    let mut keys: Vec<String> = changes.iter().map(|r| r[key].clone().unwrap()).collect();
    keys.sort();
    let mut expected_keys: Vec<String> = items.iter().map(item_key_of).collect();
    expected_keys.sort();
    assert_eq!(keys, expected_keys);
    for r in &changes {
        assert_eq!(
            (r[0].as_deref(), r[1].as_deref(), r[2].as_deref()),
            (Some("SNAPSHOT"), None, Some("2026-11-05 12:00:00.000"))
        );
    }

    // attributes: exactly the leaves of every item.
    let (h, attrs) = table_rows(&files, "attributes");
    let (pc, tc, vc) = (
        h.iter().position(|c| c == "path").unwrap(),
        h.iter().position(|c| c == "type").unwrap(),
        h.iter().position(|c| c == "value").unwrap(),
    );
    let mut actual: Vec<(String, String, String, Option<String>)> = attrs
        .iter()
        .map(|r| (r[key].clone().unwrap(), r[pc].clone().unwrap(), r[tc].clone().unwrap(), r[vc].clone()))
        .collect();
    let mut expected = Vec::new();
    for item in &items {
        let item_key = item_key_of(item);
        let mut leaves_of = Vec::new();
        for (k, v) in item {
            leaves(k, v, &mut leaves_of);
        }
        expected.extend(leaves_of.into_iter().map(|(p, t, v)| (item_key.clone(), p, t, v)));
    }
    actual.sort();
    expected.sort();
    assert_eq!(actual, expected);
    assert!(actual
        .iter()
        .any(|(_, _, t, v)| t == "N" && v.as_deref() == Some("12345678901234567890123456789012345678")));

    // snapshots: one row per data file, saying the snapshot is whole at three files.
    let (h, snaps) = table_rows_any_day(&files, "snapshots");
    assert_eq!(h[..4], ["snapshot_id", "snapshot_time", "stream_wins_after", "margin_seconds"]);
    let mut data_files: Vec<&str> = snaps.iter().map(|r| r[5].as_deref().unwrap()).collect();
    data_files.sort();
    assert_eq!(data_files, ["c5vjy4e6u7hwstqlmbaz23xrfo", "k7q3mlx2vbd4ne5oyfc6hzta2u", "r2ppwq6a3dm5tbxhoz4ycgnk7e"]);
    assert!(snaps.iter().all(|r| r[6].as_deref() == Some("3") && r[3].as_deref() == Some("300")));

    // Run again: the same objects, byte for byte.
    ok(&["backfill", "--export", export.to_str().unwrap(), "--out", lake.to_str().unwrap(), "--quiet"]);
    assert_eq!(tree(&lake), files);
}

/// Rows of one table whose rows carry no event time (`snapshots`).
fn table_rows_any_day(lake: &BTreeMap<String, Vec<u8>>, table: &str) -> (Vec<String>, Vec<Row>) {
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for (_, v) in lake.iter().filter(|(k, _)| k.starts_with(&format!("{table}/"))) {
        let mut body = Vec::new();
        MultiGzDecoder::new(v.as_slice()).read_to_end(&mut body).unwrap();
        let (h, r) = decode_object(&body).unwrap();
        header = h;
        rows.extend(r);
    }
    (header, rows)
}

#[test]
fn a_damaged_export_leaves_the_lake_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ok(&["backfill", "--export", export_fixture().to_str().unwrap(), "--out", lake.to_str().unwrap(), "--quiet"]);
    let before = tree(&lake);
    let backfill_fails = |export: &Path| {
        let out = run(&["backfill", "--export", export.to_str().unwrap(), "--out", lake.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(tree(&lake), before, "the lake is as it was");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    // A flipped byte in the last data file (the others are fine and come first).
    let broken = copy_export(&dir.path().join("flipped"));
    let last = broken.join("data/c5vjy4e6u7hwstqlmbaz23xrfo.json.gz");
    let mut bytes = std::fs::read(&last).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&last, bytes).unwrap();
    let err = backfill_fails(&broken);
    assert!(err.contains("c5vjy4e6u7hwstqlmbaz23xrfo.json.gz: MD5 is") && err.contains("copy it again"), "{err}");

    // A missing data file.
    let missing = copy_export(&dir.path().join("missing"));
    std::fs::remove_file(missing.join("data/c5vjy4e6u7hwstqlmbaz23xrfo.json.gz")).unwrap();
    let err = backfill_fails(&missing);
    assert!(
        err.contains(
            "names AWSDynamoDB/01793880000000-5a1c0e42/data/c5vjy4e6u7hwstqlmbaz23xrfo.json.gz, which is not at"
        ),
        "{err}"
    );

    // An item with an attribute type DynamoDB does not have, in a file whose checksums agree.
    let unknown = copy_export(&dir.path().join("unknown"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        b"{\"Item\":{\"pk\":{\"S\":\"CUSTOMER#x\"},\"sk\":{\"S\":\"SYNC#1\"},\"v\":{\"X\":\"1\"}}}\n",
    )
    .unwrap();
    let body = gz.finish().unwrap();
    std::fs::write(unknown.join("data/c5vjy4e6u7hwstqlmbaz23xrfo.json.gz"), &body).unwrap();
    let md5 = |bytes: &[u8]| b64(&<md5::Md5 as md5::Digest>::digest(bytes));
    let manifest = std::fs::read_to_string(unknown.join("manifest-files.json")).unwrap();
    let old_sum = manifest.lines().find(|l| l.contains("c5vjy4e6u7hwstqlmbaz23xrfo")).unwrap();
    let old_sum = old_sum.split("\"md5Checksum\":\"").nth(1).unwrap().split('"').next().unwrap();
    let manifest = manifest.replace(old_sum, &md5(&body));
    std::fs::write(unknown.join("manifest-files.json"), &manifest).unwrap();
    std::fs::write(unknown.join("manifest-files.md5"), md5(manifest.as_bytes())).unwrap();
    let err = backfill_fails(&unknown);
    assert!(
        err.contains("c5vjy4e6u7hwstqlmbaz23xrfo.json.gz, line 1: not an export item")
            && err.contains("unknown DynamoDB attribute type `X`"),
        "{err}"
    );

    // An item whose keys are not the spec's.
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "[source]\ntable = \"sync-configurations\"\nsort_key = \"syncId\"\n[lake]\nlocation = \"s3://acme-lake/p\"\n",
    )
    .unwrap();
    let out = run(&[
        "backfill",
        "--export",
        export_fixture().to_str().unwrap(),
        "--out",
        lake.to_str().unwrap(),
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("k7q3mlx2vbd4ne5oyfc6hzta2u.json.gz, line 1: the item has no attribute `syncId`"), "{err}");
    assert_eq!(tree(&lake), before);

    // Not an export folder: says which one to name.
    let err = backfill_fails(&dir.path().join("missing"));
    assert!(err.contains(&format!("did you mean {}?", missing.display())), "{err}");
}

#[test]
fn a_value_that_does_not_fit_keeps_its_record_and_shows_in_rejected_cells() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "[source]\ntable = \"sync-configurations\"\n[lake]\nlocation = \"s3://acme-lake/p\"\n\
         [[tables]]\nname = \"syncs\"\n[[tables.columns]]\nname = \"version\"\npath = \"version\"\ntype = \"bigint\"\n",
    )
    .unwrap();
    // The insert fixture (version 1), then the modify fixture with a version of 2.5.
    let mut modify = record("modify.json");
    modify["dynamodb"]["NewImage"]["version"] = serde_json::json!({"N": "2.5"});
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, event_of(vec![record("insert.json"), modify]).to_string()).unwrap();
    let lake = dir.path().join("lake");
    let (spec, events, lake) = (spec.to_str().unwrap(), events.to_str().unwrap(), lake.to_str().unwrap());
    let say = ok(&["normalize", "--spec", spec, "--events", events, "--out", lake]);
    assert!(say.contains("quarantined 0 records") && say.contains("_rejects"), "{say}");
    let now = ok(&[
        "sql",
        "query",
        "SELECT value FROM current_attributes WHERE path = 'schedule.intervalMinutes'",
        "--local",
        lake,
        "--spec",
        spec,
        "--format",
        "csv",
    ]);
    assert_eq!(now, "value\n30\n");
    let rejected = ok(&["sql", "run", "rejected_cells", "--local", lake, "--spec", spec, "--format", "csv"]);
    assert_eq!(
        rejected,
        "table_name,column_name,path,cells,items,first_day,last_day\nsyncs,version,version,1,1,2026-11-06,2026-11-06\n"
    );
}

/// A spec, a record and a quarantine object as an earlier version wrote them: the record's
/// version (2.5) did not fit a bigint column (the spec is now double), and a second record
/// still does not decode.
fn requeue_case() -> (String, String, Vec<u8>) {
    // The documented example spec, its `version` column changed from bigint to double.
    let example = std::fs::read_to_string(example_spec()).unwrap();
    let spec = example.replace("path = \"version\"\ntype = \"bigint\"", "path = \"version\"\ntype = \"double\"");
    assert_ne!(spec, example);
    // The insert fixture as two records of two items: one with version 2.5, one whose version
    // has a type DynamoDB does not have.
    let rec = |seq: &str, version: serde_json::Value| {
        let mut r = with_sequence(record("insert.json"), seq);
        r["dynamodb"]["Keys"]["sk"] = serde_json::json!({"S": format!("SYNC#{seq}")});
        r["dynamodb"]["NewImage"]["sk"] = r["dynamodb"]["Keys"]["sk"].clone();
        r["dynamodb"]["NewImage"]["version"] = version;
        r.to_string()
    };
    let (good, bad) =
        (rec("100", serde_json::json!({"N": "2.5"})), rec("200", serde_json::json!({"DATE": "2026-11-05"})));
    let line = |i: usize, seq: u32, reason: &str, record: &str| {
        format!(
            r#"{{"index":{i},"eventID":"e{seq}","sequenceNumber":"{seq}","reason":"{reason}","record_json":{record}}}"#
        )
    };
    let lines = format!(
        "{}\n{}\n",
        line(
            0,
            100,
            "table `syncs` column `version`: value at `version` is N, which is out of range for type bigint",
            &good
        ),
        line(1, 200, "unknown DynamoDB attribute type `DATE`", &bad)
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, lines.as_bytes()).unwrap();
    (spec, good, gz.finish().unwrap())
}

#[test]
fn requeue_writes_what_quarantine_held_once_and_keeps_what_still_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (spec_text, good, quarantine) = requeue_case();
    let spec = dir.path().join("spec.toml");
    std::fs::write(&spec, spec_text).unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("_quarantine")).unwrap();
    std::fs::write(lake.join("_quarantine/shardId-1_100_200.jsonl.gz"), quarantine).unwrap();
    let (spec, lake_s) = (spec.to_str().unwrap(), lake.to_str().unwrap());

    let listed = ok(&["quarantine", "list", "--lake", lake_s]);
    assert!(
        listed.contains("  200  unknown DynamoDB attribute type `DATE`")
            && listed.contains("2 quarantined records in 1 objects"),
        "{listed}"
    );
    let say = ok(&["quarantine", "requeue", "--lake", lake_s, "--spec", spec]);
    assert!(say.contains("kept _quarantine/shardId-1_100_200.jsonl.gz with the records that still fail"), "{say}");
    assert!(say.contains("requeued 1 records into 4 objects; 1 still fail"), "{say}");
    let once = tree(&lake);
    let (_, changes) = table_rows(&once, "changes");
    assert_eq!(changes.iter().map(|r| r[1].clone().unwrap()).collect::<Vec<_>>(), ["100"]);
    let (h, syncs) = table_rows(&once, "sync_configs");
    assert_eq!(syncs[0][h.iter().position(|c| c == "version").unwrap()].as_deref(), Some("2.5"));
    let mut left = String::new();
    MultiGzDecoder::new(once["_quarantine/shardId-1_100_200.jsonl.gz"].as_slice()).read_to_string(&mut left).unwrap();
    assert_eq!(left.lines().count(), 1);
    assert!(left.contains(r#""sequenceNumber":"200""#), "{left}");

    // Run again: nothing changes.
    ok(&["quarantine", "requeue", "--lake", lake_s, "--spec", spec]);
    assert_eq!(tree(&lake), once);

    // Every answer equals that of a lake that had the good record all along.
    let clean = dir.path().join("clean");
    let events = dir.path().join("good.jsonl");
    std::fs::write(&events, event_of(vec![serde_json::from_str(&good).unwrap()]).to_string()).unwrap();
    ok(&["normalize", "--spec", spec, "--events", events.to_str().unwrap(), "--out", clean.to_str().unwrap()]);
    let queries =
        ["SELECT path, value FROM current_attributes ORDER BY path", "SELECT version FROM current_sync_configs"];
    for q in queries {
        let answer = |l: &str| ok(&["sql", "query", q, "--local", l, "--spec", spec, "--format", "csv"]);
        assert_eq!(answer(lake_s), answer(clean.to_str().unwrap()), "{q}");
    }
    assert_eq!(
        ok(&["sql", "query", queries[1], "--local", lake_s, "--spec", spec, "--format", "csv"]),
        "version\n2.5\n"
    );
    // Every canned question too.
    let mut names: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/questions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".sql").to_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 11);
    for name in &names {
        let answer = |l: &str| ok(&["sql", "run", name, "--local", l, "--spec", spec, "--format", "csv"]);
        assert_eq!(answer(lake_s), answer(clean.to_str().unwrap()), "question {name}");
    }
}

/// The same, in S3 (moto): the same sinks read, write and remove the objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_works_in_s3_through_the_same_sinks() {
    let moto = helpers::Moto::start();
    let s3 = moto.s3();
    s3.create_bucket().bucket("acme-lake").send().await.unwrap();
    let (spec_text, _, quarantine) = requeue_case();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(&spec, spec_text).unwrap();
    let key = "p/_quarantine/shardId-1_100_200.jsonl.gz";
    s3.put_object().bucket("acme-lake").key(key).body(quarantine.into()).send().await.unwrap();
    let requeue = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
            .envs(moto.env())
            .args(["quarantine", "requeue", "--lake", "s3://acme-lake/p", "--endpoint-url", &moto.endpoint, "--spec"])
            .arg(&spec)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let say = requeue();
    assert!(say.contains("requeued 1 records into 4 objects; 1 still fail"), "{say}");
    let listing = |s3: aws_sdk_s3::Client| async move {
        let out = s3.list_objects_v2().bucket("acme-lake").send().await.unwrap();
        let mut keys: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
        keys.sort();
        keys
    };
    let keys = listing(s3.clone()).await;
    assert_eq!(
        keys,
        [
            "p/_quarantine/shardId-1_100_200.jsonl.gz",
            "p/attributes/dt=2026-11-05/requeue-shardId-1_100_200_100_200.tsv.gz",
            "p/changes/dt=2026-11-05/requeue-shardId-1_100_200_100_200.tsv.gz",
            "p/field_mappings/dt=2026-11-05/requeue-shardId-1_100_200_100_200.tsv.gz",
            "p/sync_configs/dt=2026-11-05/requeue-shardId-1_100_200_100_200.tsv.gz",
        ]
    );
    let body = s3.get_object().bucket("acme-lake").key(key).send().await.unwrap().body.collect().await.unwrap();
    let mut left = String::new();
    MultiGzDecoder::new(body.into_bytes().as_ref()).read_to_string(&mut left).unwrap();
    assert_eq!(left.lines().count(), 1);
    assert!(left.contains(r#""sequenceNumber":"200""#), "{left}");
    // A second run: the same objects.
    requeue();
    assert_eq!(listing(s3.clone()).await, keys);
    // When nothing fails any more the object goes.
    let clean = requeue_case().2;
    let mut text = String::new();
    MultiGzDecoder::new(clean.as_slice()).read_to_string(&mut text).unwrap();
    let only_good = text.lines().next().unwrap().to_owned() + "\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, only_good.as_bytes()).unwrap();
    s3.put_object().bucket("acme-lake").key(key).body(gz.finish().unwrap().into()).send().await.unwrap();
    let say = requeue();
    assert!(say.contains("removed _quarantine/shardId-1_100_200.jsonl.gz"), "{say}");
    assert!(!listing(s3).await.iter().any(|k| k.contains("_quarantine")));
}

/// A record as the DynamoDB Streams API writes it: the insert fixture's INSERT with sequence
/// number `seq`, `secs_ago` seconds before now.
fn streams_record(seq: u32, secs_ago: u64) -> serde_json::Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // The insert fixture, without the field only Lambda adds (the Streams API has no eventSourceARN).
    let mut r = with_sequence(record("insert.json"), &seq.to_string());
    r.as_object_mut().unwrap().remove("eventSourceARN").expect("a Lambda record names its stream");
    r["dynamodb"]["ApproximateCreationDateTime"] = ((now - secs_ago) as f64).into();
    r
}

/// Issue 25: `replay` stopped at a shard's first empty page.
#[test]
fn replay_reads_past_empty_pages_to_each_shards_end_or_the_present() {
    use helpers::stub_streams::{StubShard, StubStreams};
    let hours = 3 * 3600;
    let empty = |n: usize| vec![Vec::new(); n];
    let pages = |parts: Vec<Vec<Vec<serde_json::Value>>>| parts.into_iter().flatten().collect::<Vec<_>>();
    let shards = vec![
        // Closed: read to its end, whatever the empty pages (more than --max-empty-pages).
        StubShard {
            id: "shardId-1-closed".into(),
            closed: true,
            pages: pages(vec![
                vec![vec![streams_record(100, hours)]],
                empty(60),
                vec![vec![streams_record(101, hours)]],
                empty(1),
                vec![vec![streams_record(102, hours)]],
            ]),
        },
        // Open, behind, then caught up: stops 3 empty pages after the recent record.
        StubShard {
            id: "shardId-2-open".into(),
            closed: false,
            pages: pages(vec![
                vec![vec![streams_record(200, hours)]],
                empty(4),
                vec![vec![streams_record(201, hours)]],
                empty(2),
                vec![vec![streams_record(202, 1)]],
            ]),
        },
        // Open and idle since an old record: stops after --max-empty-pages.
        StubShard { id: "shardId-3-idle".into(), closed: false, pages: vec![vec![streams_record(300, hours)]] },
    ];
    let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-12-02T00:00:00.000";
    let stub = StubStreams::start(arn, shards);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(["replay", "--stream-arn", arn, "--max-empty-pages", "5", "--endpoint-url", &stub.endpoint(), "--out"])
        .arg(&lake)
        .envs(helpers::LOCAL_AWS_ENV)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");

    let (_, changes) = table_rows_any_day(&tree(&lake), "changes");
    let mut seqs: Vec<u32> = changes.iter().map(|r| r[1].as_deref().unwrap().parse().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, [100, 101, 102, 200, 201, 202, 300], "every record read: {stderr}");
    assert!(stdout.starts_with("replayed 7 records in 7 batches into "), "{stdout}");

    // Pages read: each shard's script, then 3 (caught up) or 5 (idle) empty pages.
    let calls = stub.get_records_calls();
    assert_eq!(calls["shardId-1-closed"], 1 + 60 + 1 + 1 + 1);
    assert_eq!(calls["shardId-2-open"], 1 + 4 + 1 + 2 + 1 + 3);
    assert_eq!(calls["shardId-3-idle"], 1 + 5);
    assert!(
        stderr.contains("shard shardId-1-closed: 3 records (last 102), read to its end (closed shard)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "shard shardId-2-open: 3 records (last 202), caught up with the present (3 empty pages after a recent record)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "shard shardId-3-idle: 1 records (last 300), stopped after 5 empty pages in a row; its last record is 1080"
        ),
        "{stderr}"
    );
}

/// Issue 43: `replay --jobs N` reads N shards at a time (their GetRecords calls overlap) and
/// writes the lake that one shard at a time writes; a failure stops every shard, and the run
/// again that it names loses no record.
#[test]
fn replay_reads_shards_at_once_and_resumes_after_a_failure_without_a_loss() {
    use helpers::stub_streams::{StubShard, StubStreams};
    let hours = 3 * 3600;
    // Closed shards of 4 pages of 2 records; shard n holds sequence numbers n00..n07.
    // Made once: a record's time is taken from the clock when it is made.
    let shards: Vec<StubShard> = (1..=6)
        .map(|n| StubShard {
            id: format!("shardId-{n}"),
            closed: true,
            pages: (0..4).map(|p| (0..2).map(|r| streams_record(n * 100 + p * 2 + r, hours)).collect()).collect(),
        })
        .collect();
    let shard = |n: u32| shards[n as usize - 1].clone();
    let every: Vec<u32> = (1..=6).flat_map(|n| (0..8).map(move |k| n * 100 + k)).collect();
    let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-12-06T00:00:00.000";
    let hold = std::time::Duration::from_millis(40);
    let dir = tempfile::tempdir().unwrap();
    let replay = |stub: &StubStreams, jobs: &str, lake: &Path, more: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
            .args(["replay", "--stream-arn", arn, "--endpoint-url", &stub.endpoint(), "--jobs", jobs])
            .args(more)
            .arg("--out")
            .arg(lake)
            .envs(helpers::LOCAL_AWS_ENV)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let sequence_numbers = |lake: &Path| {
        if !lake.exists() {
            return Vec::new();
        }
        let (_, changes) = table_rows_any_day(&tree(lake), "changes");
        let mut seqs: Vec<u32> = changes.iter().map(|r| r[1].as_deref().unwrap().parse().unwrap()).collect();
        seqs.sort();
        seqs
    };

    let mut lakes = Vec::new();
    for jobs in ["1", "4"] {
        let stub = StubStreams::slow(arn, (1..=6).map(shard).collect(), Vec::new(), hold);
        let lake = dir.path().join(format!("lake-{jobs}"));
        let (ok, stdout, stderr) = replay(&stub, jobs, &lake, &[]);
        assert!(ok, "--jobs {jobs}: {stdout}\n{stderr}");
        assert!(stdout.starts_with("replayed 48 records in 24 batches into "), "--jobs {jobs}: {stdout}");
        assert_eq!(sequence_numbers(&lake), every, "--jobs {jobs}");
        let most = stub.most_at_once();
        match jobs {
            "1" => assert_eq!(most, 1, "one shard at a time"),
            _ => assert!((2..=4).contains(&most), "--jobs 4: {most} GetRecords calls at once"),
        }
        lakes.push(tree(&lake));
    }
    assert!(lakes[0] == lakes[1], "--jobs 4 writes the lake --jobs 1 writes, byte for byte");

    // Shard 3 fails at its third page, after two were written.
    let healthy: Vec<StubShard> = [1, 2, 4, 5, 6].into_iter().map(shard).collect();
    let stub = StubStreams::slow(arn, healthy, vec![shard(3).failing_at(2)], hold);
    let first = dir.path().join("stopped");
    let (ok, stdout, stderr) = replay(&stub, "4", &first, &[]);
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(stderr.contains("scripted failure at page 2 of shardId-3"), "{stderr}");
    assert!(
        stderr.contains("shard shardId-3: 4 records (last 303), not read to its end (reading stopped at an error)"),
        "{stderr}"
    );
    let written = sequence_numbers(&first);
    assert!([300, 301, 302, 303].iter().all(|s| written.contains(s)) && !written.contains(&304), "{written:?}");
    // The run again it names: after a sequence number below every record not written, or
    // from the oldest record.
    let after = stderr.split("run again with --after ").nth(1).map(|rest| rest.split(' ').next().unwrap().to_owned());
    assert!(after.is_some() || stderr.contains("run again from the oldest record"), "{stderr}");
    let mut more = Vec::new();
    if let Some(seq) = &after {
        let seq: u32 = seq.parse().unwrap();
        assert!(every.iter().filter(|s| !written.contains(s)).all(|s| *s > seq), "--after {seq}: {written:?}");
        more = vec!["--after".to_owned(), seq.to_string()];
    }
    let stub = StubStreams::slow(arn, (1..=6).map(shard).collect(), Vec::new(), hold);
    let second = dir.path().join("resumed");
    let more: Vec<&str> = more.iter().map(String::as_str).collect();
    let (ok, stdout, stderr) = replay(&stub, "4", &second, &more);
    assert!(ok, "{stdout}\n{stderr}");
    let mut both = written.clone();
    both.extend(sequence_numbers(&second));
    both.sort();
    both.dedup();
    assert_eq!(both, every, "no record lost between the two runs");
}

/// Runs `ddb-lake args` with its stdout a pipe whose reader is already gone (as after
/// `| head -1` has read its line): every write to it fails with a broken pipe.
fn ddb_lake_into_a_closed_pipe(args: &[&str]) -> std::process::Output {
    use std::os::fd::OwnedFd;
    let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(reader);
    std::process::Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(args)
        .stdout(std::process::Stdio::from(OwnedFd::from(writer)))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

/// A reader that goes away is not an error: every command that prints to stdout stops
/// quietly with status 0 (no panic, no message), as README.md says.
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let events = dir.path().join("events.jsonl");
    let (l, e, spec) = (lake.to_str().unwrap(), events.to_str().unwrap(), example_spec());
    let spec = spec.to_str().unwrap();
    ok(&["generate", "--items", "40", "--days", "3", "--out", e]);
    ok(&["normalize", "--events", e, "--out", l, "--spec", spec]);
    let first = tree(&lake).into_keys().find(|k| k.starts_with("attributes/")).expect("an attributes object");
    let object = lake.join(first);
    let object = object.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["sql", "list"],
        vec!["sql", "show", "popular_settings"],
        vec!["sql", "run", "popular_settings", "--local", l, "--spec", spec],
        vec!["sql", "query", "SELECT * FROM attributes", "--local", l, "--spec", spec],
        vec!["spec", "check", spec],
        vec!["schema", "ddl", "--spec", spec],
        vec!["generate", "--items", "5", "--out", "-"],
        vec!["cat", object],
        vec!["normalize", "--events", e, "--out", l, "--spec", spec],
        vec!["quarantine", "list", "--lake", l],
    ];
    for args in cases {
        let out = ddb_lake_into_a_closed_pipe(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "ddb-lake {args:?}: {stderr}");
        assert!(stderr.is_empty() || !stderr.contains("panicked") && !stderr.contains("error"), "{args:?}: {stderr}");
    }
}

/// An error names each cause once: `error: what: why`, never `what: why: why` (a library
/// error's message often ends with its cause already).
#[test]
fn errors_name_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let (m, out) = (missing.to_str().unwrap(), dir.path().join("out"));
    let out = out.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["sql", "run", "popular_settings", "--local", m],
        vec!["sql", "query", "SELECT 1", "--local", m],
        vec!["normalize", "--events", m, "--out", out],
        vec!["backfill", "--export", m, "--out", out],
        vec!["cat", m],
        vec!["spec", "check", m],
        vec!["quarantine", "list", "--lake", m],
    ];
    for args in cases {
        let result = run(&args);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(1), "ddb-lake {args:?}: {stderr}");
        let line = stderr.lines().find_map(|l| l.strip_prefix("error: ")).unwrap_or_else(|| panic!("{stderr}"));
        for part in line.split(": ").filter(|p| p.len() >= 8) {
            assert_eq!(line.matches(part).count(), 1, "ddb-lake {args:?} says {part:?} twice: {line}");
        }
    }
}

/// `replay` never writes to a default place: without --out, --bucket or --spec it stops
/// before reading the stream, naming the three.
#[test]
fn replay_without_a_destination_is_refused() {
    let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-12-02T00:00:00.000";
    // An endpoint nothing listens on: had replay started, it would fail to connect instead.
    let out = run(&["replay", "--stream-arn", arn, "--endpoint-url", "http://127.0.0.1:9"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for flag in ["--out", "--bucket", "--spec"] {
        assert!(stderr.contains(flag), "{flag} not named: {stderr}");
    }
}

/// Completions and man pages are made from the same definitions as `--help`: every command
/// and flag is in them, and `man --out` writes a page per command.
#[test]
fn completions_and_man_pages_come_from_the_commands_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&["completions", shell]);
        for word in ["backfill", "replay", "quarantine", "stream-arn", "memory-limit"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let page = ok(&["man"]);
    assert!(page.contains(".TH ddb-lake 1"), "{page}");
    assert!(page.contains("backfill") && page.contains("completions"), "{page}");

    let dir = tempfile::tempdir().unwrap();
    let printed = ok(&["man", "--out", dir.path().to_str().unwrap()]);
    let backfill = std::fs::read_to_string(dir.path().join("ddb-lake-backfill.1")).unwrap();
    assert!(backfill.contains(".TH ddb-lake-backfill 1") && backfill.contains("export"), "{backfill}");
    assert!(dir.path().join("ddb-lake-sql-run.1").exists());
    let pages = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(printed.starts_with(&format!("wrote {pages} man pages into ")), "{printed}");
    assert!(pages > 20, "{pages} pages");
}

/// On a terminal a long command draws a bar with its rate and the time left (indicatif);
/// with stderr in a file it prints plain lines, no terminal codes; `--quiet` prints nothing.
/// The terminal is a real one: a tmux pane, read with capture-pane while the command runs.
#[test]
fn progress_is_a_bar_on_a_terminal_and_plain_lines_elsewhere() {
    let tmux_works = std::process::Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    assert!(tmux_works, "this test draws on a real terminal: install tmux (apt-get install tmux)");
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    ok(&["generate", "--items", "4000", "--days", "5", "--out", events.to_str().unwrap()]);

    // A terminal: the bar, while it runs.
    let script = dir.path().join("run.sh");
    let lake = dir.path().join("lake-tty");
    std::fs::write(
        &script,
        format!(
            "'{}' normalize --events '{}' --out '{}' > /dev/null\nsleep 20\n",
            env!("CARGO_BIN_EXE_ddb-lake"),
            events.display(),
            lake.display()
        ),
    )
    .unwrap();
    let socket = dir.path().join("tmux.sock");
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux").arg("-S").arg(&socket).args(["-f", "/dev/null"]).args(args).output().unwrap()
    };
    let started = tmux(&["new-session", "-d", "-s", "bar", "-x", "160", "-y", "20", "sh", script.to_str().unwrap()]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut seen = String::new();
    while std::time::Instant::now() < deadline {
        let pane = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "bar"]).stdout).into_owned();
        if let Some(line) = pane.lines().find(|l| l.starts_with("normalizing [") && l.contains("events")) {
            seen = line.to_owned();
            if line.contains("ETA") && line.contains("/s") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    tmux(&["kill-server"]);
    assert!(seen.contains("ETA") && seen.contains("/s"), "no progress bar seen on the terminal (last: {seen:?})");

    // Not a terminal: no bar, no terminal codes; --quiet: nothing at all.
    let plain =
        run(&["normalize", "--events", events.to_str().unwrap(), "--out", dir.path().join("lake-2").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(plain.status.success() && !stderr.contains('\u{1b}') && !stderr.contains("ETA"), "{stderr}");
    let quiet = run(&[
        "normalize",
        "-q",
        "--events",
        events.to_str().unwrap(),
        "--out",
        dir.path().join("lake-3").to_str().unwrap(),
    ]);
    assert!(quiet.status.success() && quiet.stderr.is_empty() && quiet.stdout.is_empty());
}

/// `--jobs`: data files read and written side by side give the same objects, byte for byte,
/// as one at a time, and the same summary.
/// Runs `args` with `--out lake`: the lake's files, and what the command said with the lake's
/// path as `LAKE` and without the time taken (the one thing that differs between runs).
fn lake_and_summary(args: &[&str], lake: &Path) -> (BTreeMap<String, Vec<u8>>, String) {
    let say = ok(&[args, &["--out", lake.to_str().unwrap()]].concat());
    let say = say.replace(lake.to_str().unwrap(), "LAKE");
    let say = say.lines().map(|l| l.split(" in ").next().unwrap_or(l).to_owned() + "\n").collect();
    (tree(lake), say)
}

#[test]
fn backfill_jobs_write_the_same_bytes_as_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let export = export_fixture();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/sync-configurations.toml");
    let run_with = |jobs: &str| {
        let lake = dir.path().join(format!("lake-{jobs}"));
        let (e, s) = (export.to_str().unwrap(), spec.to_str().unwrap());
        lake_and_summary(&["backfill", "--export", e, "--spec", s, "--jobs", jobs], &lake)
    };
    let (one, say_one) = run_with("1");
    assert!(one.keys().filter(|k| k.starts_with("snapshots/")).count() == 3, "{:?}", one.keys());
    for jobs in ["2", "3", "8"] {
        let (many, say) = run_with(jobs);
        assert_eq!(many, one, "--jobs {jobs}");
        assert_eq!(say, say_one, "--jobs {jobs}");
    }
    let out = run(&["backfill", "--export", export.to_str().unwrap(), "--jobs", "0"]);
    assert_eq!(out.status.code(), Some(2), "--jobs 0 is refused");
}

/// `--out s3://BUCKET/PREFIX`: the lake in S3 (moto) holds the same objects, byte for byte,
/// under the prefix, as the local backfill of the same export; a bad location is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_writes_to_s3_the_same_objects_as_to_a_folder() {
    let moto = helpers::Moto::start();
    let s3 = moto.s3();
    s3.create_bucket().bucket("acme-lake").send().await.unwrap();
    let export = export_fixture();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("lake");
    ok(&["backfill", "--export", export.to_str().unwrap(), "--out", local.to_str().unwrap(), "--jobs", "2"]);
    let backfill_s3 = |out: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
            .envs(moto.env())
            .args(["backfill", "--export", export.to_str().unwrap(), "--out", out, "--endpoint-url", &moto.endpoint])
            .output()
            .unwrap()
    };
    let out = backfill_s3("s3://acme-lake/ddb/sync");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let say = String::from_utf8(out.stdout).unwrap();
    assert!(say.contains("objects") && say.contains("under s3://acme-lake/ddb/sync/<table>/dt=2026-11-05/"), "{say}");
    let listed = s3.list_objects_v2().bucket("acme-lake").send().await.unwrap();
    let mut in_s3 = BTreeMap::new();
    for o in listed.contents() {
        let key = o.key().unwrap();
        let body = s3.get_object().bucket("acme-lake").key(key).send().await.unwrap().body.collect().await.unwrap();
        in_s3.insert(key.strip_prefix("ddb/sync/").unwrap_or(key).to_owned(), body.into_bytes().to_vec());
    }
    let on_disk = tree(&local);
    assert_eq!(in_s3.keys().collect::<Vec<_>>(), on_disk.keys().collect::<Vec<_>>());
    assert!(in_s3 == on_disk, "the same bytes");

    // The export read in place from S3 (its files uploaded as the export wrote them), into
    // S3 and into a folder: the same objects again.
    s3.create_bucket().bucket("acme-exports").send().await.unwrap();
    let prefix = format!("exports/AWSDynamoDB/{EXPORT_ID}");
    for (name, body) in tree(&export) {
        let key = format!("{prefix}/{name}");
        s3.put_object().bucket("acme-exports").key(key).body(body.into()).send().await.unwrap();
    }
    let from_s3 = |out: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
            .envs(moto.env())
            .args(["backfill", "--export", &format!("s3://acme-exports/{prefix}/"), "--out", out])
            .args(["--endpoint-url", &moto.endpoint, "--jobs", "2"])
            .output()
            .unwrap()
    };
    let from_s3_local = dir.path().join("from-s3");
    let out = from_s3(from_s3_local.to_str().unwrap());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let say = String::from_utf8(out.stdout).unwrap();
    assert!(say.starts_with(&format!("read 3 items in 3 data files of export {EXPORT_ID}")), "{say}");
    assert!(tree(&from_s3_local) == on_disk, "S3 export → folder: the same bytes");
    let out = from_s3("s3://acme-lake/from-s3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = s3.list_objects_v2().bucket("acme-lake").prefix("from-s3/").send().await.unwrap();
    let mut s3_to_s3 = BTreeMap::new();
    for o in listed.contents() {
        let key = o.key().unwrap();
        let body = s3.get_object().bucket("acme-lake").key(key).send().await.unwrap().body.collect().await.unwrap();
        s3_to_s3.insert(key.strip_prefix("from-s3/").unwrap().to_owned(), body.into_bytes().to_vec());
    }
    assert!(s3_to_s3 == on_disk, "S3 export → S3 lake: the same bytes");
    // A prefix that holds no export, and a data file missing from it: named, nothing written.
    let missing = |export: &str| {
        let lake = dir.path().join("nothing");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
            .envs(moto.env())
            .args(["backfill", "--export", export, "--out", lake.to_str().unwrap(), "--endpoint-url", &moto.endpoint])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(!lake.exists(), "nothing written");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = missing("s3://acme-exports/exports/AWSDynamoDB/01793880000000-00000000");
    assert!(
        err.contains("s3://acme-exports/exports/AWSDynamoDB/01793880000000-00000000 holds no manifest-summary.json"),
        "{err}"
    );
    let cut = format!("{prefix}/data/c5vjy4e6u7hwstqlmbaz23xrfo.json.gz");
    let whole = tree(&export).remove("data/c5vjy4e6u7hwstqlmbaz23xrfo.json.gz").unwrap();
    let half = whole[..whole.len() / 2].to_vec();
    s3.put_object().bucket("acme-exports").key(&cut).body(half.into()).send().await.unwrap();
    let err = missing(&format!("s3://acme-exports/{prefix}"));
    assert!(err.contains(&format!("s3://acme-exports/{cut}: MD5 is")) && err.contains("copy it again"), "{err}");
    s3.put_object().bucket("acme-exports").key(&cut).body(whole.into()).send().await.unwrap();
    let gone = format!("{prefix}/data/k7q3mlx2vbd4ne5oyfc6hzta2u.json.gz");
    s3.delete_object().bucket("acme-exports").key(&gone).send().await.unwrap();
    let err = missing(&format!("s3://acme-exports/{prefix}"));
    assert!(err.contains(&format!("which is not at s3://acme-exports/{gone}")), "{err}");
    s3.put_object()
        .bucket("acme-exports")
        .key(&gone)
        .body(tree(&export).remove("data/k7q3mlx2vbd4ne5oyfc6hzta2u.json.gz").unwrap().into())
        .send()
        .await
        .unwrap();
    // Credentials that may not read a data file (S3's 403, through the fault proxy): the
    // file and the missing permission named, nothing written.
    let proxy = helpers::fault_proxy::FaultProxy::start(&moto.endpoint);
    proxy.set_rules(vec![helpers::fault_proxy::FaultRule {
        method: "*".into(),
        path_contains: "k7q3mlx2vbd4ne5oyfc6hzta2u".into(),
        fault: helpers::fault_proxy::Fault::AccessDenied,
        times: usize::MAX,
    }]);
    let lake = dir.path().join("denied");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .envs(moto.env())
        .args(["backfill", "--export", &format!("s3://acme-exports/{prefix}"), "--out", lake.to_str().unwrap()])
        .args(["--endpoint-url", &proxy.endpoint()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!lake.exists(), "nothing written");
    assert!(
        err.contains(&format!("s3://acme-exports/{gone}: access denied: the credentials in use need s3:GetObject")),
        "{err}"
    );
    assert!(proxy
        .log()
        .iter()
        .any(|(_, target, status)| target.contains("k7q3mlx2vbd4ne5oyfc6hzta2u") && *status == 403));

    for bad in ["s3://", "s3://A_B/x", "s3://acme-lake/../x"] {
        let out = backfill_s3(bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {err}");
        assert!(err.contains(&format!("--out {bad} is not an S3 location")), "{err}");
    }
    // A bucket that does not exist: found before anything is written (the command first lists
    // whether the lake is compacted), and said so.
    let out = backfill_s3("s3://no-such-bucket/p");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot list s3://no-such-bucket/p/compactions/")
            && err.contains("NoSuchBucket")
            && err.contains("nothing was written to s3://no-such-bucket/p"),
        "{err}"
    );
}

/// Issue 43: `normalize --jobs N` writes the lake `--jobs 1` writes, byte for byte, and says
/// the same, with re-delivered batches (the same object keys again), an exact duplicate and
/// a record that goes to quarantine among the events.
#[test]
fn normalize_jobs_write_the_same_bytes_as_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated.jsonl");
    let args = ["generate", "--items", "300", "--days", "4", "--seed", "9", "--records-per-event", "20", "--out"];
    ok(&[&args[..], &[generated.to_str().unwrap()]].concat());
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&generated).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() > 20, "{} events", lines.len());
    let mut events = Vec::new();
    for (n, event) in lines.iter().enumerate() {
        events.push(event.clone());
        if n % 5 == 2 {
            // Delivered again from its second record on: new keys for the first object, the
            // same for the others.
            let mut again = event.clone();
            again["Records"].as_array_mut().unwrap().remove(0);
            events.push(again);
        }
        if n % 7 == 3 {
            events.push(event.clone());
        }
        if n % 6 == 4 {
            // The same keys with other bytes (a middle record changed): the later event's
            // objects are the ones that stay, as in a serial run.
            let mut changed = event.clone();
            changed["Records"][5]["dynamodb"]["NewImage"]["name"] = serde_json::json!({"S": format!("changed {n}")});
            events.push(changed);
        }
        if n == 10 {
            let mut poisoned = event.clone();
            poisoned["Records"][1]["dynamodb"]["NewImage"]["v"] = serde_json::json!({"DATE": "2024"});
            events.push(poisoned);
        }
    }
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, events.iter().map(|e| e.to_string() + "\n").collect::<String>()).unwrap();
    let spec = example_spec();
    let run_with = |jobs: &str| {
        let lake = dir.path().join(format!("lake-{jobs}"));
        let (e, s) = (file.to_str().unwrap(), spec.to_str().unwrap());
        lake_and_summary(&["normalize", "--events", e, "--spec", s, "--jobs", jobs], &lake)
    };
    let (one, say_one) = run_with("1");
    assert!(say_one.contains("quarantined 1 records"), "{say_one}");
    let (_, rows) = table_rows(&one, "attributes");
    assert!(rows.iter().flatten().flatten().any(|v| v.starts_with("changed ")), "the later bytes stayed");
    assert!(one.len() > 50, "{} objects", one.len());
    // The staging folder (crate::cmd::normalize) is gone, empty or not.
    let hidden = |lake: &Path| -> Vec<String> {
        let names = std::fs::read_dir(lake).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
        names.filter(|n| n.starts_with('.')).collect()
    };
    assert_eq!(hidden(&dir.path().join("lake-1")), Vec::<String>::new());
    for jobs in ["2", "3", "16"] {
        let (many, say) = run_with(jobs);
        assert_eq!(many.keys().collect::<Vec<_>>(), one.keys().collect::<Vec<_>>(), "--jobs {jobs}");
        assert!(many == one, "--jobs {jobs}: an object's bytes differ");
        assert_eq!(say, say_one, "--jobs {jobs}");
    }
    let out = run(&["normalize", "--events", file.to_str().unwrap(), "--jobs", "0"]);
    assert_eq!(out.status.code(), Some(2), "--jobs 0 is refused");

    // The same events laid out otherwise give the same lake: JSON lines with CRLF, blank
    // lines and spaces (cut at line ends), and pretty-printed events (read value by value).
    let layouts = [
        ("crlf", events.iter().map(|e| format!("  {e} \r\n\r\n")).collect::<String>()),
        ("pretty", events.iter().map(|e| serde_json::to_string_pretty(e).unwrap() + "\n").collect::<String>()),
    ];
    for (layout, text) in layouts {
        let other = dir.path().join(format!("events-{layout}.json"));
        std::fs::write(&other, text).unwrap();
        let lake = dir.path().join(format!("lake-{layout}"));
        let (o, s) = (other.to_str().unwrap(), spec.to_str().unwrap());
        let (same, say) = lake_and_summary(&["normalize", "--events", o, "--spec", s, "--jobs", "2"], &lake);
        assert_eq!(same.keys().collect::<Vec<_>>(), one.keys().collect::<Vec<_>>(), "{layout}");
        let differ: Vec<&String> = one.keys().filter(|k| same[*k] != one[*k]).collect();
        match layout {
            "crlf" => assert!(differ.is_empty(), "{layout}: {differ:?} differ"),
            // Only the quarantine object: its line holds the record's text as the file has it.
            _ => assert!(differ.iter().all(|k| k.starts_with("_quarantine/")), "{layout}: {differ:?} differ"),
        }
        // All but the first line, which names the file and its size, and the place in the
        // record where a quarantined one stopped decoding.
        let rest = |say: &str| {
            say.lines().skip(1).map(|l| l.split(" at line ").next().unwrap().to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(rest(&say), rest(&say_one), "{layout}");
    }

    // From stdin and from a named pipe (neither is mapped, as a file is: src/cmd/mod.rs), the
    // same lake.
    let fifo = dir.path().join("events.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (coreutils) runs");
    assert!(made.success());
    let feed = {
        let (from, to) = (file.clone(), fifo.clone());
        std::thread::spawn(move || std::fs::write(&to, std::fs::read(&from).unwrap()).unwrap())
    };
    let (piped, _) = lake_and_summary(
        &["normalize", "--events", fifo.to_str().unwrap(), "--spec", spec.to_str().unwrap()],
        &dir.path().join("lake-fifo"),
    );
    feed.join().unwrap();
    assert!(piped == one, "read from a named pipe: another lake");
    let lake = dir.path().join("lake-stdin");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(["normalize", "--events", "-", "--spec", spec.to_str().unwrap(), "--out", lake.to_str().unwrap()])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("from <stdin>"));
    assert!(tree(&lake) == one, "read from stdin: another lake");

    // The input is checked on every core too: the first bad event in the file is named, and
    // nothing is written.
    let mut lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    lines[7] = r#"{"Records": "x"}"#.to_owned();
    lines[12] = r#"{"Records": 3}"#.to_owned();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    for jobs in ["1", "2", "16"] {
        let lake = dir.path().join(format!("refused-{jobs}"));
        let out =
            run(&["normalize", "--events", file.to_str().unwrap(), "--out", lake.to_str().unwrap(), "--jobs", jobs]);
        assert_eq!(out.status.code(), Some(1), "--jobs {jobs}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("line 8, column") && stderr.contains("event 8 is not a DynamoDB stream event"),
            "--jobs {jobs}: {stderr}"
        );
        assert!(!lake.exists(), "--jobs {jobs}: nothing is written");
    }
    // Nor into a lake that exists (the good events before the bad one included), and what is
    // there stays byte for byte, with nothing left beside it.
    let lake = dir.path().join("lake-1");
    let out = run(&["normalize", "--events", file.to_str().unwrap(), "--out", lake.to_str().unwrap(), "--jobs", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(tree(&lake) == one, "the lake changed: {:?}", tree(&lake).keys().collect::<Vec<_>>());
    assert_eq!(hidden(&lake), Vec::<String>::new());
}
