//! The canned questions on the embedded engine, checked against answers computed
//! independently from the generated items (through the reference decoder,
//! `aws_lambda_events` + `serde_dynamo`, never from the lake) — with a fifth of the
//! batches delivered twice, as Lambda does after a failure, so duplicates must not count.
//! Also: every SQL file runs, `ddb-lake sql run` gives the same answers as the library, and
//! `ddb-lake demo` prints the answers of the history it generates.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use ddb_lake_core::object_key::compare_sequence_numbers;
use ddb_lake_core::spec::LakeSpec;
use ddb_lake_sql::files::{self, Kind};
use ddb_lake_sql::local::{Answer, LocalLake, LocalOptions};
use ddb_lake_writer::batch::BatchOptions;
use ddb_lake_writer::delivery::{process_event, Pipeline};
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::sink::LocalDirSink;
use serde_dynamo::AttributeValue as Av;

mod helpers;

const SPEC: &str = include_str!("../docs/examples/sync-configurations.toml");

type Item = HashMap<String, Av>;

/// A record as the reference decoder reads it.
#[derive(Clone)]
struct Rec {
    seq: String,
    name: String,
    day: String,
    hour: u32,
    weekday: u32,
    key: (String, String),
    new: Option<Item>,
    old: Option<Item>,
    size: i64,
    ttl: bool,
    tenant: Option<String>,
}

fn text(v: Option<&Av>) -> Option<String> {
    match v {
        Some(Av::S(s)) => Some(s.clone()),
        _ => None,
    }
}

