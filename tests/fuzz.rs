//! A seeded mutation fuzzer over real-shaped stream events, run through `ddb-lake normalize`
//! as a user would: every record of the input must end up readable or quarantined.
//!
//! Each case takes an event fixture (`tests/fixtures/events/`), applies one to three
//! mutations (a time in milliseconds or beyond 9999, a sequence number with a leading zero,
//! keys that no DynamoDB key looks like, a view type DynamoDB does not have, any value of the
//! record replaced by a hostile one, a key removed, a record repeated, a byte flipped or
//! inserted, the text cut short) and normalizes it, with and without the example spec.
//! For every case:
//!
//! - no panic: the exit code is 0 or 1;
//! - exit 1 only for unusable input (not a UTF-8 JSON object with a `Records` list), and then
//!   nothing is written;
//! - otherwise every record of the input is counted exactly once: a `changes` row in a
//!   partition Athena's projection reads (`dt=YYYY-MM-DD` from `projection_start` through
//!   9999-12-31) or a line in a quarantine object; every row has the table's columns; the
//!   summary says the same numbers.
//!
//! Bounded in count and time: `DDB_LAKE_FUZZ_CASES` (default 800) cases, stopping early after
//! `DDB_LAKE_FUZZ_SECONDS` (default 120) with at least a tenth of them run;
//! `DDB_LAKE_FUZZ_SEED` (default 37) picks the cases. A failing case is kept on disk and its
//! path printed, with the seed and case number, so it can be run again by hand.

mod helpers;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use ddb_lake_core::rowfmt::decode_object;
use serde_json::{json, Value};

const EXAMPLE_SPEC: &str = "docs/examples/sync-configurations.toml";

/// splitmix64: a small, well-mixed generator; the same seed gives the same cases everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// Values a hostile writer might put anywhere.
fn hostile_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(""),
        json!("\t\n\r\\N ␊ ␛ 🦀 \u{0}"),
        json!(true),
        json!(-1),
        json!(1e300),
        json!(0),
        json!([]),
        json!({}),
        json!({"S": ""}),
        json!({"S": "x\ty\nz"}),
        json!({"N": "99999999999999999999999999999999999999"}),
        json!({"N": "1e400"}),
        json!({"N": "abc"}),
        json!({"B": "%%%"}),
        json!({"B": ""}),
        json!({"NULL": true}),
        json!({"BOOL": "yes"}),
        json!({"SS": []}),
        json!({"NS": ["1", "1.5e-130"]}),
        json!({"L": [{"M": {}}, {"L": []}]}),
        json!({"M": {"../../x": {"S": "/etc/passwd"}, "a%2Fb": {"N": "1"}}}),
        json!({"X": "1"}),
        json!({"S": "a", "N": "1"}),
    ]
}

