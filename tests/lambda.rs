//! The Lambda function end to end, with real components: moto_server (DynamoDB + Streams,
//! S3), the real `ddb-lake-normalizer` binary talking the Lambda Runtime API protocol to a
//! local runtime endpoint, and a fault-injecting proxy in front of S3.
//!
//! - items written to a table with a NEW_AND_OLD_IMAGES stream reach the bucket, decoded
//!   value for value, through the records the stream really returned;
//! - S3 failures: every record is in S3 or at/after the reported sequence number, and
//!   re-delivery after the fault produces exactly the objects of a clean run;
//! - a poison record goes to quarantine, the rest lands;
//! - the redaction key comes from moto's Secrets Manager at cold start, and the hashed
//!   column holds the HMAC under it; a missing secret, a short key, an unknown secret each
//!   fail the cold start with their reason;
//! - a 10,000-record batch and a 400 KB item fit the 128 MB memory budget;
//! - with a declared spec (`DDB_LAKE_SPEC_PATH`), the field mappings are exploded and a
//!   hashed column holds the HMAC; a dropped attribute appears nowhere, not even by name;
//! - `ddb-lake replay` reads moto's stream into a local folder, into S3 (`--bucket`,
//!   `--prefix`) and from after a sequence number (`--after`).

mod helpers;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as Av, KeySchemaElement, KeyType, ProvisionedThroughput, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use ddb_lake_core::rowfmt::{decode_object, Row};
use flate2::read::MultiGzDecoder;
use helpers::fault_proxy::{Fault, FaultProxy, FaultRule};
use helpers::fixtures::{event_of, record, with_sequence};
use helpers::lambda_api::{LambdaApi, Outcome};
use helpers::{normalizer_binary, peak_rss_kb, source_newer_than, Moto};

const BUCKET: &str = "lake-bucket";
const PREFIX: &str = "ddb/sync";
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// The function binary running against a local Runtime API.
struct Function {
    child: Child,
    stdout: tempfile::NamedTempFile,
}

impl Function {
    fn start(api: &LambdaApi, moto: &Moto, s3_endpoint: &str, extra: &[(&str, &str)]) -> Function {
        let stdout = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(normalizer_binary())
            .envs(moto.env())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "ddb-lake-normalizer")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_ENDPOINT_URL", s3_endpoint)
            .env("DDB_LAKE_S3_FORCE_PATH_STYLE", "true")
            .env("DDB_LAKE_BUCKET", BUCKET)
            .env("DDB_LAKE_PREFIX", PREFIX)
            .envs(extra.iter().copied())
            .stdout(Stdio::from(stdout.reopen().unwrap()))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the function binary starts");
        Function { child, stdout }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.stdout.path()).unwrap()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn response(outcome: Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Response(body) => serde_json::from_str(&body).unwrap(),
        other => panic!("the function failed: {other:?}"),
    }
}

/// The bytes of one object, as stored.
async fn object_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object().bucket(bucket).key(key).send().await.unwrap().body.collect().await.unwrap().into_bytes().to_vec()
}

/// One object, gunzipped.
async fn get_gunzipped(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    let body = object_bytes(s3, BUCKET, key).await;
    let mut plain = Vec::new();
    MultiGzDecoder::new(&body[..]).read_to_end(&mut plain).unwrap();
    plain
}

/// Every object under the prefix: key (relative to the prefix) → gunzipped body.
async fn bucket_objects(s3: &aws_sdk_s3::Client) -> BTreeMap<String, Vec<u8>> {
    objects_under(s3, PREFIX).await
}

/// Every object of the bucket under `prefix`: key (relative to it) → gunzipped body.
async fn objects_under(s3: &aws_sdk_s3::Client, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(format!("{prefix}/"))
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        for o in page.contents() {
            let key = o.key().unwrap();
            out.insert(key.strip_prefix(&format!("{prefix}/")).unwrap().to_owned(), get_gunzipped(s3, key).await);
        }
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    out
}

fn rows_of(objects: &BTreeMap<String, Vec<u8>>, table: &str) -> (Vec<String>, Vec<Row>) {
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for (k, body) in objects {
        if k.starts_with(&format!("{table}/")) {
            let (h, r) = decode_object(body).unwrap();
            header = h;
            rows.extend(r);
        }
    }
    (header, rows)
}

async fn create_bucket(s3: &aws_sdk_s3::Client) {
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
}

fn s(v: &str) -> Av {
    Av::S(v.to_owned())
}

fn n(v: &str) -> Av {
    Av::N(v.to_owned())
}