fn to_rec(r: &EventRecord) -> Rec {
    use chrono::{Datelike, Timelike};
    let t = r.change.approximate_creation_date_time;
    let item = |i: &serde_dynamo::Item| -> Option<Item> {
        let m: Item = i.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        (!m.is_empty()).then_some(m)
    };
    let (new, old) = (item(&r.change.new_image), item(&r.change.old_image));
    let keys = &r.change.keys;
    let tenant = text(new.as_ref().and_then(|n| n.get("clientKey")))
        .or_else(|| text(old.as_ref().and_then(|o| o.get("clientKey"))))
        .or_else(|| text(keys.get("clientKey")));
    Rec {
        seq: r.change.sequence_number.clone().unwrap(),
        name: r.event_name.clone(),
        day: t.format("%Y-%m-%d").to_string(),
        hour: t.hour(),
        weekday: t.weekday().number_from_monday(),
        key: (text(keys.get("pk")).unwrap(), text(keys.get("sk")).unwrap()),
        new,
        old,
        size: r.change.size_bytes,
        ttl: r.user_identity.as_ref().is_some_and(|u| u.principal_id == "dynamodb.amazonaws.com"),
        tenant,
    }
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Top-level attributes the example spec never writes: `credentials` by its rule,
/// `passwordHash` (which only the single-table test's users have) by the default drop.
const DROPPED: [&str; 2] = ["credentials", "passwordHash"];

/// Leaves (path, type, value) the way the docs define them; [`DROPPED`] are not written.
fn leaves(path: &str, v: &Av, out: &mut Vec<(String, &'static str, Option<String>)>) {
    match v {
        Av::S(s) => out.push((path.into(), "S", Some(s.clone()))),
        Av::N(n) => out.push((path.into(), "N", Some(n.clone()))),
        Av::Bool(b) => out.push((path.into(), "BOOL", Some(b.to_string()))),
        Av::Null(_) => out.push((path.into(), "NULL", None)),
        Av::B(b) => out.push((path.into(), "B", Some(b64(b)))),
        Av::Ss(s) => s.iter().enumerate().for_each(|(i, e)| out.push((format!("{path}[{i}]"), "SS", Some(e.clone())))),
        Av::Ns(s) => s.iter().enumerate().for_each(|(i, e)| out.push((format!("{path}[{i}]"), "NS", Some(e.clone())))),
        Av::Bs(s) => s.iter().enumerate().for_each(|(i, e)| out.push((format!("{path}[{i}]"), "BS", Some(b64(e))))),
        Av::M(m) if m.is_empty() => out.push((path.into(), "M", None)),
        Av::L(l) if l.is_empty() => out.push((path.into(), "L", None)),
        Av::M(m) => m.iter().for_each(|(k, e)| leaves(&format!("{path}.{k}"), e, out)),
        Av::L(l) => l.iter().enumerate().for_each(|(i, e)| leaves(&format!("{path}[{i}]"), e, out)),
    }
}

fn item_leaves(item: &Item) -> Vec<(String, &'static str, Option<String>)> {
    let mut out = Vec::new();
    for (k, v) in item.iter().filter(|(k, _)| !DROPPED.contains(&k.as_str())) {
        leaves(k, v, &mut out);
    }
    out
}

/// Settings (path before the first `[`) with a leaf that a MODIFY changed, as the
/// `changed` column defines it: lists by position, sets by membership, the rest by value.
fn changed_settings(path: &str, new: &Av, old: Option<&Av>, out: &mut BTreeSet<String>) {
    let setting = |p: &str| p.split('[').next().unwrap().to_owned();
    match new {
        Av::M(m) if !m.is_empty() => {
            let old_map = match old {
                Some(Av::M(o)) => Some(o.clone()),
                Some(_) => Some(HashMap::new()),
                None => None,
            };
            for (k, v) in m {
                changed_settings(&format!("{path}.{k}"), v, old_map.as_ref().and_then(|o| o.get(k)), out);
            }
        }
        Av::L(l) if !l.is_empty() => {
            let old_list = match old {
                Some(Av::L(o)) => Some(o.clone()),
                Some(_) => Some(Vec::new()),
                None => None,
            };
            for (i, v) in l.iter().enumerate() {
                changed_settings(&format!("{path}[{i}]"), v, old_list.as_ref().and_then(|o| o.get(i)), out);
            }
        }
        Av::Ss(s) | Av::Ns(s) => {
            let same_type = matches!((new, old), (Av::Ss(_), Some(Av::Ss(_))) | (Av::Ns(_), Some(Av::Ns(_))));
            let old_set: Vec<String> = match old {
                Some(Av::Ss(o)) | Some(Av::Ns(o)) if same_type => o.clone(),
                _ => Vec::new(),
            };
            if s.iter().any(|e| !old_set.contains(e)) {
                out.insert(setting(path));
            }
        }
        Av::Bs(s) => {
            let old_set = match old {
                Some(Av::Bs(o)) => o.clone(),
                _ => Vec::new(),
            };
            if s.iter().any(|e| !old_set.contains(e)) {
                out.insert(setting(path));
            }
        }
        v => {
            if old != Some(v) {
                out.insert(setting(path));
            }
        }
    }
}

fn top<K: Ord + Clone>(counts: BTreeMap<K, i64>, n: usize, ascending: bool) -> Vec<(K, i64)> {
    let mut v: Vec<(K, i64)> = counts.into_iter().collect();
    v.sort_by(|a, b| if ascending { a.1.cmp(&b.1) } else { b.1.cmp(&a.1) }.then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Rows as text, numbers normalized (engines differ in integer widths, not values).
fn rows(v: Vec<Vec<String>>) -> Vec<Vec<String>> {
    v.into_iter()
        .map(|r| r.into_iter().map(|s| s.parse::<f64>().map(|f| format!("{f}")).unwrap_or(s)).collect())
        .collect()
}

fn norm(answer: &Answer) -> Vec<Vec<String>> {
    rows(answer.rows.iter().map(|r| r.iter().map(|v| v.clone().unwrap_or_else(|| "NULL".into())).collect()).collect())
}

struct Fixture {
    _dir: tempfile::TempDir,
    lake: std::path::PathBuf,
    spec_path: std::path::PathBuf,
    records: Vec<Rec>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let spec_path = dir.path().join("lake.toml");
    std::fs::write(&spec_path, SPEC).unwrap();
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let opts = ddb_lake_synth::SynthOptions { items: 400, customers: 25, days: 10, seed: 11, ..Default::default() };
    let mut events: Vec<Event> = ddb_lake_synth::generate(&opts).unwrap();
    // Items drift from the spec: every 40th MODIFY sets `version` (a bigint column) to 2.5.
    for r in events.iter_mut().flat_map(|e| e.records.iter_mut()).filter(|r| r.event_name == "MODIFY").step_by(40) {
        r.change.new_image.insert("version".into(), Av::N("2.5".into()));
    }
    let mut lines = Vec::new();
    ddb_lake_synth::write_json_lines(&events, &mut lines).unwrap();
    let texts: Vec<String> = String::from_utf8(lines).unwrap().lines().map(str::to_owned).collect();

    let pipeline = Pipeline::new(Normalizer::new(&spec, Some(b"test-redaction-key-16")).unwrap().with_gzip_level(1))
        .with_max_concurrent_uploads(4);
    let sink = LocalDirSink::new(&lake);
    let options = BatchOptions { source: Some("shardId-1".into()) };
    for t in &texts {
        let r = process_event(&pipeline, &sink, t, &options).await.unwrap();
        assert!(r.failed_objects.is_empty() && r.output.quarantined.is_empty());
    }
    // Re-deliveries: every fifth batch again from its second record on (new object names).
    let mut again = 0;
    for t in texts.iter().step_by(5) {
        let mut v: serde_json::Value = serde_json::from_str(t).unwrap();
        v["Records"].as_array_mut().unwrap().remove(0);
        again += process_event(&pipeline, &sink, &v.to_string(), &options).await.unwrap().output.records;
    }
    assert!(again > 100, "{again} records delivered twice");

    let reference: Vec<Event> = texts.iter().map(|t| serde_json::from_str(t).unwrap()).collect();
    let records = reference.iter().flat_map(|e| e.records.iter()).map(to_rec).collect();
    Fixture { _dir: dir, lake, spec_path, records }
}

/// The items that exist after `records` (each item's record with the highest sequence
/// number, unless it is a REMOVE), with their tenant.
fn current_items(records: &[Rec]) -> Vec<(Option<String>, &Item)> {
    let mut latest: HashMap<&(String, String), &Rec> = HashMap::new();
    for r in records {
        let e = latest.entry(&r.key).or_insert(r);
        if compare_sequence_numbers(&r.seq, &e.seq).is_gt() {
            *e = r;
        }
    }
    latest.into_values().filter(|r| r.name != "REMOVE").map(|r| (r.tenant.clone(), r.new.as_ref().unwrap())).collect()
}

/// An answer's rows as text, NULL as `NULL`, exactly as the engine gives them.
fn raw(answer: &Answer) -> Vec<Vec<String>> {
    answer.rows.iter().map(|r| r.iter().map(|v| v.clone().unwrap_or_else(|| "NULL".into())).collect()).collect()
}

/// [`raw`], its rows sorted: an answer whose order the query leaves open.
fn sorted_rows(answer: &Answer) -> Vec<Vec<String>> {
    let mut rows = raw(answer);
    rows.sort();
    rows
}

/// The number a `SELECT count(*) …` answers.
async fn count(lake: &LocalLake, q: &str) -> usize {
    raw(&lake.query(q).await.unwrap())[0][0].parse().unwrap()
}

/// Text as a query shows it, here and in Athena (docs/row-format.md, rule 4): the SerDe gives
/// TAB and backslash back, and line breaks stay the symbols ␊ and ␍ (a value's own ␊, ␍ or
/// ␛ behind a ␛).
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push('␊'),
            '\r' => out.push('␍'),
            '␊' | '␍' | '␛' => out.extend(['␛', c]),
            c => out.push(c),
        }
    }
    out
}

/// The rows of a view (the columns its test selects), sorted, for a lake that saw `records`.
fn expected_view(view: &str, records: &[Rec]) -> Vec<Vec<String>> {
    let null = || "NULL".to_owned();
    let s = |v: Option<&Av>| match v {
        Some(Av::S(s)) => shown(s),
        _ => null(),
    };
    // A number that fits an integer column exactly; NULL (a rejected cell) otherwise.
    let int = |v: Option<&Av>| match v {
        Some(Av::N(n)) if n.bytes().all(|b| b.is_ascii_digit() || b == b'-') => n.clone(),
        _ => null(),
    };
    let current = current_items(records);
    let keys = |item: &Item| vec![s(item.get("pk")), s(item.get("sk"))];
    let mut out: Vec<Vec<String>> = match view {
        "unique_changes" => {
            let set: BTreeSet<Vec<String>> =
                records.iter().map(|r| vec![r.key.0.clone(), r.key.1.clone(), r.seq.clone(), r.name.clone()]).collect();
            set.into_iter().collect()
        }
        "current_items" => {
            current.iter().map(|(t, i)| [keys(i), vec![t.clone().unwrap_or_else(null)]].concat()).collect()
        }
        "current_attributes" => current
            .iter()
            .flat_map(|(_, i)| {
                item_leaves(i).into_iter().map(|(p, t, v)| {
                    [keys(i), vec![shown(&p), t.to_owned(), v.as_deref().map(shown).unwrap_or_else(null)]].concat()
                })
            })
            .collect(),
        "current_sync_configs" => current
            .iter()
            .map(|(_, i)| {
                let sub = |m: &str, k: &str| match i.get(m) {
                    Some(Av::M(map)) => map.get(k).cloned(),
                    _ => None,
                };
                let enabled = match i.get("enabled") {
                    Some(Av::Bool(b)) => b.to_string(),
                    _ => null(),
                };
                let extra = vec![
                    s(i.get("clientKey")),
                    s(i.get("syncId")),
                    enabled,
                    int(sub("schedule", "intervalMinutes").as_ref()),
                    s(sub("schedule", "timezone").as_ref()),
                    int(sub("counters", "syncedIssues").as_ref()),
                    s(sub("lastError", "code").as_ref()),
                    int(i.get("version")),
                ];
                [keys(i), extra].concat()
            })
            .collect(),
        "current_field_mappings" => current
            .iter()
            .flat_map(|(_, i)| {
                let list = match i.get("fieldMappings") {
                    Some(Av::L(l)) => l.clone(),
                    _ => Vec::new(),
                };
                list.into_iter().enumerate().map(move |(n, e)| {
                    let m = match e {
                        Av::M(m) => m,
                        _ => HashMap::new(),
                    };
                    let f = ["fieldId", "mapping", "direction", "transform"].map(|k| s(m.get(k)));
                    [keys(i), vec![n.to_string()], f.to_vec()].concat()
                })
            })
            .collect(),
        other => panic!("no expectation for view {other}"),
    };
    out.sort();
    out
}

/// The expected answer of each question, with its default parameters, for a lake that saw
/// `records`.
fn expected(name: &str, records: &[Rec]) -> Vec<Vec<String>> {
    expected_from(name, &current_items(records), records)
}

/// The expected answer of each question, with its default parameters: the state questions
/// from the items that exist (`current`), the traffic questions from the stream `records`.
fn expected_from(name: &str, current: &[(Option<String>, &Item)], records: &[Rec]) -> Vec<Vec<String>> {
    let s = |x: &str| x.to_owned();
    let out: Vec<Vec<String>> = match name {
        "popular_field_mappings" | "least_popular_field_mappings" => {
            let mut counts = BTreeMap::new();
            for (_, item) in current {
                if let Some(Av::L(l)) = item.get("fieldMappings") {
                    for m in l {
                        let Av::M(m) = m else { panic!() };
                        *counts.entry((text(m.get("fieldId")), text(m.get("mapping")))).or_insert(0) += 1;
                    }
                }
            }
            let (n, asc) = if name.starts_with("least") { (10, true) } else { (15, false) };
            top(counts, n, asc).into_iter().map(|((f, m), c)| vec![f.unwrap(), m.unwrap(), c.to_string()]).collect()
        }
        "popular_settings" => {
            let mut counts = BTreeMap::new();
            for (_, item) in current {
                for (path, t, v) in item_leaves(item) {
                    if !path.contains('[') && matches!(t, "S" | "N" | "BOOL") {
                        *counts.entry((path, v.unwrap())).or_insert(0) += 1;
                    }
                }
            }
            let counts = counts.into_iter().filter(|(_, c)| *c > 1).collect();
            top(counts, 20, false).into_iter().map(|((p, v), c)| vec![p, v, c.to_string()]).collect()
        }
        "write_traffic_by_customer" => {
            let mut per: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
            for r in records {
                let e = per.entry((r.day.clone(), r.tenant.clone().unwrap_or_else(|| s("(none)")))).or_default();
                e.0 += 1;
                e.1 += r.size;
            }
            let mut by_day: BTreeMap<String, Vec<(String, i64, i64)>> = BTreeMap::new();
            for ((d, c), (w, b)) in per {
                by_day.entry(d).or_default().push((c, w, b));
            }
            let mut out = Vec::new();
            for (d, mut v) in by_day {
                v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                out.extend(v.into_iter().take(3).map(|(c, w, b)| vec![d.clone(), c, w.to_string(), b.to_string()]));
            }
            out
        }
        "writes_by_hour" | "writes_by_weekday" => {
            let mut counts: BTreeMap<u32, i64> = BTreeMap::new();
            for r in records {
                *counts.entry(if name == "writes_by_hour" { r.hour } else { r.weekday }).or_default() += 1;
            }
            counts.into_iter().map(|(k, c)| vec![k.to_string(), c.to_string()]).collect()
        }
        "changes_by_kind" => {
            let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
            for r in records {
                *counts.entry((r.day.clone(), r.name.clone())).or_default() += 1;
            }
            counts.into_iter().map(|((d, n), c)| vec![d, n, c.to_string()]).collect()
        }
        "recorded_errors" => {
            let mut per: BTreeMap<String, (i64, BTreeSet<Option<String>>)> = BTreeMap::new();
            for (tenant, item) in current {
                if let Some(Av::M(e)) = item.get("lastError") {
                    if let Some(code) = text(e.get("code")) {
                        let x = per.entry(code).or_default();
                        x.0 += 1;
                        x.1.insert(tenant.clone());
                    }
                }
            }
            let mut v: Vec<_> = per.into_iter().map(|(c, (n, t))| (c, n, t.into_iter().flatten().count())).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.into_iter().map(|(c, n, t)| vec![c, n.to_string(), t.to_string()]).collect()
        }
        "most_changed_settings" => {
            let mut counts = BTreeMap::new();
            for r in records.iter().filter(|r| r.name == "MODIFY") {
                let (new, old) = (r.new.as_ref().unwrap(), r.old.as_ref().unwrap());
                let mut settings = BTreeSet::new();
                for (k, v) in new.iter().filter(|(k, _)| !DROPPED.contains(&k.as_str())) {
                    changed_settings(k, v, old.get(k), &mut settings);
                }
                for st in settings {
                    *counts.entry(st).or_insert(0) += 1;
                }
            }
            top(counts, 15, false).into_iter().map(|(k, c)| vec![k, c.to_string()]).collect()
        }
        "deletions" => {
            let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
            for r in records.iter().filter(|r| r.name == "REMOVE") {
                *counts.entry((r.day.clone(), s(if r.ttl { "ttl expiry" } else { "user delete" }))).or_default() += 1;
            }
            counts.into_iter().map(|((d, k), c)| vec![d, k, c.to_string()]).collect()
        }
        "rejected_cells" => {
            // `version` is a bigint column: a number with a fraction does not fit; one cell
            // per record (with a new image) that holds one.
            let bad: Vec<&Rec> = records
                .iter()
                .filter(|r| matches!(r.new.as_ref().and_then(|n| n.get("version")), Some(Av::N(v)) if v.parse::<i64>().is_err()))
                .collect();
            if bad.is_empty() {
                Vec::new()
            } else {
                let items: BTreeSet<&(String, String)> = bad.iter().map(|r| &r.key).collect();
                let days: BTreeSet<&str> = bad.iter().map(|r| r.day.as_str()).collect();
                vec![vec![
                    s("sync_configs"),
                    s("version"),
                    s("version"),
                    bad.len().to_string(),
                    items.len().to_string(),
                    s(days.first().unwrap()),
                    s(days.last().unwrap()),
                ]]
            }
        }
        other => panic!("no expected answer written for question {other}: add one"),
    };
    rows(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_question_gives_the_independently_computed_answer() {
    let f = fixture().await;
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let lake = LocalLake::open(&f.lake, &spec).await.unwrap();
    let questions: Vec<_> = files::all().unwrap().into_iter().filter(|q| q.kind == Kind::Question).collect();
    assert!(questions.len() >= 10);
    // The tables stream their objects in record batches: batches of 7 rows (boundaries inside
    // objects and across them) and the smallest memory pool give the same answers.
    let small = LocalOptions { memory_limit: 64 << 20, batch_size: 7 };
    let streamed_small = LocalLake::open_with(&f.lake, &spec, &small).await.unwrap();
    for q in &questions {
        let want = expected(&q.name, &f.records);
        assert!(!want.is_empty(), "{}: the generated history has an answer", q.name);
        for (engine, label) in [(&lake, "default"), (&streamed_small, "batches of 7 rows, 64 MiB")] {
            let answer = engine.query(&q.render(&[]).unwrap()).await.unwrap_or_else(|e| panic!("{}: {e}", q.name));
            assert_eq!(norm(&answer), want, "question {} ({label})", q.name);
        }
    }
    // A question published as a metric: its metric statement, on the same engine, gives its
    // answer's dimensions and value (recorded_errors: the code and the items), row for row.
    let published = ddb_lake_sql::named_queries::named_queries(&spec).unwrap();
    let q = published.queries.iter().find(|q| q.name == "recorded_errors").unwrap();
    let metric = q.metric.as_ref().expect("recorded_errors is published as a metric");
    // (In any order: each row is a datum of its own.)
    let mut got = norm(&lake.query(&metric.sql).await.unwrap());
    got.sort();
    let mut want: Vec<Vec<String>> =
        expected("recorded_errors", &f.records).into_iter().map(|r| vec![r[0].clone(), r[1].clone()]).collect();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g[0], w[0]);
        assert_eq!(g[1].parse::<f64>().unwrap(), w[1].parse::<f64>().unwrap(), "{}", w[0]);
    }

    // Parameters change answers as they say.
    let q = questions.iter().find(|q| q.name == "popular_field_mappings").unwrap();
    let a = lake.query(&q.render(&[("top".into(), "3".into())]).unwrap()).await.unwrap();
    assert_eq!(a.rows.len(), 3);
    let days: BTreeSet<&str> = f.records.iter().map(|r| r.day.as_str()).collect();
    let second = *days.iter().nth(1).unwrap();
    let q = questions.iter().find(|q| q.name == "changes_by_kind").unwrap();
    let a =
        lake.query(&q.render(&[("from".into(), second.into()), ("to".into(), second.into())]).unwrap()).await.unwrap();
    assert!(!a.rows.is_empty() && a.rows.iter().all(|r| r[0].as_deref() == Some(second)));

    // Every view and generated current_<table> view, row by row, from the reference records.
    for (view, sql) in [
        ("unique_changes", "SELECT pk, sk, sequence_number, event_name FROM unique_changes"),
        ("current_items", "SELECT pk, sk, tenant FROM current_items"),
        ("current_attributes", "SELECT pk, sk, path, type, value FROM current_attributes"),
        (
            "current_sync_configs",
            "SELECT pk, sk, client_key, sync_id, enabled, interval_minutes, timezone, synced_issues, error_code, \
             version FROM current_sync_configs",
        ),
        (
            "current_field_mappings",
            "SELECT pk, sk, element_index, field_id, mapping, direction, transform FROM current_field_mappings",
        ),
    ] {
        let mut got: Vec<Vec<String>> = raw(&lake.query(sql).await.unwrap());
        got.sort();
        let want = expected_view(view, &f.records);
        assert!(want.len() > 100, "{view}: the generated history has rows");
        assert_eq!(got.len(), want.len(), "{view}: rows");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{view}");
        }
    }
    // All 38 digits survive into decimal(38,0): the largest synced_issues of any record.
    let digits = |v: &Option<&Av>| match v {
        Some(Av::M(m)) => match m.get("syncedIssues") {
            Some(Av::N(n)) => Some(n.clone()),
            _ => None,
        },
        _ => None,
    };
    let largest = f
        .records
        .iter()
        .filter_map(|r| digits(&r.new.as_ref().and_then(|n| n.get("counters"))))
        .max_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)))
        .unwrap();
    assert_eq!(largest.len(), 38, "the generator writes a 38-digit counter");
    let a = lake.query("SELECT max(synced_issues) AS m FROM sync_configs").await.unwrap();
    assert_eq!(a.rows[0][0].as_deref(), Some(largest.as_str()));

    // The command gives the same answer as the library.
    let out = Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(["sql", "run", "popular_field_mappings", "--format", "csv", "--local"])
        .arg(&f.lake)
        .arg("--spec")
        .arg(&f.spec_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut expected_csv = String::from("field_id,mapping,configurations\n");
    for r in expected("popular_field_mappings", &f.records) {
        expected_csv.push_str(&format!("{},{},{}\n", r[0], r[1], r[2]));
    }
    assert_eq!(csv, expected_csv);
}