/// Every path (keys and indexes) to a value inside `v`.
fn paths(v: &Value, here: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                here.push(json!(k));
                paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                here.push(json!(i));
                paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn at<'v>(v: &'v mut Value, path: &[Value]) -> &'v mut Value {
    path.iter().fold(v, |v, step| match step {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

/// One structured mutation of the event `ev`.
fn mutate(ev: &mut Value, rng: &mut Rng) {
    let n = ev["Records"].as_array().map_or(0, Vec::len);
    if n == 0 {
        return;
    }
    let r = rng.below(n);
    let rec = &mut ev["Records"][r];
    let kind = rng.below(10);
    // The record's fields can only be set while it (and its `dynamodb`) is still an object.
    let shaped = rec.get("dynamodb").is_some_and(Value::is_object);
    if (kind <= 3 && !shaped) || (kind == 4 && !rec.is_object()) {
        return;
    }
    match kind {
        0 => {
            let t = rng.pick(&[
                json!(1_793_887_200_000u64),
                json!(253_402_300_800u64),
                json!(253_402_300_799u64),
                json!(1e13),
                json!(-1),
                json!(0),
                json!(1_577_836_799),
                json!(1_577_836_800),
                json!(1_704_067_199.999),
                json!("1793887200"),
                Value::Null,
            ]);
            rec["dynamodb"]["ApproximateCreationDateTime"] = t;
        }
        1 => {
            let s = rng.pick(&[
                json!("0100"),
                json!(""),
                json!("9".repeat(41)),
                json!("1".repeat(40)),
                json!("12a"),
                json!("0"),
                json!(5),
                json!("-1"),
            ]);
            rec["dynamodb"]["SequenceNumber"] = s;
        }
        2 => {
            let k = rng.pick(&[
                json!({}),
                Value::Null,
                json!({"pk": {"NULL": true}}),
                json!({"pk": {"M": {"a": {"S": "b"}}}}),
                json!({"pk": {"S": ""}}),
                json!({"pk": {"S": "a"}, "sk": {"S": "b"}, "x": {"S": "c"}}),
                json!({"pk": {"N": "-0.5"}, "sk": {"B": "AA=="}}),
                json!({"pk": {"S": "../../etc"}, "sk": {"S": "x\ty"}}),
            ]);
            rec["dynamodb"]["Keys"] = k;
        }
        3 => {
            let v = rng.pick(&[json!("BOGUS"), json!("KEYS_ONLY"), json!("NEW_IMAGE"), json!("OLD_IMAGE"), json!(1)]);
            rec["dynamodb"]["StreamViewType"] = v;
        }
        4 => {
            let v = rng.pick(&[json!("REMOVE"), json!("MODIFY"), json!("INSERT"), json!("DELETE"), Value::Null]);
            rec["eventName"] = v;
        }
        5 | 6 => {
            let mut all = Vec::new();
            paths(rec, &mut Vec::new(), &mut all);
            let path = rng.pick(&all);
            *at(rec, &path) = rng.pick(&hostile_values());
        }
        7 => {
            let mut all = Vec::new();
            paths(rec, &mut Vec::new(), &mut all);
            let path = rng.pick(&all);
            if let Some((Value::String(last), parent)) = path.split_last() {
                if let Some(m) = at(rec, parent).as_object_mut() {
                    m.remove(last);
                }
            }
        }
        8 => {
            let copy = rec.clone();
            ev["Records"].as_array_mut().unwrap().push(copy);
        }
        _ => {
            let copy = rng.pick(&hostile_values());
            ev["Records"].as_array_mut().unwrap().push(copy);
        }
    }
}

/// One byte-level mutation of `bytes`: a byte flipped, inserted or removed, or the end cut off.
fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    if bytes.is_empty() {
        return;
    }
    let i = rng.below(bytes.len());
    match rng.below(4) {
        0 => bytes[i] ^= 1 << rng.below(8),
        1 => bytes.insert(i, rng.pick(&[b'"', b'{', b']', b',', b'\\', 0xFF, 0xC3, b'\n'])),
        2 => {
            bytes.remove(i);
        }
        _ => bytes.truncate(i),
    }
}

fn gunzip(gzipped: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gzipped).read_to_end(&mut out).unwrap();
    out
}

/// The number of records of `bytes` if it is a usable event (UTF-8 JSON, one object with a
/// `Records` list, after an optional byte order mark), else `None`.
fn usable_records(bytes: &[u8]) -> Option<usize> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let v: Value = serde_json::from_slice(bytes).ok()?;
    v.as_object()?.get("Records")?.as_array().map(Vec::len)
}

/// The summary's count on the line starting with `label` (e.g. `quarantined`).
fn summary_count(stdout: &str, label: &str) -> Option<u64> {
    stdout.lines().find_map(|l| l.trim_start().strip_prefix(label)?.split_whitespace().next()?.parse().ok())
}