/// A sync configuration item with every attribute type and awkward values.
fn item(client: u32, sync: u32, interval: &str) -> std::collections::HashMap<String, Av> {
    let mapping = |f: &str, m: &str| {
        Av::M(
            [("fieldId".to_owned(), s(f)), ("mapping".to_owned(), s(m)), ("direction".to_owned(), s("inbound"))].into(),
        )
    };
    [
        ("pk", s(&format!("CLIENT#{client}"))),
        ("sk", s(&format!("SYNC#{sync}"))),
        ("clientKey", s(&format!("client-{client}"))),
        ("name", s("tab\there, \"quoted\", back\\slash, \\N, line1\nline2\r\n, 日本語 🦀")),
        ("empty", s("")),
        ("enabled", Av::Bool(true)),
        ("notes", Av::Null(true)),
        (
            "schedule",
            Av::M([("intervalMinutes".to_owned(), n(interval)), ("timezone".to_owned(), s("Europe/Berlin"))].into()),
        ),
        ("fieldMappings", Av::L(vec![mapping("summary", "title"), mapping("priority", "priority")])),
        ("labels", Av::Ss(vec!["jira".into(), "prod".into()])),
        ("weights", Av::Ns(vec!["12345678901234567890123456789012345678".into(), "-0.5".into()])),
        ("checksum", Av::B(Blob::new(vec![0u8, 1, 2, 255, 254]))),
        ("counters", Av::M([("syncedIssues".to_owned(), n("99999999999999999999999999999999999999"))].into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Reference leaves of a DynamoDB SDK item: (path, type, value).
fn leaves(path: &str, v: &Av, out: &mut Vec<(String, String, Option<String>)>) {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut push = |t: &str, val: Option<String>| out.push((path.to_owned(), t.to_owned(), val));
    match v {
        Av::S(x) => push("S", Some(x.clone())),
        Av::N(x) => push("N", Some(x.clone())),
        Av::B(b) => push("B", Some(b64(b.as_ref()))),
        Av::Bool(b) => push("BOOL", Some(b.to_string())),
        Av::Null(_) => push("NULL", None),
        Av::Ss(l) | Av::Ns(l) => {
            let t = if matches!(v, Av::Ss(_)) { "SS" } else { "NS" };
            l.iter().enumerate().for_each(|(i, e)| out.push((format!("{path}[{i}]"), t.into(), Some(e.clone()))))
        }
        Av::L(l) => l.iter().enumerate().for_each(|(i, e)| leaves(&format!("{path}[{i}]"), e, out)),
        Av::M(m) => m.iter().for_each(|(k, e)| leaves(&format!("{path}.{k}"), e, out)),
        other => panic!("unexpected {other:?}"),
    }
}

fn expected_leaves(item: &std::collections::HashMap<String, Av>) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for (k, v) in item {
        leaves(k, v, &mut out);
    }
    out.sort();
    out
}

/// Stream events read back from moto: the JSON of each GetRecords page, as Lambda gets it.
async fn stream_events(moto: &Moto, stream_arn: &str) -> Vec<String> {
    let pages = std::cell::RefCell::new(Vec::new());
    ddb_lake::stream_reader::read_stream(
        &moto.streams(),
        stream_arn,
        &ddb_lake::stream_reader::StartAt::TrimHorizon,
        100,
        Default::default(),
        1,
        |p| {
            pages.borrow_mut().push(p.event_json);
            async { Ok::<(), ddb_lake::stream_reader::StreamError>(()) }
        },
    )
    .await
    .unwrap();
    pages.into_inner()
}

/// Creates the table `sync-configurations` (`pk`/`sk` strings) with a NEW_AND_OLD_IMAGES
/// stream; returns the stream's ARN.
async fn create_table(ddb: &aws_sdk_dynamodb::Client) -> String {
    let table = ddb
        .create_table()
        .table_name("sync-configurations")
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("sk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("sk").key_type(KeyType::Range).build().unwrap())
        .provisioned_throughput(
            ProvisionedThroughput::builder().read_capacity_units(5).write_capacity_units(5).build().unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    table.table_description().unwrap().latest_stream_arn().unwrap().to_owned()
}

/// Puts three items into the table, changes one and deletes another: five stream records
/// (INSERT, INSERT, INSERT, MODIFY, REMOVE). Returns the items as put, the change last.
async fn write_five_records(ddb: &aws_sdk_dynamodb::Client) -> [std::collections::HashMap<String, Av>; 4] {
    let items = [item(1, 1, "5"), item(1, 2, "15"), item(2, 1, "60"), item(1, 2, "1440")];
    for it in &items {
        ddb.put_item().table_name("sync-configurations").set_item(Some(it.clone())).send().await.unwrap();
    }
    ddb.delete_item()
        .table_name("sync-configurations")
        .key("pk", s("CLIENT#2"))
        .key("sk", s("SYNC#1"))
        .send()
        .await
        .unwrap();
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_writes_reach_the_lake_through_the_runtime_api() {
    let moto = Moto::start();
    let ddb = moto.dynamodb();
    let stream_arn = create_table(&ddb).await;
    let s3 = moto.s3();
    create_bucket(&s3).await;

    let [a, b, c, b2] = write_five_records(&ddb).await;

    let events = stream_events(&moto, &stream_arn).await;
    assert_eq!(events.len(), 1, "one page of five records");

    let api = LambdaApi::start();
    let function = Function::start(&api, &moto, &moto.endpoint, &[]);
    let resp = response(api.invoke(&events[0], INVOKE_TIMEOUT));
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]));

    let objects = bucket_objects(&s3).await;
    let (h, changes) = rows_of(&objects, "changes");
    let seq = |r: &Row| r[1].clone().unwrap();
    let mut changes = changes;
    changes.sort_by(|x, y| ddb_lake_core::object_key::compare_sequence_numbers(&seq(x), &seq(y)));
    let names: Vec<&str> = changes.iter().map(|r| r[0].as_deref().unwrap()).collect();
    assert_eq!(names, ["INSERT", "INSERT", "INSERT", "MODIFY", "REMOVE"]);
    let pk = h.iter().position(|c| c == "pk").unwrap();
    assert_eq!(changes[4][pk].as_deref(), Some("CLIENT#2"));
    let changed = h.iter().position(|c| c == "changed_attributes").unwrap();
    assert_eq!(changes[3][changed].as_deref(), Some("schedule"));

    // attributes: per sequence number, exactly the leaves of the item as it was written
    let (_, attrs) = rows_of(&objects, "attributes");
    let mut by_seq: BTreeMap<String, Vec<(String, String, Option<String>)>> = BTreeMap::new();
    for r in &attrs {
        by_seq.entry(seq(r)).or_default().push((r[7].clone().unwrap(), r[8].clone().unwrap(), r[9].clone()));
    }
    for (k, expected) in [(0, &a), (1, &b), (2, &c), (3, &b2)] {
        let mut got = by_seq.remove(&seq(&changes[k])).unwrap();
        got.sort();
        assert_eq!(got, expected_leaves(expected), "record {k}");
    }
    assert!(by_seq.is_empty(), "no attributes for the REMOVE");

    // `ddb-lake replay` reads the same stream through the same path: same rows, locally.
    let dir = tempfile::tempdir().unwrap();
    let out = replay(&moto, &stream_arn, &["--out", dir.path().to_str().unwrap()]);
    let say = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && say.contains("replayed 5 records in 1 batches"),
        "{say}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut local = BTreeMap::new();
    for e in walk(dir.path()) {
        let mut plain = Vec::new();
        MultiGzDecoder::new(std::fs::File::open(&e).unwrap()).read_to_end(&mut plain).unwrap();
        local.insert(e.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned(), plain);
    }
    let (_, replayed) = rows_of(&local, "changes");
    let mut replayed_seqs: Vec<String> = replayed.iter().map(seq).collect();
    replayed_seqs.sort_by(|x, y| ddb_lake_core::object_key::compare_sequence_numbers(x, y));
    assert_eq!(replayed_seqs, changes.iter().map(seq).collect::<Vec<_>>());
    assert_eq!(rows_of(&local, "attributes").1.len(), attrs.len());

    // EMF metrics on stdout
    let out = function.output();
    let emf: serde_json::Value =
        out.lines().find(|l| l.contains("\"RecordsIn\"")).map(|l| serde_json::from_str(l).unwrap()).expect("EMF line");
    assert_eq!(emf["RecordsIn"], 5);
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "DdbLake");
    assert!(!out.contains("line1"), "item values never reach stdout");
    assert!(!out.contains("CanaryRecords"), "no canary without DDB_LAKE_CANARY_KEY");

    // The JSON log lines the Logs Insights queries read (cdk/lib/normalizer.ts): objects
    // written per table (fields.table, fields.objects), as many as S3 holds per table.
    let logs: Vec<serde_json::Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let logged: BTreeMap<String, u64> = logs
        .iter()
        .filter(|v| v["fields"]["message"] == "objects written")
        .map(|v| (v["fields"]["table"].as_str().unwrap().to_owned(), v["fields"]["objects"].as_u64().unwrap()))
        .collect();
    let mut in_s3: BTreeMap<String, u64> = BTreeMap::new();
    for key in bucket_objects(&s3).await.keys() {
        *in_s3.entry(key.split('/').next().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(logged, in_s3);
    let done = logs.iter().find(|v| v["fields"]["message"] == "batch done").expect("a batch done line");
    assert_eq!(done["fields"]["records"], 5);
    assert_eq!(done["level"], "INFO");
    // The invocation's request id, which "slowest batches" joins with Lambda's report line.
    assert!(done["span"]["requestId"].as_str().is_some_and(|id| !id.is_empty()), "{done}");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A generated batch spanning several days (several objects per table).
fn generated_event() -> String {
    let opts = ddb_lake_synth::SynthOptions {
        items: 40,
        customers: 5,
        days: 3,
        records_per_event: 10_000,
        ..Default::default()
    };
    let events = ddb_lake_synth::generate(&opts).unwrap();
    assert_eq!(events.len(), 1);
    let mut text = Vec::new();
    ddb_lake_synth::write_json_lines(&events, &mut text).unwrap();
    String::from_utf8(text).unwrap().trim().to_owned()
}

/// A batch over several days for the fault tests, and what a clean run of it writes.
struct FaultCase {
    event: String,
    records: Vec<serde_json::Value>,
    /// Key → gunzipped body of every object of a clean run (computed by the library).
    clean: BTreeMap<String, Vec<u8>>,
    /// The batch's last day.
    last_day: String,
    /// Index of the first record (in batch order) with attribute rows on the last day: the one
    /// reported when that day's attributes object cannot be written.
    first_on_last_day: usize,
}

impl FaultCase {
    fn new() -> FaultCase {
        let event = generated_event();
        let spec = ddb_lake_core::spec::LakeSpec::default();
        let normalizer = ddb_lake_writer::normalizer::Normalizer::new(&spec, None).unwrap().with_gzip_level(1);
        let mut clean = BTreeMap::new();
        for o in normalizer.normalize_event(&event, &Default::default()).unwrap().objects {
            let mut plain = Vec::new();
            MultiGzDecoder::new(&o.body[..]).read_to_end(&mut plain).unwrap();
            clean.insert(o.key.to_string(), plain);
        }
        let records: Vec<serde_json::Value> =
            serde_json::from_str::<serde_json::Value>(&event).unwrap()["Records"].as_array().unwrap().clone();
        let days: std::collections::BTreeSet<String> = records.iter().map(Self::day_of).collect();
        assert!(days.len() >= 2, "the batch spans days: {days:?}");
        let last_day = days.iter().last().unwrap().clone();
        let first_on_last_day = records
            .iter()
            .position(|r| Self::day_of(r) == last_day && r["dynamodb"].get("NewImage").is_some())
            .unwrap();
        FaultCase { event, records, clean, last_day, first_on_last_day }
    }

    fn day_of(r: &serde_json::Value) -> String {
        ddb_lake_core::object_key::day_of(r["dynamodb"]["ApproximateCreationDateTime"].as_f64().unwrap() as i64 * 1000)
    }

    fn sequence_number(&self, index: usize) -> &str {
        self.records[index]["dynamodb"]["SequenceNumber"].as_str().unwrap()
    }

    /// The path a PUT of the last day's attributes object has (the SDK sends `=` as %3D).
    fn last_day_attributes(&self) -> String {
        format!("/attributes/dt%3D{}/", self.last_day)
    }

    /// After a failure of the last day's attributes object: every record before the reported
    /// one is durably in S3, and only that object is missing.
    async fn assert_all_but_the_last_days_attributes(&self, s3: &aws_sdk_s3::Client) {
        let objects = bucket_objects(s3).await;
        let (_, changes) = rows_of(&objects, "changes");
        let written: std::collections::HashSet<String> = changes.iter().map(|r| r[1].clone().unwrap()).collect();
        for i in 0..self.first_on_last_day {
            assert!(written.contains(self.sequence_number(i)));
        }
        let missing: Vec<&String> = self.clean.keys().filter(|k| !objects.contains_key(*k)).collect();
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].starts_with(&format!("attributes/dt={}/", self.last_day)), "{missing:?}");
    }

    /// Lambda delivers the batch again (the fault has cleared): no failure, and exactly the
    /// clean run's objects: no duplicates, nothing missing.
    async fn assert_redelivery_gives_the_clean_objects(&self, api: &LambdaApi, s3: &aws_sdk_s3::Client) {
        let resp = response(api.invoke(&self.event, INVOKE_TIMEOUT));
        assert_eq!(resp["batchItemFailures"], serde_json::json!([]));
        assert_eq!(bucket_objects(s3).await, self.clean, "same keys, same rows: no duplicates, nothing missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_faults_are_reported_and_redelivery_converges() {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    let case = FaultCase::new();

    // attributes of the last day fail for good; a changes object hits a transient SlowDown
    // and a dropped connection (the SDK retries those).
    proxy.set_rules(vec![
        FaultRule {
            method: "PUT".into(),
            path_contains: case.last_day_attributes(),
            fault: Fault::InternalError,
            times: usize::MAX,
        },
        FaultRule { method: "PUT".into(), path_contains: "/changes/".into(), fault: Fault::SlowDown, times: 1 },
        FaultRule { method: "PUT".into(), path_contains: "/changes/".into(), fault: Fault::DropConnection, times: 1 },
    ]);
    let api = LambdaApi::start();
    let _function = Function::start(&api, &moto, &proxy.endpoint(), &[]);
    let resp = response(api.invoke(&case.event, INVOKE_TIMEOUT));

    assert_eq!(
        resp["batchItemFailures"],
        serde_json::json!([{ "itemIdentifier": case.sequence_number(case.first_on_last_day) }]),
        "proxy log: {:?}",
        proxy.log()
    );
    assert!(proxy.log().iter().any(|(_, _, status)| *status == 503), "the transient fault happened");
    case.assert_all_but_the_last_days_attributes(&s3).await;

    // The fault clears, Lambda delivers the batch again: exactly the clean run's objects.
    proxy.clear();
    case.assert_redelivery_gives_the_clean_objects(&api, &s3).await;
}

/// Issue 25: a stalled PUT (no answer at all, not an error) hung the invocation until the
/// function timed out. Now each attempt times out and is retried, and the invocation's own
/// deadline (less the margin) ends whatever is still stalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_put_becomes_a_retry_then_a_batch_item_failure_before_the_deadline() {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    let case = FaultCase::new();
    // A Runtime API per function process: a killed function's pending `/next` must not take
    // the next function's event.
    let stall = |path: String, times: usize| FaultRule {
        method: "PUT".into(),
        path_contains: path,
        fault: Fault::Stall,
        times,
    };
    let stalled = |log: Vec<(String, String, u16)>, path: &str| {
        log.iter().filter(|(method, target, status)| method == "PUT" && target.contains(path) && *status == 0).count()
    };
    let expected = serde_json::json!([{ "itemIdentifier": case.sequence_number(case.first_on_last_day) }]);

    // 1. Attempts time out after 1 s: a changes object stalls once (retried, written); the
    //    last day's attributes stall every time (the SDK's three attempts, then reported).
    {
        let api = LambdaApi::start();
        let _function = Function::start(&api, &moto, &proxy.endpoint(), &[("DDB_LAKE_S3_ATTEMPT_TIMEOUT_MS", "1000")]);
        proxy.set_rules(vec![stall(case.last_day_attributes(), usize::MAX), stall("/changes/".into(), 1)]);
        let started = Instant::now();
        let resp = response(api.invoke(&case.event, INVOKE_TIMEOUT));
        let took = started.elapsed();
        assert_eq!(resp["batchItemFailures"], expected, "proxy log: {:?}", proxy.log());
        assert_eq!(stalled(proxy.log(), &case.last_day_attributes()), 3, "three attempts: {:?}", proxy.log());
        assert_eq!(stalled(proxy.log(), "/changes/"), 1);
        assert!(took < helpers::lambda_api::DEADLINE, "answered after {took:?}");
        case.assert_all_but_the_last_days_attributes(&s3).await;
    }

    // 2. Attempts may take 20 s (the default), the invocation is due in 10 s: the stalled
    //    write is abandoned at the deadline less the 3 s margin, and the answer comes in time.
    {
        let api = LambdaApi::start();
        let _function = Function::start(&api, &moto, &proxy.endpoint(), &[("DDB_LAKE_DEADLINE_MARGIN_MS", "3000")]);
        api.set_deadline(Duration::from_secs(10));
        proxy.clear();
        proxy.set_rules(vec![stall(case.last_day_attributes(), usize::MAX)]);
        let before = stalled(proxy.log(), &case.last_day_attributes());
        let started = Instant::now();
        let resp = response(api.invoke(&case.event, INVOKE_TIMEOUT));
        let took = started.elapsed();
        assert_eq!(resp["batchItemFailures"], expected, "proxy log: {:?}", proxy.log());
        assert_eq!(stalled(proxy.log(), &case.last_day_attributes()) - before, 1, "one attempt, cut short");
        assert!(took >= Duration::from_secs(6) && took < Duration::from_secs(10), "answered after {took:?}");
    }

    // 3. The stall clears, Lambda delivers the batch again: exactly the clean run's objects.
    let api = LambdaApi::start();
    let _function = Function::start(&api, &moto, &proxy.endpoint(), &[]);
    proxy.clear();
    case.assert_redelivery_gives_the_clean_objects(&api, &s3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_record_is_quarantined_and_the_batch_lands() {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3).await;
    let event = generated_event();
    let mut v: serde_json::Value = serde_json::from_str(&event).unwrap();
    let middle = v["Records"].as_array().unwrap().len() / 2;
    v["Records"][middle]["dynamodb"]["Keys"]["pk"] = serde_json::json!({"DATE": "2026-11-01"});
    let total = v["Records"].as_array().unwrap().len();
    let poisoned_seq = v["Records"][middle]["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned();

    let api = LambdaApi::start();
    let function = Function::start(&api, &moto, &moto.endpoint, &[("DDB_LAKE_QUARANTINE_PREFIX", "quarantine/sync")]);
    let resp = response(api.invoke(&v.to_string(), INVOKE_TIMEOUT));
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]));

    let objects = bucket_objects(&s3).await;
    let (_, changes) = rows_of(&objects, "changes");
    assert_eq!(changes.len(), total - 1);
    assert!(changes.iter().all(|r| r[1].as_deref() != Some(poisoned_seq.as_str())));
    let q = s3.list_objects_v2().bucket(BUCKET).prefix("quarantine/sync/").send().await.unwrap();
    assert_eq!(q.contents().len(), 1);
    let text = String::from_utf8(get_gunzipped(&s3, q.contents()[0].key().unwrap()).await).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["sequenceNumber"], poisoned_seq);
    assert!(line["reason"].as_str().unwrap().contains("unknown DynamoDB attribute type `DATE`"));
    assert_eq!(line["record_json"]["dynamodb"]["Keys"]["pk"]["DATE"], "2026-11-01");
    let emf: serde_json::Value = function
        .output()
        .lines()
        .find(|l| l.contains("\"RecordsQuarantined\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    assert_eq!(emf["RecordsQuarantined"], 1);
    // The log says which kind of reason (the query "quarantined records by reason"), never
    // the value the reason quotes.
    let out = function.output();
    let logged: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "record quarantined")
        .expect("a record quarantined line");
    assert_eq!(logged["level"], "WARN");
    assert_eq!(logged["fields"]["reason"], "record does not decode");
    assert_eq!(logged["fields"]["sequence_number"], poisoned_seq.as_str());
    assert!(!out.contains("DATE") && !logged.to_string().contains("2026-11-01"), "the value stays out of the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_batch_and_big_item_fit_128_mb() {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3).await;
    // 10,000 records (Lambda's largest batch) under the 6 MB payload limit, then one 400 KB item.
    // The insert fixture's record for 10,000 items of 97 customers, each with a small image
    // (the fixture's whole item would pass the 6 MB limit).
    let insert = record("insert.json");
    let record = |i: u64, extra: &str| {
        let mut r = with_sequence(insert.clone(), &(100_000_000_000_000_000_000u128 + i as u128).to_string());
        let keys = serde_json::json!({"pk": {"S": format!("CLIENT#{}", i % 97)}, "sk": {"S": format!("SYNC#{i}")}});
        let mut image = keys.clone();
        image["n"] = serde_json::json!({"N": "12345678901234567890123456789012345678"});
        image["on"] = serde_json::json!({"BOOL": true});
        image["x"] = serde_json::json!({"S": extra});
        r["dynamodb"]["ApproximateCreationDateTime"] = (1_793_000_000 + i).into();
        r["dynamodb"]["Keys"] = keys;
        r["dynamodb"]["NewImage"] = image;
        r
    };
    let big_batch = event_of((0..10_000u64).map(|i| record(i, "v")).collect()).to_string();
    assert!(big_batch.len() < 6_000_000, "{} bytes", big_batch.len());
    let big_item = event_of(vec![record(20_000, &"\u{1F980}x\n".repeat(400_000 / 6))]).to_string();
    assert!(big_item.len() > 400_000);

    // Hostile input 3: the largest keys DynamoDB allows (a 2 KB partition key, a 1 KB sort
    // key) and a list of 30,000 numbers (a 310 KB item): every one of its 30,002 attribute
    // rows repeats the keys, 186 MB of rows, which must never be in memory at once.
    let (pk, sk) = ("P".repeat(2048), "S".repeat(1024));
    let numbers: Vec<serde_json::Value> =
        (0..30_000u64).map(|i| serde_json::json!({"N": format!("{}", 1_000_000_000_000_000 + i)})).collect();
    let mut wide = with_sequence(insert.clone(), "200000000000000000000000");
    let keys = serde_json::json!({"pk": {"S": pk}, "sk": {"S": sk}});
    let mut image = keys.clone();
    image["numbers"] = serde_json::json!({"L": numbers});
    wide["dynamodb"]["Keys"] = keys;
    wide["dynamodb"]["NewImage"] = image;
    wide["dynamodb"]["ApproximateCreationDateTime"] = 1_794_500_000.into(); // 2026-11-12, its own day
    let wide = event_of(vec![wide]).to_string();

    let api = LambdaApi::start();
    let function = Function::start(&api, &moto, &moto.endpoint, &[]);
    assert_eq!(response(api.invoke(&big_batch, INVOKE_TIMEOUT))["batchItemFailures"], serde_json::json!([]));
    assert_eq!(response(api.invoke(&big_item, INVOKE_TIMEOUT))["batchItemFailures"], serde_json::json!([]));
    let objects = bucket_objects(&s3).await;
    let (_, changes) = rows_of(&objects, "changes");
    assert_eq!(changes.len(), 10_001);
    drop(objects);
    assert_eq!(response(api.invoke(&wide, INVOKE_TIMEOUT))["batchItemFailures"], serde_json::json!([]));
    let peak_mb = peak_rss_kb(function.child.id()) as f64 / 1024.0;
    eprintln!("peak RSS of the function: {peak_mb:.1} MB");
    assert!(peak_mb < 128.0, "peak RSS {peak_mb:.1} MB exceeds the 128 MB budget");
    let listed =
        s3.list_objects_v2().bucket(BUCKET).prefix(format!("{PREFIX}/attributes/dt=2026-11-12/")).send().await.unwrap();
    let [object] = listed.contents() else { panic!("one attributes object for the wide item: {listed:?}") };
    let rows = get_gunzipped(&s3, object.key().unwrap()).await;
    let lines = rows.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(lines, 1 + 30_002, "the header, then a row per number and one per key attribute");
}

/// A spec that hashes the `owner` attribute and writes it to a declared column.
const HASHING_SPEC: &str =
    "[source]\ntable = \"sync-configurations\"\n[lake]\nlocation = \"s3://lake-bucket/ddb/sync\"\n\
    [redaction]\n[[redaction.rule]]\npath = \"owner\"\naction = \"hash\"\n\
    [[tables]]\nname = \"owners\"\n[[tables.columns]]\nname = \"owner\"\npath = \"owner\"\ntype = \"string\"\n";

/// Runs the function binary until it exits (a cold start that fails) and returns its stderr.
fn failed_cold_start(moto: &Moto, extra: &[(&str, &str)]) -> String {
    let out = Command::new(normalizer_binary())
        .envs(moto.env())
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("DDB_LAKE_SPEC", HASHING_SPEC)
        .envs(extra.iter().copied())
        .output()
        .expect("the function binary runs");
    assert!(!out.status.success(), "the cold start should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The hex HMAC-SHA256 of `text` under `key`, as docs/lake-spec.md defines a hashed value.
fn hmac_hex(key: &str, text: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The redaction key comes from Secrets Manager at cold start, never from the function's
/// environment; the hashed column holds the HMAC under that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redaction_key_is_read_from_secrets_manager_at_cold_start() {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3).await;
    let key = "moto-redaction-key-0123456789";
    let secrets = moto.secretsmanager();
    let created = secrets.create_secret().name("ddb-lake/redaction-key").secret_string(key).send().await.unwrap();
    let arn = created.arn().unwrap().to_owned();

    let api = LambdaApi::start();
    let _function = Function::start(
        &api,
        &moto,
        &moto.endpoint,
        &[("DDB_LAKE_SPEC", HASHING_SPEC), ("DDB_LAKE_REDACTION_KEY_SECRET", &arn)],
    );
    // The insert fixture, its item with an owner.
    let mut insert = record("insert.json");
    insert["dynamodb"]["NewImage"]["owner"] = serde_json::json!({"S": "ann@example.com"});
    let resp = response(api.invoke(&event_of(vec![insert]).to_string(), INVOKE_TIMEOUT));
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]));

    let objects = bucket_objects(&s3).await;
    let (header, rows) = rows_of(&objects, "owners");
    let column = header.iter().position(|c| c == "owner").unwrap();
    let expected = hmac_hex(key, "ann@example.com");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][column].as_deref(), Some(expected.as_str()));
    for (k, body) in &objects {
        assert!(!String::from_utf8_lossy(body).contains("ann@example.com"), "the address in {k}");
    }

    // Without the secret's name the cold start fails and says which variable to set, even
    // with the key in the spec's environment variable (the function does not read it).
    let err = failed_cold_start(&moto, &[("DDB_LAKE_REDACTION_KEY", key)]);
    assert!(
        err.contains("set DDB_LAKE_REDACTION_KEY_SECRET to the name or ARN of the Secrets Manager secret"),
        "{err}"
    );
    // A key shorter than the minimum says its length and the minimum.
    let short = secrets.create_secret().name("ddb-lake/short-key").secret_string("short").send().await.unwrap();
    let err = failed_cold_start(&moto, &[("DDB_LAKE_REDACTION_KEY_SECRET", short.arn().unwrap())]);
    assert!(err.contains("is 5 bytes long; it must be at least 16 bytes"), "{err}");
    // A secret that does not exist is named.
    let err = failed_cold_start(&moto, &[("DDB_LAKE_REDACTION_KEY_SECRET", "ddb-lake/missing")]);
    assert!(err.contains("cannot read the redaction key from the secret ddb-lake/missing"), "{err}");
}

/// A MODIFY whose `version` no longer fits its bigint column reaches every table with a NULL
/// cell; `_rejects` names the column, and the batch's metric line counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_does_not_fit_is_a_rejected_cell_not_a_lost_record() {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3).await;
    let spec = "[source]\ntable = \"sync-configurations\"\n[lake]\nlocation = \"s3://lake-bucket/ddb/sync\"\n\
        [[tables]]\nname = \"syncs\"\n[[tables.columns]]\nname = \"version\"\npath = \"version\"\ntype = \"bigint\"\n\
        [[tables.columns]]\nname = \"enabled\"\npath = \"enabled\"\ntype = \"boolean\"\n";
    let api = LambdaApi::start();
    let function = Function::start(&api, &moto, &moto.endpoint, &[("DDB_LAKE_SPEC", spec)]);
    // The insert fixture (version 1), then the modify fixture with a version of 2.5.
    let mut modify = record("modify.json");
    modify["dynamodb"]["NewImage"]["version"] = serde_json::json!({"N": "2.5"});
    let event = event_of(vec![record("insert.json"), modify]).to_string();
    let resp = response(api.invoke(&event, INVOKE_TIMEOUT));
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]));

    let objects = bucket_objects(&s3).await;
    let (_, changes) = rows_of(&objects, "changes");
    let (first, second) = ("98000000000000000000001", "100000000000000000000002");
    assert_eq!(changes.iter().map(|r| r[1].clone().unwrap()).collect::<Vec<_>>(), [first, second]);
    let (h, attributes) = rows_of(&objects, "attributes");
    let path = h.iter().position(|c| c == "path").unwrap();
    let enabled: Vec<(String, String)> = attributes
        .iter()
        .filter(|r| r[path].as_deref() == Some("enabled"))
        .map(|r| (r[1].clone().unwrap(), r[path + 2].clone().unwrap()))
        .collect();
    assert_eq!(enabled, [(first.into(), "true".into()), (second.into(), "false".into())]);
    let (h, syncs) = rows_of(&objects, "syncs");
    let version = h.iter().position(|c| c == "version").unwrap();
    assert_eq!(syncs.iter().map(|r| r[version].clone()).collect::<Vec<_>>(), [Some("1".into()), None]);
    let (h, rejects) = rows_of(&objects, "_rejects");
    assert_eq!(rejects.len(), 1);
    let col = |name: &str| rejects[0][h.iter().position(|c| c == name).unwrap()].clone();
    assert_eq!(
        (col("sequence_number"), col("table_name"), col("column_name")),
        (Some(second.into()), Some("syncs".into()), Some("version".into()))
    );
    assert!(!col("reason").unwrap().contains("2.5"), "never the value");
    assert!(s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("{PREFIX}/_quarantine/"))
        .send()
        .await
        .unwrap()
        .contents()
        .is_empty());
    let emf: serde_json::Value = function
        .output()
        .lines()
        .find(|l| l.contains("\"CellsRejected\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    assert_eq!((emf["CellsRejected"].as_u64(), emf["RecordsQuarantined"].as_u64()), (Some(1), Some(0)));
}

/// The function with a declared spec, read from the file `DDB_LAKE_SPEC_PATH` names (as the
/// CDK app deploys it): the example spec, plus a rule that hashes the exploded
/// `fieldMappings[].mapping`. The insert fixture's item, with credentials, lands as rows
/// computed here from the fixture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_spec_explodes_the_field_mappings_and_redacts_a_column() {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3).await;
    let key = "moto-redaction-key-for-the-spec";
    let secret = moto.secretsmanager().create_secret().name("ddb-lake/key").secret_string(key).send().await.unwrap();
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/sync-configurations.toml"),
    )
    .unwrap();
    let drop_rule = "[[redaction.rule]]\npath = \"credentials\"";
    assert!(example.contains(drop_rule));
    let spec = example.replace(
        drop_rule,
        &format!("[[redaction.rule]]\npath = \"fieldMappings[].mapping\"\naction = \"hash\"\n\n{drop_rule}"),
    );
    let spec_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(spec_file.path(), spec).unwrap();

    let api = LambdaApi::start();
    let _function = Function::start(
        &api,
        &moto,
        &moto.endpoint,
        &[
            ("DDB_LAKE_SPEC_PATH", spec_file.path().to_str().unwrap()),
            ("DDB_LAKE_REDACTION_KEY_SECRET", secret.arn().unwrap()),
        ],
    );
    let mut insert = record("insert.json");
    insert["dynamodb"]["NewImage"]["credentials"] = serde_json::json!({"M": {"jiraPassword": {"S": "hunter2-pw"}}});
    let resp = response(api.invoke(&event_of(vec![insert]).to_string(), INVOKE_TIMEOUT));
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]));

    let hash = |v: &str| hmac_hex(key, v);
    let objects = bucket_objects(&s3).await;
    let tables: Vec<&str> = objects.keys().map(|k| k.split('/').next().unwrap()).collect();
    assert_eq!(tables, ["attributes", "changes", "field_mappings", "sync_configs"]);
    let text = |table: &str| {
        let (_, body) = objects.iter().find(|(k, _)| k.starts_with(&format!("{table}/dt=2026-11-05/"))).unwrap();
        String::from_utf8(body.clone()).unwrap()
    };
    // One row per field mapping, the mapping hashed; the second one's transform is there.
    let p = "INSERT\t98000000000000000000001\t2026-11-05 12:00:00.000\tclient-42\t\
             {\"pk\":\"CLIENT#c0042\",\"sk\":\"SYNC#1a2b3c4d\"}\tCLIENT#c0042\tSYNC#1a2b3c4d";
    assert_eq!(
        text("field_mappings"),
        format!(
            "event_name\tsequence_number\tevent_time\ttenant\titem_key\tpk\tsk\telement_index\tclient_key\tfield_id\t\
             mapping\tdirection\ttransform\n\
             {p}\t0\tclient-42\tsummary\t{}\tboth\t\\N\n\
             {p}\t1\tclient-42\tpriority\t{}\toutbound\tlowercase\n",
            hash("subject"),
            hash("priority")
        )
    );
    // The same hashes in `attributes`; the credentials nowhere.
    let attributes = text("attributes");
    for (i, mapping) in ["subject", "priority"].iter().enumerate() {
        let row = format!("{p}\tfieldMappings[{i}].mapping\tS\t{}\ttrue\n", hash(mapping));
        assert!(attributes.contains(&row), "{row} in\n{attributes}");
    }
    for (k, body) in &objects {
        let body = String::from_utf8_lossy(body);
        for secret in ["hunter2-pw", "credentials", "jiraPassword", "\tsubject\t"] {
            assert!(!body.contains(secret), "{secret:?} in {k}");
        }
    }
}