/// Issue 26: a dated question read the whole lake, here and in Athena.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dated_question_reads_only_its_days() {
    let f = fixture().await;
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let lake = LocalLake::open(&f.lake, &spec).await.unwrap();
    // Objects in a table's day folders (`only` one day, or all).
    let objects_of = |table: &str, only: Option<&str>| -> u64 {
        let mut n = 0;
        for folder in std::fs::read_dir(f.lake.join(table)).unwrap() {
            let folder = folder.unwrap();
            if only.is_none_or(|d| folder.file_name().to_string_lossy() == format!("dt={d}")) {
                n += std::fs::read_dir(folder.path()).unwrap().count() as u64;
            }
        }
        n
    };
    let days: BTreeSet<&str> = f.records.iter().map(|r| r.day.as_str()).collect();
    let day = *days.iter().nth(1).unwrap();
    let q = files::all().unwrap().into_iter().find(|q| q.name == "changes_by_kind").unwrap();
    let one_day = q.render(&[("from".into(), day.into()), ("to".into(), day.into())]).unwrap();

    // The filter on dt reaches the scan of `changes`, below unique_changes' grouping.
    let plan = lake.query(&format!("EXPLAIN {one_day}")).await.unwrap();
    let logical = plan_text(&plan, "logical_plan");
    let scan = logical.lines().find(|l| l.trim_start().starts_with("TableScan: changes")).unwrap();
    assert!(scan.contains("partial_filters=[") && scan.contains(&format!("\"{day}\"")), "{logical}");

    // And the scan opens only that day's objects.
    let (before, _) = lake.read();
    let answer = lake.query(&one_day).await.unwrap();
    let (after, _) = lake.read();
    assert_eq!(after - before, objects_of("changes", Some(day)));
    assert!(objects_of("changes", Some(day)) < objects_of("changes", None));
    let want: Vec<Vec<String>> = expected("changes_by_kind", &f.records).into_iter().filter(|r| r[0] == day).collect();
    assert!(!want.is_empty());
    assert_eq!(norm(&answer), want);

    // The command says what it read.
    let out = Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(["sql", "run", "changes_by_kind", "--format", "csv", "--param", &format!("from={day}")])
        .args(["--param", &format!("to={day}"), "--local"])
        .arg(&f.lake)
        .arg("--spec")
        .arg(&f.spec_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let said = format!("local: read {} objects (", objects_of("changes", Some(day)));
    assert!(stderr.starts_with(&said), "{stderr}");

    // The full range opens every object of `changes`.
    let (before, _) = lake.read();
    lake.query(&q.render(&[]).unwrap()).await.unwrap();
    let (after, _) = lake.read();
    assert_eq!(after - before, objects_of("changes", None));
}

/// The filters the scan tests on a line's text are exact: DataFusion leaves them to the scan,
/// which tests them whether the query reads their columns or not, and the answer is the one
/// DataFusion gives when it evaluates the same conditions itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_the_scan_tests_are_applied_by_the_scan_alone() {
    let f = fixture().await;
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let lake = LocalLake::open(&f.lake, &spec).await.unwrap();
    // path and type are not read: only tested.
    let pushed = "SELECT item_key, value FROM attributes \
                  WHERE strpos(path, '[') = 0 AND type IN ('S', 'N', 'BOOL') AND event_name = 'MODIFY'";
    // The same conditions in shapes the scan does not test (DataFusion evaluates them).
    let evaluated = "SELECT item_key, value FROM attributes \
                     WHERE strpos(path, '[') + 0 = 0 AND concat(type, '') IN ('S', 'N', 'BOOL') \
                     AND concat(event_name, '') = 'MODIFY'";
    same_answer_without_filter_exec(&lake, pushed, evaluated, "SELECT count(*) FROM attributes").await;

    // A boolean column as the filter (most_changed_settings' `changed`), not read either.
    let pushed = "SELECT item_key, path FROM attributes WHERE event_name = 'MODIFY' AND changed";
    let evaluated = "SELECT item_key, path FROM attributes WHERE event_name = 'MODIFY' AND coalesce(changed, false)";
    let modified = "SELECT count(*) FROM attributes WHERE event_name = 'MODIFY'";
    same_answer_without_filter_exec(&lake, pushed, evaluated, modified).await;
}

/// `pushed` (conditions the scan tests) answers what `evaluated` (the same conditions in shapes
/// DataFusion evaluates) does, some but not all of the `of` rows (a count), and its plan keeps
/// no FilterExec where the other's does.
async fn same_answer_without_filter_exec(lake: &LocalLake, pushed: &str, evaluated: &str, of: &str) {
    let got = sorted_rows(&lake.query(pushed).await.unwrap());
    let want = sorted_rows(&lake.query(evaluated).await.unwrap());
    let all = count(lake, of).await;
    assert!(!want.is_empty() && want.len() < all, "{} of {all} rows", want.len());
    assert_eq!(got, want);
    let physical = |q: &str| {
        let q = format!("EXPLAIN {q}");
        async move { plan_text(&lake.query(&q).await.unwrap(), "physical_plan") }
    };
    let plan = physical(pushed).await;
    assert!(!plan.contains("FilterExec"), "{plan}");
    let plan = physical(evaluated).await;
    assert!(plan.contains("FilterExec"), "{plan}");
}

/// The dynamic filter of current_attributes' join (the keys of current_items, known once that
/// side is read) reaches the scan of `attributes`, which leaves out the rows of earlier
/// versions before decoding them whole; the answer is the one the engine gives without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_joins_dynamic_filter_leaves_rows_out_in_the_scan() {
    let f = fixture().await;
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    // Small batches: the scan waits for the join after a few rows, so that most objects are
    // read once the filter is filled in.
    let options = LocalOptions { batch_size: 16, ..LocalOptions::default() };
    let with = LocalLake::open_with(&f.lake, &spec, &options).await.unwrap();
    let without = LocalLake::open_with(&f.lake, &spec, &options).await.unwrap();
    without.query("SET datafusion.optimizer.enable_join_dynamic_filter_pushdown = false").await.unwrap();
    let q = "SELECT tenant, item_key, path, type, value, sequence_number FROM current_attributes";
    let got = sorted_rows(&with.query(q).await.unwrap());
    assert!(!got.is_empty());
    assert_eq!(got, sorted_rows(&without.query(q).await.unwrap()));

    // The rows of attributes that belong to no current version: what the filter may leave out.
    let all = count(&without, "SELECT count(*) FROM attributes").await;
    let current = count(
        &without,
        "SELECT count(*) FROM attributes a JOIN current_items c ON a.item_key = c.item_key \
         AND a.event_name = c.event_name AND a.event_time = c.event_time \
         AND coalesce(a.sequence_number, '') = coalesce(c.sequence_number, '')",
    )
    .await;
    assert!(current < all, "{current} of {all} rows are of current versions");
    // The metric as EXPLAIN ANALYZE shows it: the count, or from 1,000 on a rounded one
    // ("1.53 K", "12.40 M"); the bounds it stands for.
    let left_out = |plan: &str| -> Vec<(f64, f64)> {
        plan.lines()
            // The scan of attributes (changes has no path).
            .filter(|l| l.contains("LakeScanExec") && l.contains(" path, type, value"))
            .map(|l| {
                let Some(at) = l.find("dynamic_filtered_rows=").map(|i| i + "dynamic_filtered_rows=".len()) else {
                    return (0.0, 0.0);
                };
                let shown: String = l[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
                let unit = match l[at + shown.len()..].strip_prefix(' ').and_then(|r| r.chars().next()) {
                    Some('K') => 1e3,
                    Some('M') => 1e6,
                    Some('B') => 1e9,
                    _ => 1.0,
                };
                let decimals = shown.split_once('.').map_or(0, |(_, d)| d.len());
                let (value, half_step) =
                    (shown.parse::<f64>().unwrap() * unit, 0.5 * unit / 10f64.powi(decimals as i32));
                (value - half_step, value + half_step)
            })
            .collect()
    };
    let line = |shown: &str| {
        format!("LakeScanExec: projection=[item_key, path, type, value], metrics=[dynamic_filtered_rows={shown}, x=1]")
    };
    assert_eq!(left_out(&line("123")), [(122.5, 123.5)]);
    assert_eq!(left_out(&line("1.53 K")), [(1525.0, 1535.0)]);
    let analyze = format!("EXPLAIN ANALYZE {q}");
    let plan = plan_text(&with.query(&analyze).await.unwrap(), "Plan with Metrics");
    assert!(plan.contains("runtime_filters=[DynamicFilter"), "{plan}");
    let scans = left_out(&plan);
    assert_eq!(scans.len(), 1, "{plan}");
    let (low, high) = scans[0];
    assert!(high >= 1.0 && low <= (all - current) as f64, "{low}..{high} rows left out of {all} ({current} current)");
    let plan = plan_text(&without.query(&analyze).await.unwrap(), "Plan with Metrics");
    assert!(!plan.contains("runtime_filters"), "{plan}");
}

/// A grouping whose first batch is all new groups (current_attributes': every row of a
/// current version is one) hands its rows on from its partial step unaggregated, after one
/// batch rather than DataFusion's 100,000 rows; the answer is the one the engine gives when
/// it aggregates in both steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grouping_of_distinct_rows_skips_its_partial_step_after_one_batch() {
    let f = fixture().await;
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let options = LocalOptions { batch_size: 16, ..LocalOptions::default() };
    let skips = LocalLake::open_with(&f.lake, &spec, &options).await.unwrap();
    let aggregates = LocalLake::open_with(&f.lake, &spec, &options).await.unwrap();
    aggregates.query("SET datafusion.execution.skip_partial_aggregation_probe_rows_threshold = 100000").await.unwrap();
    let q = "SELECT * FROM current_attributes";
    let got = sorted_rows(&skips.query(q).await.unwrap());
    let rows = count(&skips, "SELECT count(*) FROM current_attributes").await;
    assert!(rows > 3 * options.batch_size, "{rows} rows");
    assert_eq!(got, sorted_rows(&aggregates.query(q).await.unwrap()));
    let skipped = |plan: &str| -> f64 {
        plan.lines()
            .filter(|l| l.contains("AggregateExec: mode=Partial"))
            .map(|l| metric(l, "skipped_aggregation_rows"))
            .sum()
    };
    let analyze = format!("EXPLAIN ANALYZE {q}");
    let plan = plan_text(&skips.query(&analyze).await.unwrap(), "Plan with Metrics");
    // Only the first batches of each partition are aggregated.
    assert!(skipped(&plan) > rows as f64 / 2.0, "{rows} rows: {plan}");
    let plan = plan_text(&aggregates.query(&analyze).await.unwrap(), "Plan with Metrics");
    assert_eq!(skipped(&plan), 0.0, "{plan}");
}

