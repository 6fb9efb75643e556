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
use flate2::read::MultiGzDecoder;
use helpers::{ddb_lake as run, ddb_lake_ok as ok};
use lake_core::rowfmt::{decode_object, Row};
use serde_dynamo::AttributeValue;

fn example_spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/sync-configurations.toml")
}

/// Every file under `dir`, relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
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
    let good = r#"{"Records":[{"eventID":"1","eventName":"INSERT","dynamodb":{"ApproximateCreationDateTime":1700000000,"Keys":{"pk":{"S":"a"}},"NewImage":{"pk":{"S":"a"}},"SequenceNumber":"1","SizeBytes":1}}]}"#;
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
    assert!(err.contains("event 2 (starting at line 2)"), "{err}");
}

#[test]
fn poison_record_is_quarantined_and_the_rest_lands() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.json");
    let rec = |seq: u32, v: &str| {
        format!(
            r#"{{"eventID":"{seq}","eventName":"INSERT","dynamodb":{{"ApproximateCreationDateTime":1700000000,"Keys":{{"pk":{{"S":"k{seq}"}}}},"NewImage":{{"pk":{{"S":"k{seq}"}},"v":{v}}},"SequenceNumber":"{seq}","SizeBytes":1}}}}"#
        )
    };
    std::fs::write(
        &events,
        format!(
            r#"{{"Records":[{},{},{}]}}"#,
            rec(1, r#"{"S":"x"}"#),
            rec(2, r#"{"DATE":"2024"}"#),
            rec(3, r#"{"N":"5"}"#)
        ),
    )
    .unwrap();
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
    let events = dir.path().join("e.json");
    std::fs::write(&events, r#"{"Records":[{"eventID":"1","eventName":"INSERT","dynamodb":{"ApproximateCreationDateTime":1700000000,"Keys":{"pk":{"S":"a"}},"NewImage":{"pk":{"S":"a"},"t":{"S":"x\ty\nz,\"q\""}},"SequenceNumber":"1","SizeBytes":1}}]}"#).unwrap();
    let lake = dir.path().join("lake");
    ok(&["normalize", "--events", events.to_str().unwrap(), "--out", lake.to_str().unwrap(), "--source", "shard-1"]);
    let obj = lake.join("attributes/dt=2023-11-14/shard-1_1_1.tsv.gz");
    let csv = ok(&["cat", "--null", "NULL", obj.to_str().unwrap()]);
    assert!(
        csv.starts_with("event_name,sequence_number,event_time,tenant,item_key,pk,sk,path,type,value,changed\n"),
        "{csv}"
    );
    assert!(csv.contains("t,S,\"x\ty\nz,\"\"q\"\"\",true"), "{csv}");
    assert!(csv.contains(",NULL,"), "{csv}");
}