/// The stream's records as the Streams API returns them, read with the SDK (one shard, as
/// moto keeps a small table's stream): (event name, sequence number), in order.
async fn stream_records(moto: &Moto, stream_arn: &str) -> Vec<(String, String)> {
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    let streams = moto.streams();
    let description = streams.describe_stream().stream_arn(stream_arn).send().await.unwrap();
    let shards = description.stream_description().unwrap().shards();
    assert_eq!(shards.len(), 1);
    let mut iterator = streams
        .get_shard_iterator()
        .stream_arn(stream_arn)
        .shard_id(shards[0].shard_id().unwrap())
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let mut out = Vec::new();
    loop {
        let page = streams.get_records().shard_iterator(&iterator).send().await.unwrap();
        if page.records().is_empty() {
            return out;
        }
        for r in page.records() {
            let seq = r.dynamodb().unwrap().sequence_number().unwrap();
            out.push((r.event_name().unwrap().as_str().to_owned(), seq.to_owned()));
        }
        match page.next_shard_iterator {
            Some(next) => iterator = next,
            None => return out,
        }
    }
}

/// Runs `ddb-lake replay` on moto's stream with `args` after the stream and endpoint.
fn replay(moto: &Moto, stream_arn: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(["replay", "--stream-arn", stream_arn, "--endpoint-url", &moto.endpoint])
        .args(args)
        .envs(moto.env())
        .output()
        .unwrap()
}