/// current_attributes groups the joined rows by item, path, type, value and entity and takes
/// the columns one item's version fixes (tenant, pk, sk, sequence_number) by `min`: every
/// column equals a DISTINCT over all nine, on a lake where batches were delivered twice; and a
/// question that reads none of those four does not hash them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_attributes_collapses_copies_as_a_distinct_of_every_column_would() {
    let f = fixture().await;
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let lake = LocalLake::open(&f.lake, &spec).await.unwrap();
    let join = "FROM live_attributes a JOIN current_items c ON a.item_key = c.item_key \
                AND a.event_name = c.event_name AND a.event_time = c.event_time \
                AND coalesce(a.sequence_number, '') = coalesce(c.sequence_number, '')";
    let columns = "tenant, item_key, pk, sk, path, type, value, sequence_number, entity";
    let copies = count(&lake, &format!("SELECT count(*) {join}")).await;
    let distinct = sorted_rows(
        &lake
            .query(&format!(
                "SELECT DISTINCT a.tenant, a.item_key, a.pk, a.sk, a.path, a.type, a.value, a.sequence_number, \
                 a.entity {join}"
            ))
            .await
            .unwrap(),
    );
    assert!(copies > distinct.len(), "the re-deliveries left {copies} joined rows for {} distinct", distinct.len());
    let got = sorted_rows(&lake.query(&format!("SELECT {columns} FROM current_attributes")).await.unwrap());
    assert_eq!(got, distinct);

    let plan = plan_text(
        &lake.query("EXPLAIN SELECT path, value, count(*) FROM current_attributes GROUP BY path, value").await.unwrap(),
        "physical_plan",
    );
    let grouped: Vec<&str> = plan.lines().filter(|l| l.contains("AggregateExec") && l.contains("item_key")).collect();
    assert!(!grouped.is_empty(), "{plan}");
    for line in grouped {
        assert!(
            line.contains(
                "gby=[item_key@0 as item_key, path@1 as path, type@2 as type, value@3 as value, entity@4 as entity]"
            ),
            "{line}"
        );
        assert!(!["tenant", "pk@", "sk@", "sequence_number", "min("].iter().any(|c| line.contains(c)), "{line}");
    }
}

/// current_<table> groups the joined rows by item (and element, for an exploded table) and
/// takes every other column by `min`: every column equals a DISTINCT over all of them, for
/// the example spec's plain table and its exploded one, on a lake where batches were delivered
/// twice; and popular_field_mappings' two columns are all that its scan of the table decodes
/// besides the keys and the join's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_tables_collapse_copies_as_a_distinct_of_every_column_would() {
    let f = fixture().await;
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let lake = LocalLake::open(&f.lake, &spec).await.unwrap();
    let join = "JOIN current_items c ON t.item_key = c.item_key AND t.event_name = c.event_name \
                AND t.event_time = c.event_time AND coalesce(t.sequence_number, '') = coalesce(c.sequence_number, '')";
    for (table, columns) in [
        (
            "sync_configs",
            "event_name, sequence_number, event_time, tenant, item_key, pk, sk, client_key, sync_id, enabled, \
             interval_minutes, timezone, synced_issues, error_code, version, dt",
        ),
        (
            "field_mappings",
            "event_name, sequence_number, event_time, tenant, item_key, pk, sk, element_index, client_key, field_id, \
             mapping, direction, transform, dt",
        ),
    ] {
        let from = format!("FROM live_{table} t {join}");
        let copies = count(&lake, &format!("SELECT count(*) {from}")).await;
        let qualified: Vec<String> = columns.split(", ").map(|c| format!("t.{c}")).collect();
        let distinct =
            sorted_rows(&lake.query(&format!("SELECT DISTINCT {} {from}", qualified.join(", "))).await.unwrap());
        assert!(copies > distinct.len(), "{table}: {copies} joined rows for {} distinct", distinct.len());
        let got = sorted_rows(&lake.query(&format!("SELECT {columns} FROM current_{table}")).await.unwrap());
        assert_eq!(got, distinct, "current_{table}");
    }

    let plan = plan_text(
        &lake
            .query("EXPLAIN SELECT field_id, mapping, count(*) FROM current_field_mappings GROUP BY 1, 2")
            .await
            .unwrap(),
        "logical_plan",
    );
    let scan = plan.lines().find(|l| l.trim_start().starts_with("TableScan: field_mappings ")).unwrap();
    let projection = scan.split_once("projection=[").map_or("", |(_, p)| p.split(']').next().unwrap_or(""));
    assert_eq!(
        projection, "event_name, sequence_number, event_time, item_key, element_index, field_id, mapping",
        "{plan}"
    );
}

/// unique_changes groups a record's copies by day, item, sequence number and event name and
/// takes the other columns by `min`: every column equals a DISTINCT over all of them (copies
/// of a record are the same row), on a lake where batches were delivered twice. Its plan has
/// no window left, and deletions' filter on event_name reaches the scan of `changes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_changes_collapses_copies_as_a_distinct_of_every_column_would() {
    let f = fixture().await;
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let lake = LocalLake::open(&f.lake, &spec).await.unwrap();
    let columns = "event_name, sequence_number, event_time, tenant, item_key, pk, sk, event_id, stream_view_type, \
                   size_bytes, ttl_delete, principal, changed_attributes, entity, dt";
    let stream = "FROM history_changes WHERE event_name IN ('INSERT', 'MODIFY', 'REMOVE')";
    let copies = count(&lake, &format!("SELECT count(*) {stream}")).await;
    let distinct = sorted_rows(&lake.query(&format!("SELECT DISTINCT {columns} {stream}")).await.unwrap());
    assert!(copies > distinct.len(), "the re-deliveries left {copies} rows for {} distinct", distinct.len());
    let got = sorted_rows(&lake.query(&format!("SELECT {columns} FROM unique_changes")).await.unwrap());
    assert_eq!(got, distinct);

    let removes = "SELECT count(*) FROM unique_changes WHERE event_name = 'REMOVE'";
    let want = distinct.iter().filter(|r| r[0] == "REMOVE").count();
    assert!(want > 0);
    assert_eq!(count(&lake, removes).await, want);
    let explained = lake.query(&format!("EXPLAIN {removes}")).await.unwrap();
    let physical = plan_text(&explained, "physical_plan");
    assert!(!physical.contains("Window"), "{physical}");
    let logical = plan_text(&explained, "logical_plan");
    let scan = logical.lines().find(|l| l.trim_start().starts_with("TableScan: changes")).unwrap();
    // A filter of its own, not the view's IN list (which the scan had before, too).
    let filters = scan.split_once("full_filters=[").map_or("", |(_, f)| f.trim_end_matches(']'));
    assert!(filters.split(", ").any(|f| f == "changes.event_name = Utf8(\"REMOVE\")"), "{logical}");
}

/// The live views' `entity` of a spec without `[[entities]]` is NULL in every row (it is
/// written as an expression, not a literal: views.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_entities_the_live_views_entity_is_null() {
    let f = fixture().await;
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    assert!(spec.entities.is_empty());
    let lake = LocalLake::open(&f.lake, &spec).await.unwrap();
    for view in ["live_attributes", "live_changes"] {
        let q = format!("SELECT count(*), count(entity), count(*) FILTER (WHERE entity IS NULL) FROM {view}");
        let counts = raw(&lake.query(&q).await.unwrap());
        assert!(counts[0][0] != "0" && counts[0][1] == "0" && counts[0][2] == counts[0][0], "{view}: {counts:?}");
    }
}

/// The `logical_plan` or `physical_plan` text of an EXPLAIN answer.
fn plan_text(explained: &Answer, kind: &str) -> String {
    explained.rows.iter().find(|r| r[0].as_deref() == Some(kind)).unwrap()[1].clone().unwrap()
}

/// The count `name` of an EXPLAIN ANALYZE plan line, as DataFusion shows it: `12` or
/// `12.79 K` (rounded: thousands, millions, billions).
fn metric(line: &str, name: &str) -> f64 {
    let at = line.find(&format!("{name}=")).unwrap_or_else(|| panic!("no {name} in {line}")) + name.len() + 1;
    let mut words = line[at..].split([',', ']']).next().unwrap().split_whitespace();
    let number: f64 = words.next().unwrap().parse().unwrap();
    number
        * match words.next() {
            None => 1.0,
            Some("K") => 1e3,
            Some("M") => 1e6,
            Some("B") => 1e9,
            Some(unit) => panic!("{name}: unit {unit} in {line}"),
        }
}

/// The subtrees under the plan line `at`, by indentation (two spaces per level).
fn children_of(plan: &[&str], at: usize) -> Vec<String> {
    let depth = |l: &str| l.len() - l.trim_start().len();
    let parent = depth(plan[at]);
    let mut children: Vec<String> = Vec::new();
    for line in plan[at + 1..].iter().take_while(|l| depth(l) > parent) {
        if depth(line) == parent + 2 {
            children.push(String::new());
        }
        let last = children.last_mut().expect("a child line first");
        last.push_str(line);
        last.push('\n');
    }
    children
}

/// Issue 26: the join of a current view holds the current items in memory, not the history
/// (on the 1 GB lake, sorting or hashing all of field_mappings ran out of memory), and the
/// one row of latest_snapshot is not joined in a loop that holds all of `changes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_current_view_joins_on_the_current_items() {
    let f = fixture().await;
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let lake = LocalLake::open(&f.lake, &spec).await.unwrap();
    // Each history table by a column only it has.
    for (question, column) in [("popular_field_mappings", "field_id"), ("popular_settings", "path")] {
        let q = files::all().unwrap().into_iter().find(|q| q.name == question).unwrap();
        let explained = lake.query(&format!("EXPLAIN {}", q.render(&[]).unwrap())).await.unwrap();
        let physical = plan_text(&explained, "physical_plan");
        let plan: Vec<&str> = physical.lines().collect();
        assert!(!physical.contains("NestedLoopJoinExec"), "{physical}");
        let joins: Vec<usize> = (0..plan.len()).filter(|&i| plan[i].trim_start().starts_with("HashJoinExec")).collect();
        assert_eq!(joins.len(), 1, "{physical}");
        let sides = children_of(&plan, joins[0]);
        assert_eq!(sides.len(), 2, "{physical}");
        // The hash table is built from the first side: current_items' window over changes.
        assert!(sides[0].contains("BoundedWindowAggExec"), "{question}: build side\n{}", sides[0]);
        assert!(!sides[1].contains("BoundedWindowAggExec"), "{question}: probe side\n{}", sides[1]);
        let scan = sides[1].lines().find(|l| l.trim_start().starts_with("LakeScanExec")).unwrap_or_default();
        let projection = scan.split_once("projection=[").map_or("", |(_, p)| p.split(']').next().unwrap_or(""));
        assert!(projection.split(", ").any(|c| c == column), "{question}: probe side\n{}", sides[1]);
    }
}