/// What a case left: Err(what is wrong).
fn check_case(input: &[u8], spec: Option<&str>, work: &Path) -> Result<(), String> {
    let events = work.join("events.json");
    let lake = work.join("lake");
    std::fs::write(&events, input).unwrap();
    let _ = std::fs::remove_dir_all(&lake);
    let mut args = vec!["normalize", "--events", events.to_str().unwrap(), "--out", lake.to_str().unwrap()];
    let spec_path;
    if let Some(s) = spec {
        spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(s);
        args.extend(["--spec", spec_path.to_str().unwrap()]);
    }
    let out = helpers::ddb_lake(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let usable = usable_records(input);
    match (out.status.code(), usable) {
        (Some(1), None) => {
            if lake.exists() {
                return Err(format!("exit 1, but wrote {:?}", helpers::tree(&lake).keys()));
            }
            if !stderr.starts_with("error: ") || stderr.contains("panicked") {
                return Err(format!("exit 1 without a plain error: {stderr}"));
            }
            Ok(())
        }
        (Some(0), Some(records)) => {
            let mut changes = 0u64;
            let mut quarantined = 0u64;
            let first_day = if spec.is_some() { "2024-01-01" } else { "2020-01-01" };
            for (f, gzipped) in helpers::tree(&lake) {
                let body = gunzip(&gzipped);
                if let Some(rest) = f.strip_prefix("_quarantine/") {
                    if rest.contains('/') || !rest.ends_with(".jsonl.gz") {
                        return Err(format!("quarantine object {f}"));
                    }
                    for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                        let v: Value = serde_json::from_slice(line).map_err(|e| format!("{f}: {e}"))?;
                        if v["reason"].as_str().is_none_or(str::is_empty) {
                            return Err(format!("{f}: a quarantined record without a reason: {v}"));
                        }
                        quarantined += 1;
                    }
                    continue;
                }
                // <table>/dt=YYYY-MM-DD/<name>.tsv.gz, the day one the projection reads.
                let parts: Vec<&str> = f.split('/').collect();
                let day = parts.get(1).and_then(|p| p.strip_prefix("dt=")).unwrap_or("");
                let is_day = day.len() == 10 && chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok();
                if parts.len() != 3 || !is_day || day < first_day || !f.ends_with(".tsv.gz") {
                    return Err(format!("object {f} is not in a partition the projection reads"));
                }
                let (header, rows) = decode_object(&body).map_err(|e| format!("{f}: {e}"))?;
                if let Some(bad) = rows.iter().find(|r| r.len() != header.len()) {
                    return Err(format!("{f}: a row of {} fields under {} columns: {bad:?}", bad.len(), header.len()));
                }
                if parts[0] == "changes" {
                    changes += rows.len() as u64;
                }
            }
            if changes + quarantined != records as u64 {
                return Err(format!(
                    "{records} records in, {changes} changes rows + {quarantined} quarantined out\n{stdout}"
                ));
            }
            let said = (summary_count(&stdout, "changes"), summary_count(&stdout, "quarantined"));
            if said != (Some(changes), Some(quarantined)) {
                return Err(format!("the summary says {said:?}, the lake holds ({changes}, {quarantined}):\n{stdout}"));
            }
            Ok(())
        }
        (code, usable) => Err(format!("exit {code:?} for input usable as {usable:?} records:\n{stdout}\n{stderr}")),
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn mutated_events_lose_no_record() {
    let seed = env_number("DDB_LAKE_FUZZ_SEED", 37);
    let cases = env_number("DDB_LAKE_FUZZ_CASES", 800) as usize;
    let budget = Duration::from_secs(env_number("DDB_LAKE_FUZZ_SECONDS", 120));
    let mut fixtures: BTreeMap<String, Value> = BTreeMap::new();
    for entry in std::fs::read_dir(helpers::fixtures::events_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        fixtures.insert(name.clone(), helpers::fixtures::event(&name));
    }
    let names: Vec<String> = fixtures.keys().cloned().collect();
    let work = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut ran, mut refused, mut written) = (0, 0, 0);
    for case in 0..cases {
        if started.elapsed() > budget && ran >= cases / 10 {
            break;
        }
        let mut ev = fixtures[&rng.pick(&names)].clone();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut ev, &mut rng);
        }
        let mut bytes = serde_json::to_vec_pretty(&ev).unwrap();
        if rng.below(5) == 0 {
            mutate_bytes(&mut bytes, &mut rng);
        }
        let spec = (rng.below(2) == 0).then_some(EXAMPLE_SPEC);
        if let Err(why) = check_case(&bytes, spec, work.path()) {
            let kept = std::env::temp_dir().join(format!("ddb-lake-fuzz-{seed}-{case}.json"));
            std::fs::write(&kept, &bytes).unwrap();
            panic!(
                "case {case} (seed {seed}, spec {spec:?}): {why}\ninput kept at {} \
                 (run: ddb-lake normalize --events {} --out /tmp/lake{})",
                kept.display(),
                kept.display(),
                spec.map(|s| format!(" --spec {s}")).unwrap_or_default()
            );
        }
        ran += 1;
        if usable_records(&bytes).is_some() {
            written += 1;
        } else {
            refused += 1;
        }
    }
    eprintln!("{ran} cases in {:.1}s: {written} written, {refused} refused", started.elapsed().as_secs_f64());
    // Both kinds of input were tried.
    assert!(written > ran / 2 && refused > 0, "{written} written, {refused} refused of {ran}");
}