/// `ddb-lake replay` on moto's stream, to S3: `--bucket`/`--prefix` (not the spec's lake)
/// get the rows of every record; `--after` a sequence number gets exactly the records after
/// it; a bucket that does not exist fails naming the record to resume from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_writes_to_a_bucket_and_resumes_after_a_sequence_number() {
    let moto = Moto::start();
    let ddb = moto.dynamodb();
    let stream_arn = create_table(&ddb).await;
    let s3 = moto.s3();
    create_bucket(&s3).await;
    write_five_records(&ddb).await;
    let records = stream_records(&moto, &stream_arn).await;
    let names: Vec<&str> = records.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["INSERT", "INSERT", "INSERT", "MODIFY", "REMOVE"]);
    let seqs: Vec<String> = records.iter().map(|(_, s)| s.clone()).collect();

    // The rows in S3 under `prefix`: each changes row's (event name, sequence number) in
    // stream order, and the sequence numbers of the attributes rows.
    let lake = |prefix: &'static str| {
        let s3 = s3.clone();
        async move {
            let objects = objects_under(&s3, prefix).await;
            let order = |x: &Row, y: &Row| {
                ddb_lake_core::object_key::compare_sequence_numbers(x[1].as_deref().unwrap(), y[1].as_deref().unwrap())
            };
            let (_, mut changes) = rows_of(&objects, "changes");
            changes.sort_by(order);
            let changes: Vec<(String, String)> =
                changes.iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect();
            let attributes: BTreeSet<String> =
                rows_of(&objects, "attributes").1.iter().map(|r| r[1].clone().unwrap()).collect();
            (changes, attributes)
        }
    };

    let out = replay(&moto, &stream_arn, &["--bucket", BUCKET, "--prefix", "replayed"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with(&format!("replayed 5 records in 1 batches into s3://{BUCKET}/replayed: ")), "{stdout}");
    assert!(stdout.contains(&format!("--after {} ...", seqs[4])), "{stdout}");
    let (changes, attributes) = lake("replayed").await;
    assert_eq!(changes, records);
    assert_eq!(attributes, seqs[..4].iter().cloned().collect(), "the four writes, not the REMOVE");

    // Resumed after the third record: the MODIFY and the REMOVE only.
    let out = replay(&moto, &stream_arn, &["--bucket", BUCKET, "--prefix", "resumed", "--after", &seqs[2]]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with(&format!("replayed 2 records in 1 batches into s3://{BUCKET}/resumed: ")), "{stdout}");
    let (changes, attributes) = lake("resumed").await;
    assert_eq!(changes, records[3..]);
    assert_eq!(attributes, [seqs[3].clone()].into());

    // A bucket that is not there: nothing is claimed, and the message says where to resume.
    let out = replay(&moto, &stream_arn, &["--bucket", "no-such-lake-bucket"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot write ") && stderr.contains("no-such-lake-bucket"), "{stderr}");
    assert!(
        stderr.contains(&format!("records from sequence number {} of shard ", seqs[0])) && stderr.contains("run again"),
        "{stderr}"
    );
}

/// `cargo test --test lambda` does not rebuild the function binary: a binary older than a
/// source it is built from is refused instead of tested.
#[test]
fn a_function_binary_older_than_its_sources_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("nested")).unwrap();
    let (old, new, notes) = (src.join("lib.rs"), src.join("nested/flatten.rs"), src.join("README.md"));
    for path in [&old, &new, &notes] {
        std::fs::write(path, "text").unwrap();
    }
    let at = |secs: u64| std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let touch = |p: &std::path::Path, t| std::fs::File::options().write(true).open(p).unwrap().set_modified(t).unwrap();
    touch(&old, at(1_000));
    touch(&new, at(3_000));
    // Not a source: cargo would not build again for it.
    touch(&notes, at(5_000));
    // Built between the two edits: the later one is named.
    assert_eq!(source_newer_than(at(2_000), std::slice::from_ref(&src)), Some(new.clone()));
    // Built after both: nothing is newer.
    assert_eq!(source_newer_than(at(4_000), &[src.clone(), dir.path().join("missing")]), None);
    // And the real binary passes the check on a fresh build (./scripts/test builds it first).
    assert!(normalizer_binary().exists());
}