#[test]
fn sql_list_and_show() {
    let out = Command::new(env!("CARGO_BIN_EXE_ddb-lake")).args(["sql", "list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for f in files::all().unwrap() {
        assert!(text.contains(&f.name) && text.contains(&f.question), "{} in {text}", f.name);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(["sql", "show", "recorded_errors", "--param", "error_path=it's"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("WHERE path = 'it''s'"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(["sql", "show", "popular_settings", "--param", "top=1 OR 1=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a whole number"));
}

/// Runs `ddb-lake backfill` of `export` into `lake` with the example spec.
fn backfill(export: &std::path::Path, lake: &std::path::Path, spec: &std::path::Path) {
    let out = backfill_command(export, lake, spec).arg("--quiet").output().unwrap();
    assert!(out.status.success(), "backfill failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Normalizes `records` into `lake` as Lambda would, 100 records a batch.
async fn stream(records: &[&EventRecord], lake: &std::path::Path, spec: &LakeSpec) {
    let pipeline =
        Pipeline::new(Normalizer::new(spec, Some(b"test-redaction-key-16")).unwrap()).with_max_concurrent_uploads(4);
    let sink = LocalDirSink::new(lake);
    let options = BatchOptions { source: Some("shardId-1".into()) };
    for chunk in records.chunks(100) {
        let mut event = Event::default();
        event.records = chunk.iter().map(|r| (*r).clone()).collect();
        let r = process_event(&pipeline, &sink, &ddb_lake_synth::event_json(&event), &options).await.unwrap();
        assert!(r.failed_objects.is_empty() && r.output.quarantined.is_empty());
    }
}

/// What [`answers`] must give: every question's answer computed from the items that exist
/// (`truth`) and the stream records the lake saw, and the count of current items.
fn expected_answers(truth: &[(Option<String>, &Item)], records: &[Rec]) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut want = BTreeMap::new();
    for q in files::all().unwrap().into_iter().filter(|q| q.kind == Kind::Question) {
        want.insert(q.name.clone(), expected_from(&q.name, truth, records));
    }
    want.insert("count(current_items)".into(), rows(vec![vec![truth.len().to_string()]]));
    want
}

async fn answers(lake: &std::path::Path, spec: &LakeSpec) -> BTreeMap<String, Vec<Vec<String>>> {
    let local = LocalLake::open(lake, spec).await.unwrap();
    let mut out = BTreeMap::new();
    for q in files::all().unwrap().into_iter().filter(|q| q.kind == Kind::Question) {
        let a = local.query(&q.render(&[]).unwrap()).await.unwrap_or_else(|e| panic!("{}: {e}", q.name));
        out.insert(q.name.clone(), norm(&a));
    }
    let n = local.query("SELECT count(*) AS n FROM current_items").await.unwrap();
    out.insert("count(current_items)".into(), norm(&n));
    out
}

/// The lake of a table whose stream was missed for two days (longer than its retention),
/// backfilled from an export taken later, answers every question as the table's true
/// final state says: the export and the stream overlap exactly, whatever order they are
/// written in and however often.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_and_the_stream_give_the_tables_true_state() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("lake.toml");
    std::fs::write(&spec_path, SPEC).unwrap();
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let margin_ms = i64::from(spec.snapshot_margin_seconds) * 1000;
    let opts = ddb_lake_synth::SynthOptions { items: 400, customers: 25, days: 10, seed: 23, ..Default::default() };
    let events = ddb_lake_synth::generate(&opts).unwrap();
    let all: Vec<&EventRecord> = events.iter().flat_map(|e| e.records.iter()).collect();
    let time = |r: &EventRecord| r.change.approximate_creation_date_time.timestamp_millis();
    let start = time(all[0]);
    const DAY: i64 = 86_400_000;

    // The lake misses days 3 and 4 of the stream. The export is taken on day 7, 10 s after a
    // REMOVE that it misses (an export is not exact at its time: it still holds the item),
    // as are any records in those 10 s; the stream has them all.
    let gap = (start + 3 * DAY)..(start + 5 * DAY);
    let missed = all.iter().position(|r| r.event_name == "REMOVE" && time(r) >= start + 7 * DAY).unwrap();
    let export_time = time(all[missed]) + 10_000;
    assert!(export_time - margin_ms > gap.end, "the stream is whole from T - W on");
    let seen: Vec<&EventRecord> = all.iter().copied().filter(|r| !gap.contains(&time(r))).collect();
    let exported = ddb_lake_synth::export::state_at(&events, time(all[missed]));
    let export = ddb_lake_synth::export::write_export(
        &dir.path().join("exports"),
        &ddb_lake_synth::export::ExportOptions {
            export_id: "01794484800000-0c0ffee0".into(),
            export_time_millis: export_time,
            table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations".into(),
            data_files: 3,
        },
        exported.values(),
    )
    .unwrap();

    // What the test holds true, from the whole history: the table's final state, and the
    // stream records the lake saw (snapshot rows are not writes).
    let true_records: Vec<Rec> = all.iter().map(|r| to_rec(r)).collect();
    let seen_records: Vec<Rec> = seen.iter().map(|r| to_rec(r)).collect();
    let truth = current_items(&true_records);

    // The scenario has what it claims: deletes before the export, in the gap (of items
    // whose earlier rows the lake has) and after the export.
    let key_of = |r: &EventRecord| format!("{:?}", r.change.keys.get("sk"));
    let before_gap: BTreeSet<String> = seen.iter().filter(|r| time(r) < gap.start).map(|r| key_of(r)).collect();
    let removes = |f: &dyn Fn(&EventRecord) -> bool| all.iter().filter(|r| r.event_name == "REMOVE" && f(r)).count();
    assert!(removes(&|r| time(r) < gap.start) > 0);
    assert!(removes(&|r| gap.contains(&time(r)) && before_gap.contains(&key_of(r))) > 0);
    assert!(removes(&|r| time(r) > export_time) > 0);
    assert!(all.iter().any(|r| time(r) > export_time && r.event_name == "MODIFY"));
    assert_ne!(exported.len(), truth.len(), "the export is not the final state");

    let want = expected_answers(&truth, &seen_records);
    for (name, w) in &want {
        // Nothing in this history misfits its column: rejected_cells is rightly empty.
        assert!(!w.is_empty() || name == "rejected_cells", "{name}: the scenario has an answer");
    }

    // Stream first: the lake alone is wrong (it still has items deleted in the gap and lacks
    // those created there)…
    let lake_a = dir.path().join("lake-a");
    stream(&seen, &lake_a, &spec).await;
    let alone = answers(&lake_a, &spec).await;
    assert_ne!(alone["count(current_items)"], want["count(current_items)"]);
    // …then backfilled, twice: right.
    backfill(&export, &lake_a, &spec_path);
    backfill(&export, &lake_a, &spec_path);
    assert_eq!(answers(&lake_a, &spec).await, want);

    // Backfill first, then the stream: the same answers.
    let lake_b = dir.path().join("lake-b");
    backfill(&export, &lake_b, &spec_path);
    stream(&seen, &lake_b, &spec).await;
    assert_eq!(answers(&lake_b, &spec).await, want);

    // A snapshot that is not whole (a data file's row in `snapshots` missing) is not used.
    let marker = std::fs::read_dir(
        lake_b
            .join("snapshots")
            .join(format!("dt={}", chrono::DateTime::from_timestamp_millis(export_time).unwrap().format("%Y-%m-%d"))),
    )
    .unwrap()
    .next()
    .unwrap()
    .unwrap()
    .path();
    std::fs::remove_file(marker).unwrap();
    assert_eq!(answers(&lake_b, &spec).await["count(current_items)"], alone["count(current_items)"]);
}

/// `ddb-lake backfill` of `export` into `lake` with the spec at `spec`.
fn backfill_command(export: &std::path::Path, lake: &std::path::Path, spec: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ddb-lake"));
    command.args(["backfill", "--export"]).arg(export).arg("--out").arg(lake).arg("--spec").arg(spec);
    command.env("DDB_LAKE_REDACTION_KEY", "test-redaction-key-16");
    command
}

/// Runs `ddb-lake backfill` of `export` into `lake` with the spec at `spec`, and returns the
/// output whatever the outcome.
fn try_backfill(export: &std::path::Path, lake: &std::path::Path, spec: &std::path::Path) -> std::process::Output {
    backfill_command(export, lake, spec).output().unwrap()
}

/// Issue 39: a lake whose stream lapsed for longer than its retention, healed by a chain of
/// incremental exports from a full export before the outage, answers every question as the
/// table's true final state says; the incremental rows are not writes; re-running an export
/// or running the chain's exports in another order changes no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_exports_heal_a_lapsed_stream() {
    use ddb_lake_synth::export::{
        state_at, write_export, write_incremental_export, ExportOptions, ExportView, IncrementalOptions,
    };
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("lake.toml");
    std::fs::write(&spec_path, SPEC).unwrap();
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let margin_ms = i64::from(spec.snapshot_margin_seconds) * 1000;
    let opts = ddb_lake_synth::SynthOptions { items: 400, customers: 25, days: 10, seed: 29, ..Default::default() };
    let mut events = ddb_lake_synth::generate(&opts).unwrap();
    let time = |r: &EventRecord| r.change.approximate_creation_date_time.timestamp_millis();
    const H: i64 = 3_600_000;
    const DAY: i64 = 24 * H;
    let t0 = (time(&events[0].records[0]) / 1000 + 2 * 86_400) * 1000;
    // The generator's items live for days: add one created and deleted ten minutes later,
    // inside the second window.
    let mut born = events
        .iter()
        .flat_map(|e| e.records.iter())
        .find(|r| r.event_name == "INSERT" && time(r) > t0 + DAY + H)
        .unwrap()
        .clone();
    let sk = serde_dynamo::AttributeValue::S("SYNC#born-and-gone".into());
    let mut keys: HashMap<String, serde_dynamo::AttributeValue> = born.change.keys.clone().into();
    keys.insert("sk".into(), sk.clone());
    born.change.keys = keys.into();
    let mut image: HashMap<String, serde_dynamo::AttributeValue> = born.change.new_image.clone().into();
    image.insert("sk".into(), sk);
    born.change.new_image = image.into();
    let mut gone = born.clone();
    gone.event_name = "REMOVE".into();
    gone.event_id = format!("{}-gone", born.event_id);
    gone.change.approximate_creation_date_time += chrono::Duration::minutes(10);
    gone.change.sequence_number = born.change.sequence_number.as_ref().map(|s| format!("{s}1"));
    gone.change.old_image = std::mem::take(&mut gone.change.new_image);
    let mut pair = Event::default();
    pair.records = vec![born, gone];
    events.push(pair);
    let all: Vec<&EventRecord> = events.iter().flat_map(|e| e.records.iter()).collect();

    // The full export at T0; the stream down from T0 + 6 h for almost three days; three
    // incremental windows of a day from T0 (both views); the stream whole again 2 h before
    // the chain's end, so it carries the updates around the end of the last window.
    let outage = (t0 + 6 * H)..(t0 + 3 * DAY - 2 * H);
    let chain_end = t0 + 3 * DAY;
    assert!(outage.end < chain_end - margin_ms);
    let seen: Vec<&EventRecord> = all.iter().copied().filter(|r| !outage.contains(&time(r))).collect();
    let root = dir.path().join("exports");
    let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations".to_owned();
    let full = write_export(
        &root,
        &ExportOptions {
            export_id: format!("{t0:014}-0f0f0f0f"),
            export_time_millis: t0,
            table_arn: arn.clone(),
            data_files: 3,
        },
        state_at(&events, t0).values(),
    )
    .unwrap();
    let views = [ExportView::NewAndOldImages, ExportView::NewImage, ExportView::NewAndOldImages];
    let windows: Vec<std::path::PathBuf> = (0..3)
        .map(|i| {
            let (from, to) = (t0 + i * DAY, t0 + (i + 1) * DAY);
            let o = IncrementalOptions {
                export_id: format!("{to:014}-1c1c1c{i:02}"),
                from_millis: from,
                to_millis: to,
                view: views[i as usize],
                table_arn: arn.clone(),
                data_files: 2,
            };
            write_incremental_export(&root, &o, &events).unwrap()
        })
        .collect();

    // The scenario has what it claims: deletes before T0, inside the windows while the stream
    // was down, and after the chain; an item created and deleted inside one window; items
    // changed both in the last window and by the stream after it.
    let key_of = |r: &EventRecord| format!("{:?}{:?}", r.change.keys.get("pk"), r.change.keys.get("sk"));
    let removes = |f: &dyn Fn(&EventRecord) -> bool| all.iter().filter(|r| r.event_name == "REMOVE" && f(r)).count();
    assert!(removes(&|r| time(r) < t0) > 0);
    assert!(removes(&|r| outage.contains(&time(r))) > 0);
    assert!(removes(&|r| time(r) > chain_end) > 0);
    let born_and_gone = all.iter().any(|r| {
        r.event_name == "INSERT"
            && outage.contains(&time(r))
            && all.iter().any(|d| {
                d.event_name == "REMOVE"
                    && key_of(d) == key_of(r)
                    && outage.contains(&time(d))
                    && (time(d) - t0) / DAY == (time(r) - t0) / DAY
            })
    });
    assert!(born_and_gone, "an item created and deleted inside one window");
    let last_window = (chain_end - DAY)..chain_end;
    let in_last: BTreeSet<String> =
        all.iter().filter(|r| last_window.contains(&time(r)) && time(r) < outage.end).map(|r| key_of(r)).collect();
    assert!(all.iter().any(|r| time(r) > chain_end - margin_ms && in_last.contains(&key_of(r))));

    let true_records: Vec<Rec> = all.iter().map(|r| to_rec(r)).collect();
    let seen_records: Vec<Rec> = seen.iter().map(|r| to_rec(r)).collect();
    let truth = current_items(&true_records);
    let want = expected_answers(&truth, &seen_records);

    // Stream, the full export, then the windows in order; one run again: right.
    let lake_a = dir.path().join("lake-a");
    stream(&seen, &lake_a, &spec).await;
    backfill(&full, &lake_a, &spec_path);
    let only_full = answers(&lake_a, &spec).await;
    assert_ne!(only_full["count(current_items)"], want["count(current_items)"], "the outage shows");
    for w in &windows {
        backfill(w, &lake_a, &spec_path);
    }
    assert_eq!(answers(&lake_a, &spec).await, want);
    let before = helpers::tree(&lake_a);
    backfill(&windows[1], &lake_a, &spec_path);
    assert_eq!(helpers::tree(&lake_a), before, "a run again writes the same bytes");

    // Another order: the last window first (it chains through the exports beside it), the
    // full export, the middle window, the first, then the stream.
    let lake_b = dir.path().join("lake-b");
    for export in [&windows[2], &full, &windows[1], &windows[0]] {
        backfill(export, &lake_b, &spec_path);
    }
    stream(&seen, &lake_b, &spec).await;
    assert_eq!(answers(&lake_b, &spec).await, want);

    // While a window of the chain is missing from the lake, the windows after it are not
    // used: the answers are those of the chain up to the gap.
    let lake_c = dir.path().join("lake-c");
    stream(&seen, &lake_c, &spec).await;
    for export in [&full, &windows[0]] {
        backfill(export, &lake_c, &spec_path);
    }
    let up_to_first = answers(&lake_c, &spec).await;
    backfill(&windows[2], &lake_c, &spec_path);
    assert_eq!(answers(&lake_c, &spec).await, up_to_first);
    backfill(&windows[1], &lake_c, &spec_path);
    assert_eq!(answers(&lake_c, &spec).await, want);
}

/// Issue 39, on the fixture in AWS's layout: the chain full → incremental (NEW_AND_OLD_IMAGES)
/// → incremental (NEW_IMAGE) leaves the items its events say; an incremental export after a
/// gap, or without a full export under it, is refused naming what to export, and nothing is
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_fixture_exports_and_its_gaps() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exports");
    let full = fixtures.join("sync-configurations/AWSDynamoDB/01793880000000-5a1c0e42");
    let inc = |id: &str| fixtures.join("sync-configurations-incremental/AWSDynamoDB").join(id);
    let dir = tempfile::tempdir().unwrap();
    let spec_text = "[source]\ntable = \"sync-configurations\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n";
    let spec_path = dir.path().join("lake.toml");
    std::fs::write(&spec_path, spec_text).unwrap();
    let spec = LakeSpec::from_toml(spec_text, "spec").unwrap();
    let lake = dir.path().join("lake");

    // No full export under it (none in the lake, none beside it).
    let out = try_backfill(&inc("01793883600000-1c1c1c1c"), &lake, &spec_path);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("there is no full export before its end (2026-11-05T13:00:00.000Z)"), "{said}");
    assert!(said.contains("--export-time 2026-11-05T12:00:00.000Z"), "{said}");
    assert!(!lake.exists(), "nothing written");

    backfill(&full, &lake, &spec_path);
    backfill(&inc("01793883600000-1c1c1c1c"), &lake, &spec_path);
    backfill(&inc("01793887200000-2d2d2d2d"), &lake, &spec_path);
    let local = LocalLake::open(&lake, &spec).await.unwrap();
    let current = local.query("SELECT item_key, event_name FROM current_items ORDER BY item_key").await.unwrap();
    // From the fixture's events: acme 0001 modified (E1), acme 0002 deleted (E1), initech
    // 0001 created (E1) and modified (E2), initech 0002 created and deleted (E1), globex 0001
    // deleted (E2), acme 0003 created (E2).
    let key = |pk: &str, sk: &str| format!("{{\"pk\":\"CUSTOMER#{pk}\",\"sk\":\"SYNC#{sk}\"}}");
    assert_eq!(
        norm(&current),
        [
            vec![key("acme", "0001"), "INCREMENTAL".into()],
            vec![key("acme", "0003"), "INCREMENTAL".into()],
            vec![key("initech", "0001"), "INCREMENTAL".into()],
        ]
    );
    let enabled = local
        .query("SELECT value FROM current_attributes WHERE path = 'enabled' AND item_key LIKE '%initech%'")
        .await
        .unwrap();
    assert_eq!(norm(&enabled), [vec!["false".to_string()]], "the later of its two writes");
    let interval = local
        .query("SELECT value FROM current_attributes WHERE path = 'intervalMinutes' AND item_key LIKE '%acme%0001%'")
        .await
        .unwrap();
    assert_eq!(norm(&interval), [vec!["30".to_string()]]);
    // Not writes: no question counting writes sees them.
    let writes = local.query("SELECT count(*) FROM unique_changes").await.unwrap();
    assert_eq!(norm(&writes), [vec!["0".to_string()]]);

    // The window after the gap [14:00, 14:30): refused, naming the window to export.
    let before = helpers::tree(&lake);
    let out = try_backfill(&inc("01793892600000-3e3e3e3e"), &lake, &spec_path);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("the changes of [2026-11-05T14:00:00.000Z, 2026-11-05T14:30:00.000Z) are in no export"),
        "{said}"
    );
    assert!(
        said.contains("ExportFromTime=2026-11-05T14:00:00Z,ExportToTime=2026-11-05T14:30:00Z,ExportViewType=NEW_IMAGE"),
        "{said}"
    );
    assert!(said.contains("nothing was written"), "{said}");
    assert_eq!(helpers::tree(&lake), before, "nothing written");
}

/// The cells of the tables `ddb-lake demo` prints, by question: each table is read by the
/// columns its rule (`───  ───`) marks, the header and the bars left out. Also the row count
/// each table states under it.
fn printed_tables(stdout: &str) -> BTreeMap<String, (Vec<Vec<String>>, String)> {
    let mut out = BTreeMap::new();
    for section in stdout.split("\n== ").skip(1) {
        let mut lines = section.lines();
        let name = lines.next().unwrap().split(" (v").next().unwrap().to_owned();
        let mut lines = lines.skip_while(|l| !l.starts_with('─'));
        let rule: Vec<char> = lines.next().unwrap_or_else(|| panic!("{name}: no table")).chars().collect();
        let mut columns = Vec::new();
        let mut at = 0;
        while at < rule.len() {
            let end = (at..rule.len()).find(|&i| rule[i] != '─').unwrap_or(rule.len());
            columns.push(at..end);
            at = end + 2;
        }
        let mut cells = Vec::new();
        let mut count = String::new();
        for line in lines {
            if line.starts_with('(') {
                count = line.to_owned();
                break;
            }
            let chars: Vec<char> = line.chars().collect();
            let cell = |c: &std::ops::Range<usize>| -> String {
                chars[c.start.min(chars.len())..c.end.min(chars.len())].iter().collect::<String>().trim().to_owned()
            };
            cells.push(columns.iter().map(cell).collect());
        }
        out.insert(name, (cells, count));
    }
    out
}

/// Issue 27: `ddb-lake demo`, run in a temporary folder, prints for every question the
/// answer computed here from the history it generates (the generator gives the same events
/// for the same options), read as Lambda delivers it: the state questions from the items'
/// final state (the demo backfills the first day from an export), the traffic questions from
/// the stream records from an hour before the export on (those the demo streams), each once
/// although the demo re-delivers some.
#[test]
fn the_demo_prints_the_answers_its_history_gives() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("demo-lake");
    let opts = ddb_lake_synth::SynthOptions { items: 400, customers: 25, days: 10, seed: 5, ..Default::default() };
    let out = Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .arg("demo")
        .arg("--out")
        .arg(&lake)
        .args(["--items", &opts.items.to_string(), "--customers", &opts.customers.to_string()])
        .args(["--days", &opts.days.to_string(), "--seed", &opts.seed.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the demo failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();

    let mut lines = Vec::new();
    ddb_lake_synth::write_json_lines(&ddb_lake_synth::generate(&opts).unwrap(), &mut lines).unwrap();
    let reference: Vec<Event> =
        String::from_utf8(lines).unwrap().lines().map(|t| serde_json::from_str(t).unwrap()).collect();
    let all: Vec<&EventRecord> = reference.iter().flat_map(|e| e.records.iter()).collect();
    // The full export at the end of the first day, the stream from an hour before it, down
    // from 30 h to 46 h after it (healed by two incremental exports of a day each).
    let export_time = opts.start.timestamp_millis() + 86_400_000;
    let stream_from = export_time - 3_600_000;
    let outage = (export_time + 30 * 3_600_000)..(export_time + 46 * 3_600_000);
    let time = |r: &EventRecord| r.change.approximate_creation_date_time.timestamp_millis();
    let streamed: Vec<Rec> =
        all.iter().filter(|r| time(r) >= stream_from && !outage.contains(&time(r))).map(|r| to_rec(r)).collect();
    let missed = all.iter().filter(|r| outage.contains(&time(r))).count();
    let every: Vec<Rec> = all.iter().map(|r| to_rec(r)).collect();
    let truth = current_items(&every);
    assert!(streamed.len() < every.len(), "the demo backfills the first day");
    assert!(missed > 0, "the outage hides records");
    assert!(stderr.contains(&format!("UTC ({missed} records the lake misses)")), "{stderr}");
    assert!(stderr.contains("the chain of exports ends at"), "{stderr}");
    assert!(stderr.contains(&format!("normalizing the {} stream records from", streamed.len())), "{stderr}");
    // The older days are compacted before the answers (which the rest of this test checks),
    // and the probe question reads less after it: "… now reads N objects, X MB instead of M
    // objects, Y MB".
    let saved = stderr.lines().find(|l| l.contains("popular_field_mappings now reads")).expect(&stderr);
    let numbers: Vec<f64> = saved
        .split("now reads")
        .nth(1)
        .unwrap()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|n| n.trim_matches('.').parse().ok())
        .collect();
    assert_eq!(numbers.len(), 4, "{saved}");
    assert!(numbers[0] < numbers[2] && numbers[1] < numbers[3], "{saved}");
    assert!(std::fs::read_dir(lake.join("changes_state")).unwrap().count() > 0);

    let printed = printed_tables(&stdout);
    let questions: Vec<_> = files::all().unwrap().into_iter().filter(|q| q.kind == Kind::Question).collect();
    assert_eq!(printed.len(), questions.len(), "a table per question in\n{stdout}");
    // A cell longer than 60 characters is shown cut, ending in `…`.
    let cut = |v: String| if v.chars().count() > 60 { v.chars().take(59).chain(['…']).collect() } else { v };
    for q in &questions {
        let want: Vec<Vec<String>> =
            expected_from(&q.name, &truth, &streamed).into_iter().map(|r| r.into_iter().map(cut).collect()).collect();
        assert!(!want.is_empty() || q.name == "rejected_cells", "{}: the history has an answer", q.name);
        let (cells, count) = &printed[&q.name];
        assert_eq!(rows(cells.clone()), want, "question {} as the demo prints it", q.name);
        let n = want.len();
        assert_eq!(count, &format!("({n} row{})", if n == 1 { "" } else { "s" }), "{}", q.name);
    }
    assert!(stdout.contains(&format!("The lake is in {}/", lake.display())), "{stdout}");
}

/// `ddb-lake compact --lake <lake> --spec <spec> --through <day>`, with `stop_after` steps
/// when given (as if killed there).
fn compact(
    lake: &std::path::Path,
    spec: &std::path::Path,
    through: &str,
    stop_after: Option<usize>,
) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ddb-lake"));
    command.args(["compact", "--lake"]).arg(lake).arg("--spec").arg(spec).args(["--through", through]);
    if let Some(n) = stop_after {
        command.env("DDB_LAKE_COMPACT_STOP_AFTER", n.to_string());
    }
    command.output().unwrap()
}