/// The raw objects under the lake prefix: key (relative to it) → bytes as stored.
async fn raw_objects(s3: &aws_sdk_s3::Client) -> BTreeMap<String, Vec<u8>> {
    let listed = s3.list_objects_v2().bucket(BUCKET).prefix(format!("{PREFIX}/")).send().await.unwrap();
    assert!(!listed.is_truncated().unwrap_or(false));
    let mut out = BTreeMap::new();
    for o in listed.contents() {
        let key = o.key().unwrap();
        let body = object_bytes(s3, BUCKET, key).await;
        out.insert(key.strip_prefix(&format!("{PREFIX}/")).unwrap().to_owned(), body);
    }
    out
}

/// The fixture export (tests/fixtures/exports/sync-configurations), uploaded where DynamoDB
/// would write it: bucket `exports-bucket`, prefix `exports`. Returns its folder there (the
/// key prefix), the local folder, and the lines of its manifest-files.json.
async fn upload_fixture_export(s3: &aws_sdk_s3::Client) -> (String, std::path::PathBuf, Vec<String>) {
    s3.create_bucket().bucket("exports-bucket").send().await.unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exports/sync-configurations/AWSDynamoDB")
        .join(FIXTURE_EXPORT_ID);
    let prefix = format!("exports/AWSDynamoDB/{FIXTURE_EXPORT_ID}");
    let mut lines = Vec::new();
    for name in ["manifest-summary.json", "manifest-summary.md5", "manifest-files.json", "manifest-files.md5"] {
        let body = std::fs::read(fixture.join(name)).unwrap();
        if name == "manifest-files.json" {
            lines = String::from_utf8(body.clone()).unwrap().lines().map(str::to_owned).collect();
        }
        let key = format!("{prefix}/{name}");
        s3.put_object().bucket("exports-bucket").key(key).body(body.into()).send().await.unwrap();
    }
    for entry in std::fs::read_dir(fixture.join("data")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let key = format!("{prefix}/data/{name}");
        let body = std::fs::read(fixture.join("data").join(&name)).unwrap();
        s3.put_object().bucket("exports-bucket").key(key).body(body.into()).send().await.unwrap();
    }
    assert_eq!(lines.len(), 3);
    (prefix, fixture, lines)
}

const FIXTURE_EXPORT_ID: &str = "01793880000000-5a1c0e42";

/// The backfill worker (issue 38): the function given one line of an export's
/// manifest-files.json, as a Distributed Map child gets it, backfills that data file from the
/// export in S3; all of them together write the objects `ddb-lake backfill` writes, byte for
/// byte; a redelivered line rewrites the same objects; a damaged file fails its child only,
/// naming the file, with nothing of its own written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_worker_writes_one_data_file_as_the_command_does() {
    const EXPORT_ID: &str = FIXTURE_EXPORT_ID;
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3).await;
    let (prefix, fixture, lines) = upload_fixture_export(&s3).await;
    let data = |name: &str| std::fs::read(fixture.join("data").join(name)).unwrap();
    let job = |line: &str| {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        serde_json::json!({"export": format!("s3://exports-bucket/{prefix}"), "dataFile": entry}).to_string()
    };

    let api = LambdaApi::start();
    let _function = Function::start(&api, &moto, &moto.endpoint, &[]);
    let mut items = 0;
    for line in &lines {
        let r = response(api.invoke(&job(line), INVOKE_TIMEOUT));
        assert_eq!(r["exportId"], EXPORT_ID, "{r}");
        items += r["items"].as_u64().unwrap();
    }
    assert_eq!(items, 3, "the fixture export's items");
    let lake = raw_objects(&s3).await;

    // What the command writes from the same export.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    helpers::ddb_lake_ok(&["backfill", "--export", fixture.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let expected = helpers::tree(&out);
    assert_eq!(lake.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    assert!(lake == expected, "the worker's objects are the command's, byte for byte");

    // Redelivered: the same objects again.
    response(api.invoke(&job(&lines[0]), INVOKE_TIMEOUT));
    assert!(raw_objects(&s3).await == expected);

    // A damaged data file fails its child, naming the file; nothing of its own is written.
    s3.delete_objects()
        .bucket(BUCKET)
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(
                    lake.keys()
                        .map(|k| {
                            aws_sdk_s3::types::ObjectIdentifier::builder().key(format!("{PREFIX}/{k}")).build().unwrap()
                        })
                        .collect(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let entry: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let key = entry["dataFileS3Key"].as_str().unwrap().to_owned();
    let name = key.rsplit('/').next().unwrap().to_owned();
    let whole = data(&name);
    let cut = whole[..whole.len() / 2].to_vec();
    s3.put_object()
        .bucket("exports-bucket")
        .key(format!("{prefix}/data/{name}"))
        .body(cut.into())
        .send()
        .await
        .unwrap();
    match api.invoke(&job(&lines[0]), INVOKE_TIMEOUT) {
        Outcome::Error { message, .. } => {
            assert!(message.contains(&format!("s3://exports-bucket/{prefix}/data/{name}: MD5 is")), "{message}");
        }
        other => panic!("a damaged file must fail its child: {other:?}"),
    }
    assert!(raw_objects(&s3).await.is_empty(), "nothing written for the damaged file");
    // Not an export: the message says what the event should hold.
    let bad = serde_json::json!({"export": "s3://exports-bucket", "dataFile": entry}).to_string();
    match api.invoke(&bad, INVOKE_TIMEOUT) {
        Outcome::Error { message, .. } => {
            assert!(message.contains("is not s3://BUCKET/PREFIX/AWSDynamoDB/"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

/// The backfill state machine's steps (issue 38), run in the order its definition runs them
/// (cdk/lib/backfill.ts, whose shape cdk/test/pipeline.test.ts asserts): `plan` checks the
/// export and says where the Map's ItemReader finds manifest-files.json; one child per line
/// of that object, as the ItemSelector builds it; `finish` fails while any data file has no
/// `snapshots` row, naming it, and succeeds once every one has. An export outside the
/// deployment's export location, a folder that holds no export and an event that is neither
/// step are refused, each with a message that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_state_machine_plans_fans_out_and_finishes() {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3).await;
    let (prefix, _fixture, _) = upload_fixture_export(&s3).await;
    let summary: serde_json::Value =
        serde_json::from_slice(&object_bytes(&s3, "exports-bucket", &format!("{prefix}/manifest-summary.json")).await)
            .unwrap();
    let api = LambdaApi::start();
    let _function =
        Function::start(&api, &moto, &moto.endpoint, &[("DDB_LAKE_EXPORT_LOCATION", "s3://exports-bucket/exports")]);
    let error_of = |event: serde_json::Value| match api.invoke(&event.to_string(), INVOKE_TIMEOUT) {
        Outcome::Error { message, .. } => message,
        other => panic!("{event} must fail: {other:?}"),
    };

    // Plan: given the folder as `aws dynamodb describe-export` shows it (a trailing `/`).
    let plan = response(api.invoke(
        &serde_json::json!({"step": "plan", "export": format!("s3://exports-bucket/{prefix}/")}).to_string(),
        INVOKE_TIMEOUT,
    ));
    assert_eq!(plan["export"], format!("s3://exports-bucket/{prefix}"), "{plan}");
    assert_eq!(plan["bucket"], "exports-bucket");
    assert_eq!(plan["manifestFilesKey"], format!("{prefix}/manifest-files.json"));
    assert_eq!(plan["exportTime"], summary["exportTime"]);
    assert_eq!(plan["items"], summary["itemCount"]);
    assert!(summary["exportArn"].as_str().unwrap().ends_with(plan["exportId"].as_str().unwrap()));

    // The Map's ItemReader: the JSON lines of the object the plan names.
    let manifest =
        object_bytes(&s3, plan["bucket"].as_str().unwrap(), plan["manifestFilesKey"].as_str().unwrap()).await;
    let items: Vec<serde_json::Value> =
        std::str::from_utf8(&manifest).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(plan["dataFiles"], items.len());
    let names: Vec<String> = items
        .iter()
        .map(|i| {
            i["dataFileS3Key"].as_str().unwrap().rsplit('/').next().unwrap().trim_end_matches(".json.gz").to_owned()
        })
        .collect();
    // The ItemSelector: {"export.$": "$.plan.export", "dataFile.$": "$$.Map.Item.Value"}.
    let child = |item: &serde_json::Value| serde_json::json!({"export": plan["export"], "dataFile": item}).to_string();
    let finish = serde_json::json!({"step": "finish", "export": plan["export"]});

    // One child done: finish names the other two, and says what to do.
    assert_eq!(response(api.invoke(&child(&items[0]), INVOKE_TIMEOUT))["dataFile"], names[0]);
    let message = error_of(finish.clone());
    assert!(message.contains(&format!("2 of its {} data files have no `snapshots` row", names.len())), "{message}");
    assert!(message.contains(&format!("({}, {})", names[1], names[2])), "{message}");
    assert!(message.contains("start the state machine again with the same input"), "{message}");

    // Every child done: the snapshot counts, and the lake holds one `snapshots` row per file.
    for item in &items[1..] {
        response(api.invoke(&child(item), INVOKE_TIMEOUT));
    }
    let done = response(api.invoke(&finish.to_string(), INVOKE_TIMEOUT));
    assert_eq!(done["dataFiles"], names.len(), "{done}");
    assert_eq!(done["snapshotTime"], summary["exportTime"]);
    assert_eq!(done["lake"], format!("s3://{BUCKET}/{PREFIX}"));
    let markers: Vec<String> = raw_objects(&s3).await.into_keys().filter(|k| k.starts_with("snapshots/")).collect();
    assert_eq!(markers.len(), names.len(), "{markers:?}");
    for name in &names {
        assert!(markers.iter().any(|k| k.ends_with(&format!("_{name}.tsv.gz"))), "{name}: {markers:?}");
    }

    // Issue 39: incremental exports beside it (AWS's layout: the shared data/ folder). One
    // whose window chains (through the lake's full snapshot) is planned with its window; one
    // after a gap is refused at the plan, naming the window to export, before any child runs.
    let incremental = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exports/sync-configurations-incremental/AWSDynamoDB");
    for file in walk(&incremental) {
        let rel = file.strip_prefix(&incremental).unwrap().to_string_lossy().replace('\\', "/");
        let body = std::fs::read(&file).unwrap();
        s3.put_object()
            .bucket("exports-bucket")
            .key(format!("exports/AWSDynamoDB/{rel}"))
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
    let second = "s3://exports-bucket/exports/AWSDynamoDB/01793887200000-2d2d2d2d";
    let planned =
        response(api.invoke(&serde_json::json!({"step": "plan", "export": second}).to_string(), INVOKE_TIMEOUT));
    assert_eq!(planned["windowStart"], "2026-11-05T13:00:00.000Z", "{planned}");
    assert_eq!(planned["exportTime"], "2026-11-05T14:00:00.000Z", "{planned}");
    assert_eq!(planned["manifestFilesKey"], "exports/AWSDynamoDB/01793887200000-2d2d2d2d/manifest-files.json");
    // Its children read their data files from the shared data/ folder, and finish finds them whole.
    let manifest = object_bytes(&s3, "exports-bucket", planned["manifestFilesKey"].as_str().unwrap()).await;
    let lines: Vec<serde_json::Value> =
        std::str::from_utf8(&manifest).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(planned["dataFiles"], lines.len());
    let mut changed = 0;
    for line in &lines {
        let child = serde_json::json!({"export": planned["export"], "dataFile": line});
        changed += response(api.invoke(&child.to_string(), INVOKE_TIMEOUT))["items"].as_u64().unwrap();
    }
    assert_eq!(changed, 3, "the three changed items of the window");
    let finish = serde_json::json!({"step": "finish", "export": planned["export"]});
    let done = response(api.invoke(&finish.to_string(), INVOKE_TIMEOUT));
    assert_eq!(done["snapshotTime"], "2026-11-05T14:00:00.000Z", "{done}");
    let written: Vec<String> =
        raw_objects(&s3).await.into_keys().filter(|k| k.contains("snapshot_01793887200000-2d2d2d2d")).collect();
    assert!(written.iter().any(|k| k.starts_with("changes/dt=2026-11-05/")), "{written:?}");
    assert_eq!(written.iter().filter(|k| k.starts_with("snapshots/")).count(), lines.len(), "{written:?}");

    let before = raw_objects(&s3).await;
    let message = error_of(
        serde_json::json!({"step": "plan", "export": "s3://exports-bucket/exports/AWSDynamoDB/01793892600000-3e3e3e3e"}),
    );
    assert!(
        message.contains("the changes of [2026-11-05T14:00:00.000Z, 2026-11-05T14:30:00.000Z) are in no export"),
        "{message}"
    );
    assert!(message.contains("ExportFromTime=2026-11-05T14:00:00Z,ExportToTime=2026-11-05T14:30:00Z"), "{message}");
    assert_eq!(raw_objects(&s3).await, before, "nothing written");

    // Refused: an export this deployment does not read, a folder holding none, a bad event.
    let elsewhere = format!("s3://other-bucket/{prefix}");
    let message = error_of(serde_json::json!({"step": "plan", "export": elsewhere}));
    assert!(message.contains("is not under s3://exports-bucket/exports, the only exports"), "{message}");
    let message = error_of(serde_json::json!({"step": "plan", "export": "s3://exports-bucket/exportsX/AWSDynamoDB/1"}));
    assert!(message.contains("is not under s3://exports-bucket/exports"), "{message}");
    let absent = "s3://exports-bucket/exports/AWSDynamoDB/01793880000000-00000000";
    let message = error_of(serde_json::json!({"step": "plan", "export": absent}));
    assert!(message.contains(&format!("{absent} holds no manifest-summary.json")), "{message}");
    let message = error_of(serde_json::json!({"step": "go", "export": plan["export"]}));
    assert!(message.contains("a backfill event is") && message.contains("step \"go\""), "{message}");
}

/// The canary: with DDB_LAKE_CANARY_KEY set, the heartbeat item's record, once its rows are
/// written, is counted in the `CanaryRecords` EMF metric with its lag; other records are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_heartbeat_is_counted_once_written() {
    let moto = Moto::start();
    let ddb = moto.dynamodb();
    let stream_arn = create_table(&ddb).await;
    let s3 = moto.s3();
    create_bucket(&s3).await;
    ddb.put_item().table_name("sync-configurations").set_item(Some(item(1, 1, "5"))).send().await.unwrap();
    ddb.put_item()
        .table_name("sync-configurations")
        .item("pk", s("ddb-lake#canary"))
        .item("sk", s("heartbeat"))
        .item("at", s("2026-12-06T03:30:00Z"))
        .send()
        .await
        .unwrap();
    let events = stream_events(&moto, &stream_arn).await;
    assert_eq!(events.len(), 1);

    let api = LambdaApi::start();
    let function = Function::start(&api, &moto, &moto.endpoint, &[("DDB_LAKE_CANARY_KEY", "ddb-lake#canary")]);
    let resp = response(api.invoke(&events[0], INVOKE_TIMEOUT));
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]));
    let out = function.output();
    let canary: Vec<serde_json::Value> =
        out.lines().filter(|l| l.contains("\"CanaryRecords\"")).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(canary.len(), 1, "{out}");
    assert_eq!(canary[0]["CanaryRecords"], 1);
    let lag = canary[0]["CanaryLagMs"].as_i64().unwrap();
    assert!((0..600_000).contains(&lag), "lag {lag} ms");
    let metrics = &canary[0]["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(metrics["Namespace"], "DdbLake");
    assert_eq!(metrics["Dimensions"], serde_json::json!([["FunctionName"]]));
    assert_eq!(canary[0]["FunctionName"], "ddb-lake-normalizer");
    // Its row is in the lake, as every item's.
    let (_, changes) = rows_of(&bucket_objects(&s3).await, "changes");
    assert_eq!(changes.len(), 2);
}

/// X-Ray: for a sampled invocation the function sends, to the daemon address (UDP on
/// 127.0.0.1), one `S3` subsegment per object it writes (annotations: the object's table and
/// the outcome) and, with the first sampled invocation, the cold start's Secrets Manager read,
/// all under the invocation's trace header; an invocation that is not sampled sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_invocations_send_subsegments_to_the_xray_daemon() {
    let daemon = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let received = |daemon: &std::net::UdpSocket| {
        let mut docs = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = daemon.recv(&mut buf) {
            let text = String::from_utf8(buf[..n].to_vec()).unwrap();
            let (header, doc) = text.split_once('\n').expect("a header line, then the document");
            assert_eq!(header, r#"{"format": "json", "version": 1}"#);
            docs.push(serde_json::from_str::<serde_json::Value>(doc).unwrap());
        }
        docs
    };
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3).await;
    let secret = moto
        .secretsmanager()
        .create_secret()
        .name("ddb-lake/xray-key")
        .secret_string("xray-redaction-key-0123456789")
        .send()
        .await
        .unwrap();
    let api = LambdaApi::start();
    api.set_sampled(true);
    let address = daemon.local_addr().unwrap().to_string();
    let _function = Function::start(
        &api,
        &moto,
        &moto.endpoint,
        &[
            ("DDB_LAKE_SPEC", HASHING_SPEC),
            ("DDB_LAKE_REDACTION_KEY_SECRET", secret.arn().unwrap()),
            ("AWS_XRAY_DAEMON_ADDRESS", &address),
        ],
    );
    let mut insert = record("insert.json");
    insert["dynamodb"]["NewImage"]["owner"] = serde_json::json!({"S": "ann@example.com"});
    let resp = response(api.invoke(&event_of(vec![insert]).to_string(), INVOKE_TIMEOUT));
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]));
    let docs = received(&daemon);

    let header = api.trace_headers()[0].clone();
    let field = |name: &str| header.split(';').find_map(|p| p.strip_prefix(&format!("{name}="))).unwrap().to_string();
    let (root, parent) = (field("Root"), field("Parent"));
    for d in &docs {
        assert_eq!(
            (d["trace_id"].as_str(), d["parent_id"].as_str()),
            (Some(root.as_str()), Some(parent.as_str())),
            "{d}"
        );
        assert_eq!(d["type"], "subsegment");
        assert_eq!(d["namespace"], "aws");
        assert_eq!(d["annotations"]["outcome"], "ok", "{d}");
        assert!(d["start_time"].as_f64().unwrap() <= d["end_time"].as_f64().unwrap(), "{d}");
        assert_eq!(d["id"].as_str().map(str::len), Some(16));
    }
    let secrets: Vec<&serde_json::Value> = docs.iter().filter(|d| d["name"] == "SecretsManager").collect();
    assert_eq!(secrets.len(), 1, "the cold start's read, once");
    assert_eq!(secrets[0]["aws"]["operation"], "GetSecretValue");
    // One S3 subsegment per object written, by table.
    let mut traced: BTreeMap<String, usize> = BTreeMap::new();
    for d in docs.iter().filter(|d| d["name"] == "S3") {
        assert_eq!(d["aws"]["operation"], "PutObject");
        *traced.entry(d["annotations"]["table"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let mut written: BTreeMap<String, usize> = BTreeMap::new();
    for key in bucket_objects(&s3).await.keys() {
        *written.entry(key.split('/').next().unwrap().to_owned()).or_default() += 1;
    }
    assert!(!written.is_empty());
    assert_eq!(traced, written);
    assert_eq!(docs.len(), 1 + written.values().sum::<usize>());

    // Not sampled: nothing is sent.
    api.set_sampled(false);
    let resp = response(api.invoke(&event_of(vec![record("insert.json")]).to_string(), INVOKE_TIMEOUT));
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]));
    assert!(received(&daemon).is_empty());
    assert!(api.trace_headers()[1].ends_with("Sampled=0"));
}