/// The text objects (`.tsv.gz`) of the item tables in days up to `through`.
fn text_through(lake: &std::path::Path, through: &str) -> Vec<String> {
    helpers::tree(lake).into_keys().filter(|k| text_day(k).is_some_and(|d| d <= through)).collect()
}

/// The day of `key` when it is a text object (`.tsv.gz`) of an item table, else `None`.
fn text_day(key: &str) -> Option<&str> {
    let mut parts = key.split('/');
    let (table, day) = (parts.next()?, parts.next()?);
    (key.ends_with(".gz") && ddb_lake_core::schema::is_compacted(table)).then_some(day.strip_prefix("dt=")?)
}

/// Every row of the item tables' histories (`history_<table>`), sorted, as text: what the
/// lake holds whatever it is stored as.
async fn histories(lake: &std::path::Path, spec: &LakeSpec) -> BTreeMap<String, Vec<Vec<String>>> {
    let local = LocalLake::open(lake, spec).await.unwrap();
    let mut out = BTreeMap::new();
    for t in spec.item_table_schemas().iter().filter(|t| ddb_lake_core::schema::is_compacted(&t.name)) {
        let a = local.query(&format!("SELECT DISTINCT * FROM history_{}", t.name)).await.unwrap();
        out.insert(t.name.clone(), sorted_rows(&a));
    }
    out
}

/// The bytes question `name` reads from the lake (text as stored, Parquet as fetched).
async fn read_by(lake: &std::path::Path, spec: &LakeSpec, name: &str) -> u64 {
    let local = LocalLake::open(lake, spec).await.unwrap();
    let q = files::all().unwrap().into_iter().find(|q| q.name == name).unwrap();
    local.query(&q.render(&[]).unwrap()).await.unwrap();
    local.read().1
}

/// Issue 40: compaction changes no answer: before it, after it, after a second run, after
/// runs killed part way (before and after their `compactions` row), after records
/// re-delivered into compacted days and another run; expected answers come from the events.
/// The compacted history holds the text rows value for value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_changes_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("lake.toml");
    std::fs::write(&spec_path, SPEC).unwrap();
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let opts = ddb_lake_synth::SynthOptions { items: 300, customers: 20, days: 10, seed: 37, ..Default::default() };
    let events = ddb_lake_synth::generate(&opts).unwrap();
    let all: Vec<&EventRecord> = events.iter().flat_map(|e| e.records.iter()).collect();
    let time = |r: &EventRecord| r.change.approximate_creation_date_time.timestamp_millis();
    const DAY: i64 = 86_400_000;
    let start = time(all[0]);
    let day_of = |t: i64| chrono::DateTime::from_timestamp_millis(t).unwrap().format("%Y-%m-%d").to_string();
    // A full export on day 2; the stream throughout; day 7 is the last day compacted.
    let t0 = start + 2 * DAY;
    let through = day_of(start + 7 * DAY);
    let export = ddb_lake_synth::export::write_export(
        &dir.path().join("exports"),
        &ddb_lake_synth::export::ExportOptions {
            export_id: format!("{t0:014}-0c0ffee1"),
            export_time_millis: t0,
            table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations".into(),
            data_files: 2,
        },
        ddb_lake_synth::export::state_at(&events, t0).values(),
    )
    .unwrap();
    // Every 9th record of days 4 and 6, and every other delete there, reach the lake only
    // after compaction (a replay, a requeued record): late records for compacted days.
    let late_days = [day_of(start + 4 * DAY), day_of(start + 6 * DAY)];
    let is_late = |i: usize, r: &EventRecord| {
        (i % 9 == 0 || (r.event_name == "REMOVE" && i % 2 == 0)) && late_days.contains(&day_of(time(r)))
    };
    let late: Vec<&EventRecord> = all.iter().enumerate().filter(|(i, r)| is_late(*i, r)).map(|(_, r)| *r).collect();
    let on_time: Vec<&EventRecord> = all.iter().enumerate().filter(|(i, r)| !is_late(*i, r)).map(|(_, r)| *r).collect();
    assert!(late.iter().any(|r| r.event_name == "REMOVE") && late.iter().any(|r| r.event_name == "MODIFY"));
    assert!(late.iter().all(|r| time(r) > t0 + 300_000));

    let expect = |records: &[&EventRecord]| {
        let recs: Vec<Rec> = records.iter().map(|r| to_rec(r)).collect();
        expected_answers(&current_items(&recs), &recs)
    };
    let want_on_time = expect(&on_time);
    let want_all = expect(&all);
    assert_ne!(want_on_time, want_all, "the late records change answers");

    let lake = dir.path().join("lake");
    backfill(&export, &lake, &spec_path);
    stream(&on_time, &lake, &spec).await;
    assert_eq!(answers(&lake, &spec).await, want_on_time, "before compaction");
    let history = histories(&lake, &spec).await;
    let read_before = read_by(&lake, &spec, "popular_field_mappings").await;
    let folded = text_through(&lake, &through);
    assert!(folded.len() > 40, "{} text objects to fold", folded.len());
    let marker_dir = lake.join("compactions");

    // Killed before its `compactions` row, then killed after it (part of the text removed):
    // the answers stay.
    let out = compact(&lake, &spec_path, &through, Some(5));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stopped after 5 steps"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!marker_dir.exists() || helpers::tree(&marker_dir).is_empty());
    assert_eq!(answers(&lake, &spec).await, want_on_time, "after a run killed before its row");
    let steps_to_row = 4 * late_days.len() + 60;
    let out = compact(&lake, &spec_path, &through, Some(steps_to_row));
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(helpers::tree(&marker_dir).len(), 1, "the run got its row, then was killed");
    let left = text_through(&lake, &through);
    assert!(!left.is_empty() && left.len() < folded.len(), "{} of {} text objects left", left.len(), folded.len());
    assert_eq!(answers(&lake, &spec).await, want_on_time, "after a run killed while removing text");
    assert_eq!(histories(&lake, &spec).await, history);

    // A whole run: the text of the compacted days is gone, the answers and rows stay.
    let out = compact(&lake, &spec_path, &through, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains(&format!("through {through}")), "{printed}");
    assert_eq!(text_through(&lake, &through), Vec::<String>::new());
    assert_eq!(answers(&lake, &spec).await, want_on_time, "after compaction");
    assert_eq!(histories(&lake, &spec).await, history, "the compacted history holds the text rows");
    // The state is exact at the watermark: the items that exist then, from the events.
    let watermark =
        ddb_lake_sql::compaction::watermark_millis(chrono::NaiveDate::parse_from_str(&through, "%Y-%m-%d").unwrap());
    let until: Vec<Rec> = on_time.iter().filter(|r| time(r) < watermark).map(|r| to_rec(r)).collect();
    let local = LocalLake::open(&lake, &spec).await.unwrap();
    let state = local
        .query("SELECT count(*) FROM changes_state WHERE event_name NOT IN ('REMOVE', 'INCREMENTAL_REMOVE')")
        .await
        .unwrap();
    assert_eq!(norm(&state), rows(vec![vec![current_items(&until).len().to_string()]]));
    drop(local);

    // Every Parquet object has exactly the columns and types of its table's Glue definition
    // (`ddb-lake schema`), the partition key (`dt` of the history) left to the folders.
    let defs = ddb_lake_glue_schema::definition::table_definitions(&spec);
    let mut checked = 0;
    for key in helpers::tree(&lake).keys().filter(|k| k.ends_with(".parquet")) {
        let table = key.split('/').next().unwrap();
        let def = defs.iter().find(|d| d.name == table).unwrap_or_else(|| panic!("{key}: no table {table}"));
        let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(lake.join(key)).unwrap(),
        )
        .unwrap();
        let got: Vec<(String, String)> =
            reader.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().to_string())).collect();
        let want: Vec<(String, String)> = ddb_lake_sql::columns::table_schema(def)
            .fields()
            .iter()
            .take(def.storage_descriptor.columns.len())
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect();
        let glue: Vec<&str> = def.storage_descriptor.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(got.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), glue, "{key}");
        assert_eq!(got, want, "{key}");
        checked += 1;
    }
    assert!(checked >= 8, "{checked} Parquet objects");

    // A current-state question reads the state and the text after the watermark, nothing
    // older: at most twice the state's bytes plus those text objects (the issue's bound).
    let tree = helpers::tree(&lake);
    let size = |f: &dyn Fn(&str) -> bool| tree.iter().filter(|(k, _)| f(k)).map(|(_, v)| v.len() as u64).sum::<u64>();
    let state_bytes = size(&|k| k.split('/').next().is_some_and(|t| t.ends_with("_state")));
    let text_after = size(&|k| text_day(k).is_some_and(|d| d > through.as_str()));
    let read_after = read_by(&lake, &spec, "popular_field_mappings").await;
    assert!(
        state_bytes > 0 && read_after <= 2 * state_bytes + text_after,
        "{read_after} > 2 x {state_bytes} + {text_after}"
    );
    assert!(read_after < read_before, "{read_after} >= {read_before}");

    // Again: nothing to do, nothing changes.
    let before = helpers::tree(&lake);
    // An export from before the watermark would change folded states: refused, nothing written.
    let out = try_backfill(&export, &lake, &spec_path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("is compacted through {through}")) && err.contains("nothing was written"), "{err}");
    assert_eq!(helpers::tree(&lake), before);
    let out = compact(&lake, &spec_path, &through, None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to compact"));
    assert_eq!(helpers::tree(&lake), before);
    // An earlier day than the lake is compacted through is refused.
    let out = compact(&lake, &spec_path, &day_of(start + 5 * DAY), None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("already compacted through {through}")));

    // Late records into compacted days count at once, and the next run folds them.
    stream(&late, &lake, &spec).await;
    assert!(!text_through(&lake, &through).is_empty());
    assert_eq!(answers(&lake, &spec).await, want_all, "late records, before the next run");
    let out = compact(&lake, &spec_path, &through, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text_through(&lake, &through), Vec::<String>::new());
    assert_eq!(answers(&lake, &spec).await, want_all, "late records folded");

    // Every day: only the state and the text after it remain... and the answers.
    let last = day_of(start + 11 * DAY);
    let out = compact(&lake, &spec_path, &last, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text_through(&lake, &last), Vec::<String>::new());
    assert_eq!(answers(&lake, &spec).await, want_all, "everything compacted");
}

/// `compaction_batches`, run by the embedded engine as Athena runs it, over a lake of 250
/// days: batches of at most 100 days (Athena's partitions per INSERT INTO), in order, that
/// together hold every day up to `through` that has text objects, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_batches_hold_at_most_100_days_each() {
    use ddb_lake_sql::compaction_sql::{compaction_sql, render, Step};
    let dir = tempfile::tempdir().unwrap();
    let spec = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let opts = ddb_lake_synth::SynthOptions { items: 300, customers: 5, days: 250, seed: 5, ..Default::default() };
    let events = ddb_lake_synth::generate(&opts).unwrap();
    let all: Vec<&EventRecord> = events.iter().flat_map(|e| e.records.iter()).collect();
    let lake = dir.path().join("lake");
    stream(&all, &lake, &spec).await;
    // The days, from the folders.
    let days: BTreeSet<String> = helpers::tree(&lake).keys().filter_map(|k| text_day(k).map(str::to_owned)).collect();
    assert!(days.len() > 200, "{} days with text objects", days.len());
    let through = days.iter().nth(days.len() - 20).unwrap().clone();
    let want: Vec<&String> = days.iter().filter(|d| **d <= through).collect();

    let statements = compaction_sql(&spec).unwrap();
    let batches = statements.of(Step::Batches).next().unwrap();
    let sql = render(&batches.select, &[("through".to_string(), through.clone())]).unwrap();
    let answer = LocalLake::open(&lake, &spec).await.unwrap().query(&sql).await.unwrap();
    let mut covered: Vec<&String> = Vec::new();
    for row in &answer.rows {
        let (first, last) = (row[0].clone().unwrap(), row[1].clone().unwrap());
        let batch: Vec<&String> = want.iter().copied().filter(|d| **d >= first && **d <= last).collect();
        assert!(!batch.is_empty() && batch.len() <= 100, "{first}..{last} holds {} days", batch.len());
        assert_eq!((batch[0], batch[batch.len() - 1]), (&first, &last));
        covered.extend(batch);
    }
    assert_eq!(covered, want, "every day up to {through}, once, in order");
    assert_eq!(answer.rows.len(), want.len().div_ceil(100));
}

/// The entity of a single-table item: by its sort key's prefix, as the spec declares them.
const ENTITIES: [(&str, &str); 3] = [("sync_config", "SYNC#"), ("user", "USER#"), ("audit", "AUDIT#")];

/// The example spec as a single-table design: its tables take only sync configurations, and
/// [[entities]] names the three item types by sort key.
fn single_table_spec() -> String {
    let mut text = String::new();
    for (i, part) in SPEC.split("[[tables]]").enumerate() {
        if i == 0 {
            text.push_str(part);
            continue;
        }
        let at = part.find("[[tables.columns]]").unwrap();
        text.push_str(&format!("[[tables]]{}[tables.when]\nsk_prefix = \"SYNC#\"\n\n{}", &part[..at], &part[at..]));
    }
    for (name, prefix) in ENTITIES {
        text.push_str(&format!("\n[[entities]]\nname = \"{name}\"\n[entities.when]\nsk_prefix = \"{prefix}\"\n"));
    }
    text
}

/// Issue 42: one table holds sync configurations, user profiles and audit entries that share
/// attribute names (users have their own fieldMappings and clientKey, and a passwordHash);
/// every per-entity answer equals the one computed from that entity's events, before and
/// after compaction; redaction holds in every entity; a user's delete leaves
/// current_sync_configs as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entity_of_a_single_table_design_gets_its_own_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, spec_path) = (dir.path().join("lake"), dir.path().join("lake.toml"));
    let spec_text = single_table_spec();
    std::fs::write(&spec_path, &spec_text).unwrap();
    let spec = LakeSpec::from_toml(&spec_text, "single-table spec").unwrap();
    let opts = ddb_lake_synth::SynthOptions { items: 300, customers: 12, days: 6, seed: 42, ..Default::default() };
    let mut events = ddb_lake_synth::generate(&opts).unwrap();
    // A third of the items become users and a third audit entries, by their sync id.
    let mut users_with_password = 0;
    for r in events.iter_mut().flat_map(|e| e.records.iter_mut()) {
        let Some(Av::S(sk)) = r.change.keys.get("sk") else { panic!("the generator writes string sort keys") };
        let id = sk.strip_prefix("SYNC#").unwrap().to_owned();
        let (_, prefix) = ENTITIES[id.bytes().map(usize::from).sum::<usize>() % 3];
        let sk = Av::S(format!("{prefix}{id}"));
        r.change.keys.insert("sk".into(), sk.clone());
        for image in [&mut r.change.new_image, &mut r.change.old_image] {
            if !image.is_empty() {
                image.insert("sk".into(), sk.clone());
                if prefix == "USER#" {
                    image.insert("passwordHash".into(), Av::S("same-hash-for-all".into()));
                    users_with_password += 1;
                }
            }
        }
    }
    assert!(users_with_password > 50);
    let all: Vec<&EventRecord> = events.iter().flat_map(|e| e.records.iter()).collect();
    stream(&all, &lake, &spec).await;
    let mut records: Vec<Rec> = all.iter().map(|r| to_rec(r)).collect();

    let entity_of = |r: &Rec| ENTITIES.iter().find(|(_, p)| r.key.1.starts_with(p)).unwrap().0;
    let per_entity = ["*", "sync_config", "user", "audit"];
    let questions: Vec<_> = files::all()
        .unwrap()
        .into_iter()
        .filter(|q| q.kind == Kind::Question && q.params.iter().any(|p| p.name == "entity"))
        .collect();
    let names: BTreeSet<&str> = questions.iter().map(|q| q.name.as_str()).collect();
    for asked in ["popular_settings", "most_changed_settings", "write_traffic_by_customer", "writes_by_hour"] {
        assert!(names.contains(asked), "{asked} can be asked per entity: {names:?}");
    }
    let check = |records: Vec<Rec>, label: &'static str| {
        let (questions, lake, spec) = (&questions, &lake, &spec);
        async move {
            let local = LocalLake::open(lake, spec).await.unwrap();
            for entity in per_entity {
                let mine: Vec<Rec> =
                    records.iter().filter(|r| entity == "*" || entity_of(r) == entity).cloned().collect();
                assert!(mine.iter().any(|r| r.name == "REMOVE") && mine.iter().any(|r| r.name == "MODIFY"), "{entity}");
                let current = current_items(&mine);
                for q in questions {
                    let want = expected_from(&q.name, &current, &mine);
                    let sql = q.render(&[("entity".into(), entity.into())]).unwrap();
                    let got = local.query(&sql).await.unwrap_or_else(|e| panic!("{} {entity}: {e}", q.name));
                    assert_eq!(norm(&got), want, "{} for entity {entity} ({label})", q.name);
                }
                if entity != "*" {
                    let n = local
                        .query(&format!("SELECT count(*) AS n FROM current_items WHERE entity = '{entity}'"))
                        .await
                        .unwrap();
                    assert_eq!(norm(&n), rows(vec![vec![current.len().to_string()]]), "{entity} ({label})");
                }
            }
            // The answers differ by entity (the three share attribute names, not values).
            let q = questions.iter().find(|q| q.name == "popular_settings").unwrap();
            let mut seen = BTreeSet::new();
            for entity in per_entity {
                seen.insert(raw(&local.query(&q.render(&[("entity".into(), entity.into())]).unwrap()).await.unwrap()));
            }
            assert_eq!(seen.len(), per_entity.len(), "{label}");
            // Redaction holds in every entity: neither the rule's nor the default drop's attribute.
            let leaked = local
                .query("SELECT count(*) AS n FROM history_attributes WHERE split_part(path, '.', 1) IN ('credentials', 'passwordHash')")
                .await
                .unwrap();
            assert_eq!(raw(&leaked), [["0"]], "{label}");
            // current_sync_configs: exactly the sync configurations that exist.
            let mut got = raw(&local.query("SELECT pk, sk, client_key, sync_id, enabled, interval_minutes, timezone, synced_issues, error_code, version FROM current_sync_configs").await.unwrap());
            got.sort();
            let syncs: Vec<Rec> = records.iter().filter(|r| entity_of(r) == "sync_config").cloned().collect();
            let want = expected_view("current_sync_configs", &syncs);
            assert!(want.len() > 20, "{label}");
            assert_eq!(got, want, "current_sync_configs ({label})");
            got
        }
    };
    let before = check(records.clone(), "streamed").await;

    // A user's delete: its entity is the user's, current_sync_configs does not change.
    let latest = all
        .iter()
        .rev()
        .find(|r| r.change.keys.get("sk").is_some_and(|k| matches!(k, Av::S(s) if s.starts_with("USER#"))))
        .unwrap();
    let user_key = latest.change.keys.clone();
    assert!(
        current_items(&records)
            .iter()
            .any(|(_, item)| item.get("sk") == user_key.get("sk") && item.get("pk") == user_key.get("pk")),
        "the latest user record leaves the user in place"
    );
    let mut delete = (*latest).clone();
    delete.event_name = "REMOVE".into();
    delete.event_id = "delete-a-user".into();
    delete.change.old_image = delete.change.new_image.clone();
    delete.change.new_image = Default::default();
    let last = all.iter().map(|r| r.change.approximate_creation_date_time).max().unwrap();
    delete.change.approximate_creation_date_time = last + chrono::Duration::seconds(1);
    let longest = records.iter().map(|r| r.seq.clone()).max_by(|a, b| compare_sequence_numbers(a, b)).unwrap();
    delete.change.sequence_number = Some(format!("{longest}0"));
    stream(&[&delete], &lake, &spec).await;
    records.push(to_rec(&delete));
    let after = check(records.clone(), "a user deleted").await;
    assert_eq!(before, after, "deleting a user leaves current_sync_configs as it was");
    let local = LocalLake::open(&lake, &spec).await.unwrap();
    let removed = local.query("SELECT entity FROM unique_changes WHERE event_id = 'delete-a-user'").await.unwrap();
    assert_eq!(raw(&removed), [["user"]]);

    // Compacted through the middle day: the same answers (the entity column is kept).
    let days: BTreeSet<&str> = records.iter().map(|r| r.day.as_str()).collect();
    let middle = days.iter().nth(days.len() / 2).unwrap().to_string();
    let out = compact(&lake, &spec_path, &middle, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text_through(&lake, &middle).is_empty(), "compaction folded the text objects");
    check(records, "compacted").await;

    // `sql run` refuses an entity the spec does not declare, and names those it does.
    let out = Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(["sql", "run", "popular_settings", "--param", "entity=users", "--local"])
        .arg(&lake)
        .arg("--spec")
        .arg(&spec_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("entity=\"users\" is not an entity of the spec")
            && stderr.contains("it declares: sync_config, user, audit"),
        "{stderr}"
    );
}

/// A lake that declares [[entities]] later: its older objects have no `entity` field, and
/// read NULL there (a missing trailing field, as LazySimpleSerDe reads it); nothing shifts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_declared_later_read_null_in_the_older_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let plain = LakeSpec::from_toml(SPEC, "spec").unwrap();
    let text = format!("{SPEC}\n[[entities]]\nname = \"sync_config\"\n[entities.when]\nsk_prefix = \"SYNC#\"\n");
    let with_entities = LakeSpec::from_toml(&text, "spec with entities").unwrap();
    let opts = ddb_lake_synth::SynthOptions { items: 40, customers: 4, days: 2, seed: 5, ..Default::default() };
    let events = ddb_lake_synth::generate(&opts).unwrap();
    let all: Vec<&EventRecord> = events.iter().flat_map(|e| e.records.iter()).collect();
    let (before, after) = all.split_at(all.len() / 2);
    stream(before, &lake, &plain).await;
    stream(after, &lake, &with_entities).await;
    let local = LocalLake::open(&lake, &with_entities).await.unwrap();
    let got = raw(&local
        .query("SELECT coalesce(entity, 'NULL') AS e, count(*) AS n, count(DISTINCT event_id) AS ids FROM changes GROUP BY entity ORDER BY e")
        .await
        .unwrap());
    let (b, a) = (before.len().to_string(), after.len().to_string());
    assert_eq!(got, [["NULL", &b, &b], ["sync_config", &a, &a]]);
    // The columns before it read as they were written: every event id where it belongs.
    let ids: BTreeSet<String> =
        raw(&local.query("SELECT event_id FROM changes").await.unwrap()).into_iter().map(|r| r[0].clone()).collect();
    let want: BTreeSet<String> = all.iter().map(|r| r.event_id.clone()).collect();
    assert_eq!(ids, want);
}
