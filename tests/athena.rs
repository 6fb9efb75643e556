//! The Athena runner (`ddb-lake sql run --athena`) against moto_server's Athena API, which
//! returns seeded results and runs no SQL: submit, poll with backoff, page, state changes,
//! cancel on timeout. moto cannot produce a FAILED query, so those cases (and paging, which
//! moto does not do) use a small std-only stub speaking Athena's JSON protocol on 127.0.0.1.
//! Also `ddb-lake sql create-views` (the real binary): against moto, exactly the exported
//! view statements, in order, in the given workgroup and database; against the stub, it
//! stops at the first failed view with Athena's reason.

mod helpers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_athena::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_athena::types::{QueryExecutionState, WorkGroupConfiguration};
use aws_sdk_athena::Client;
use ddb_lake_sql::athena::{cost_estimate_usd, run_query, AthenaError, AthenaTarget, QueryOutcome};
use helpers::Moto;
use serde_json::{json, Value};

/// The 10 MB minimum at $5 per TB.
const MIN_COST: f64 = 5.0 * 1e7 / 1e12;

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_athena::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

fn target(database: &str) -> AthenaTarget {
    AthenaTarget { database: database.to_string(), ..AthenaTarget::default() }
}

/// Runs a query, collecting the states `on_state` was given.
async fn run(
    client: &Client,
    target: &AthenaTarget,
    sql: &str,
    timeout: Duration,
) -> (Result<QueryOutcome, AthenaError>, Vec<String>) {
    let mut states: Vec<String> = Vec::new();
    let mut on_state = |state: &str| states.push(state.to_string());
    let result = run_query(client, target, sql, &mut on_state, timeout).await;
    (result, states)
}

/// Queues results for the next query executions (moto's format: one entry per query).
fn seed_results(moto: &Moto, results: Value) {
    moto.post_api(
        "/moto-api/static/athena/query-results",
        &json!({"account_id": "123456789012", "region": "us-east-1", "results": results}).to_string(),
    );
}

/// `times` GetQueryExecution calls per state step (QUEUED → RUNNING → SUCCEEDED).
fn manual_transitions(moto: &Moto, times: u64) {
    moto.post_api(
        "/moto-api/state-manager/set-transition",
        &json!({"model_name": "athena::execution", "transition": {"progression": "manual", "times": times}})
            .to_string(),
    );
}

fn some(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some(v.to_string())).collect()
}

#[tokio::test]
async fn moto_seeded_results_come_back_exactly() {
    let moto = Moto::start();
    manual_transitions(&moto, 2);
    seed_results(
        &moto,
        json!([{
            "column_info": [
                {"Name": "pk", "Type": "varchar", "Nullable": "NULLABLE"},
                {"Name": "n", "Type": "bigint", "Nullable": "NULLABLE"},
                {"Name": "note", "Type": "varchar", "Nullable": "NULLABLE"}
            ],
            "rows": [
                {"Data": [{"VarCharValue": "pk"}, {"VarCharValue": "n"}, {"VarCharValue": "note"}]},
                {"Data": [{"VarCharValue": "user#1"}, {"VarCharValue": "3"}, {"VarCharValue": "hello, world"}]},
                {"Data": [{"VarCharValue": "user#2"}, {}, {"VarCharValue": ""}]},
                {"Data": [{"VarCharValue": "pk"}, {"VarCharValue": "n"}, {"VarCharValue": "note"}]},
                {"Data": [{}, {}, {}]}
            ]
        }]),
    );
    let client = client(&moto.endpoint.clone());

    let (result, states) =
        run(&client, &target("lake"), "SELECT pk, n, note FROM items", Duration::from_secs(30)).await;
    let outcome = result.expect("query succeeds");

    assert_eq!(outcome.columns, ["pk", "n", "note"]);
    assert_eq!(
        outcome.rows,
        vec![
            some(&["user#1", "3", "hello, world"]),
            vec![Some("user#2".to_string()), None, Some(String::new())],
            // only the first row is the header; a later row that looks like one is data
            some(&["pk", "n", "note"]),
            vec![None, None, None],
        ]
    );
    assert_eq!(states, ["QUEUED", "RUNNING", "SUCCEEDED"]);
    assert_eq!(outcome.bytes_scanned, 0);
    assert_eq!(outcome.cost_usd, MIN_COST);
    assert_eq!(outcome.engine_millis, Some(0));
    assert!(!outcome.execution_id.is_empty());

    // Nothing queued any more: moto answers no columns and no rows (and no NextToken) — no loop, no error.
    let (result, states) = run(&client, &target("lake"), "SELECT 1", Duration::from_secs(30)).await;
    let outcome = result.expect("query succeeds");
    assert!(outcome.columns.is_empty() && outcome.rows.is_empty(), "{outcome:?}");
    assert_eq!(states.last().map(String::as_str), Some("SUCCEEDED"));
}

/// Creates workgroup `name` (default configuration) in moto's Athena.
async fn create_work_group(client: &Client, name: &str) {
    client
        .create_work_group()
        .name(name)
        .configuration(WorkGroupConfiguration::builder().build())
        .send()
        .await
        .expect("create workgroup");
}

#[tokio::test]
async fn moto_records_workgroup_output_location_and_context() {
    let moto = Moto::start();
    let client = client(&moto.endpoint.clone());
    create_work_group(&client, "lake-wg").await;
    seed_results(
        &moto,
        json!([{
            "column_info": [{"Name": "c", "Type": "bigint"}],
            "rows": [{"Data": [{"VarCharValue": "c"}]}, {"Data": [{"VarCharValue": "42"}]}]
        }]),
    );
    let target = AthenaTarget {
        database: "lake_db".to_string(),
        workgroup: Some("lake-wg".to_string()),
        output_location: Some("s3://lake-results/athena/".to_string()),
        catalog: Some("AwsDataCatalog".to_string()),
    };
    let sql = "SELECT count(*) AS c FROM events";

    let (result, states) = run(&client, &target, sql, Duration::from_secs(30)).await;
    let outcome = result.expect("query succeeds");
    assert_eq!(outcome.rows, vec![some(&["42"])]);
    assert_eq!(states, ["SUCCEEDED"]);

    let execution = client
        .get_query_execution()
        .query_execution_id(&outcome.execution_id)
        .send()
        .await
        .expect("get query execution")
        .query_execution
        .expect("execution");
    assert_eq!(execution.work_group(), Some("lake-wg"));
    assert_eq!(execution.query(), Some(sql));
    let location = execution.result_configuration().and_then(|c| c.output_location()).unwrap_or_default();
    // moto appends "<execution id>.csv" to the location it was given, as Athena does
    assert_eq!(location, format!("s3://lake-results/athena/{}.csv", outcome.execution_id));
    let context = execution.query_execution_context().expect("context");
    assert_eq!(context.database(), Some("lake_db"));
    assert_eq!(context.catalog(), Some("AwsDataCatalog"));

    let listed = client.list_query_executions().work_group("lake-wg").send().await.expect("list");
    assert_eq!(listed.query_execution_ids(), std::slice::from_ref(&outcome.execution_id));

    // An unknown workgroup is refused at StartQueryExecution (moto: 400 InvalidRequestException).
    let missing = AthenaTarget { workgroup: Some("no-such-wg".to_string()), ..target.clone() };
    let (result, states) = run(&client, &missing, sql, Duration::from_secs(30)).await;
    match result {
        Err(err @ AthenaError::Start { .. }) => {
            assert!(err.to_string().contains("WorkGroup does not exist"), "{err}");
        }
        other => panic!("expected a Start error, got {other:?}"),
    }
    assert!(states.is_empty());
}

#[tokio::test]
async fn moto_timeout_cancels_the_query() {
    let moto = Moto::start();
    manual_transitions(&moto, 1_000_000); // stays QUEUED
    let client = client(&moto.endpoint.clone());

    let started = Instant::now();
    let (result, states) = run(&client, &target("lake"), "SELECT 1", Duration::from_secs(1)).await;
    let elapsed = started.elapsed();
    let (execution_id, waited) = match result {
        Err(AthenaError::Timeout { execution_id, waited }) => (execution_id, waited),
        other => panic!("expected a timeout, got {other:?}"),
    };
    assert!(waited >= Duration::from_secs(1) && elapsed < Duration::from_secs(10), "{waited:?} {elapsed:?}");
    assert_eq!(states, ["QUEUED"]);

    let execution = client
        .get_query_execution()
        .query_execution_id(&execution_id)
        .send()
        .await
        .expect("get query execution")
        .query_execution
        .expect("execution");
    assert_eq!(execution.status().and_then(|s| s.state()), Some(&QueryExecutionState::Cancelled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_cancelled_elsewhere_is_a_failure() {
    let moto = Moto::start();
    manual_transitions(&moto, 1_000_000); // stays QUEUED until stopped
    let client = client(&moto.endpoint.clone());

    // run_query's future is Send: it can run on another task.
    let states: Arc<Mutex<Vec<String>>> = Arc::default();
    let task = {
        let client = client.clone();
        let states = Arc::clone(&states);
        tokio::spawn(async move {
            let mut on_state = |state: &str| states.lock().expect("lock").push(state.to_string());
            run_query(&client, &target("lake"), "SELECT 1", &mut on_state, Duration::from_secs(60)).await
        })
    };
    // Stop the query once run_query has seen it QUEUED.
    let deadline = Instant::now() + Duration::from_secs(30);
    while states.lock().expect("lock").is_empty() {
        assert!(Instant::now() < deadline, "run_query never saw the query's state");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listed = client.list_query_executions().send().await.expect("list");
    let execution_id = listed.query_execution_ids().first().expect("one execution").clone();
    client.stop_query_execution().query_execution_id(&execution_id).send().await.expect("stop");

    let err = task.await.expect("task").expect_err("the query was cancelled");
    assert!(
        matches!(&err, AthenaError::Failed { execution_id: id, state, .. }
        if id == &execution_id && state == "CANCELLED"),
        "{err:?}"
    );
    assert!(err.to_string().starts_with(&format!("query {execution_id} CANCELLED: ")), "{err}");
    let states = states.lock().expect("lock").clone();
    assert_eq!(states, ["QUEUED", "CANCELLED"]);
}

// ---------------------------------------------------------------------------------------------------------
// `ddb-lake sql create-views`, through the binary.

fn example_spec() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/examples/sync-configurations.toml")
}

/// Runs `ddb-lake` with test credentials and no AWS configuration files.
fn ddb_lake(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .envs(helpers::LOCAL_AWS_ENV)
        .output()
        .expect("the ddb-lake binary runs")
}

/// (database, [(view name, version, statement)]) from `ddb-lake sql export`.
fn exported_views() -> (String, Vec<(String, u64, String)>) {
    let out = ddb_lake(&["sql", "export", "--spec", example_spec().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("export prints JSON");
    let views: Vec<(String, u64, String)> = json["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .filter(|q| q["kind"] == "view")
        .map(|q| {
            (q["name"].as_str().unwrap().to_string(), q["version"].as_u64().unwrap(), q["sql"].as_str().unwrap().into())
        })
        .collect();
    assert!(views.len() >= 5, "the example spec has 3 file views and 2 declared tables: {views:?}");
    (json["database"].as_str().expect("database").to_string(), views)
}

#[tokio::test]
async fn create_views_runs_every_view_statement_in_order_in_moto() {
    let moto = Moto::start();
    let client = client(&moto.endpoint.clone());
    create_work_group(&client, "views-wg").await;
    // A query in another workgroup is not one of create-views'.
    let (other, _) = run(&client, &target("elsewhere"), "SELECT 1", Duration::from_secs(30)).await;
    other.expect("a query in the primary workgroup");
    let (_, views) = exported_views();

    let out = ddb_lake(&[
        "sql",
        "create-views",
        "--spec",
        example_spec().to_str().unwrap(),
        "--database",
        "views_db",
        "--workgroup",
        "views-wg",
        "--output-location",
        "s3://lake-results/views/",
        "--endpoint-url",
        &moto.endpoint,
        "--timeout-secs",
        "30",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "create-views failed:\nstdout: {stdout}\nstderr: {stderr}");
    let expected_lines: Vec<String> =
        views.iter().map(|(name, version, _)| format!("created view {name} (v{version}) in views_db")).collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected_lines);

    let ids = client.list_query_executions().work_group("views-wg").send().await.expect("list");
    let mut executions = Vec::new();
    for id in ids.query_execution_ids() {
        let execution = client
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .expect("get query execution")
            .query_execution
            .expect("execution");
        executions.push(execution);
    }
    // In the order they were submitted (each only after the previous one succeeded).
    executions.sort_by_key(|e| e.status().and_then(|s| s.submission_date_time()).map(|t| t.as_nanos()));
    let statements: Vec<&str> = executions.iter().map(|e| e.query().unwrap_or_default()).collect();
    let expected: Vec<&str> = views.iter().map(|(_, _, sql)| sql.as_str()).collect();
    assert_eq!(statements, expected);
    assert!(statements.iter().all(|s| s.starts_with("CREATE OR REPLACE VIEW ")), "{statements:?}");
    for e in &executions {
        assert_eq!(e.work_group(), Some("views-wg"));
        assert_eq!(e.query_execution_context().and_then(|c| c.database()), Some("views_db"));
        assert_eq!(e.status().and_then(|s| s.state()), Some(&QueryExecutionState::Succeeded));
        let location = e.result_configuration().and_then(|c| c.output_location()).unwrap_or_default();
        assert!(location.starts_with("s3://lake-results/views/"), "{location}");
    }
}

#[test]
fn create_views_stops_at_the_first_failure_with_athenas_reason() {
    // The second statement fails; every other one succeeds.
    let stub = Stub::start(|operation, body, nth| match operation {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": format!("q{nth}")})),
        "GetQueryExecution" if body["QueryExecutionId"] == "q1" => {
            execution("FAILED", json!({"StateChangeReason": REASON}), json!({}))
        }
        "GetQueryExecution" => execution("SUCCEEDED", json!({}), json!({})),
        // A DDL statement's result: no columns, no rows.
        "GetQueryResults" => (200, json!({"ResultSet": {"ResultSetMetadata": {"ColumnInfo": []}, "Rows": []}})),
        other => unexpected(other),
    });
    let (database, views) = exported_views();

    let out = ddb_lake(&[
        "sql",
        "create-views",
        "--spec",
        example_spec().to_str().unwrap(),
        "--endpoint-url",
        &stub.endpoint(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout, format!("created view {} (v{}) in {database}\n", views[0].0, views[0].1), "{stderr}");
    let (failed, version, _) = &views[1];
    assert!(
        stderr.contains(&format!("cannot create view {failed} (v{version}) in {database}")) && stderr.contains(REASON),
        "{stderr}"
    );

    // Nothing after the failed view was started; each was sent in the spec's database.
    let started = stub.calls("StartQueryExecution");
    let sent: Vec<&str> = started.iter().map(|c| c.body["QueryString"].as_str().unwrap_or_default()).collect();
    assert_eq!(sent, [views[0].2.as_str(), views[1].2.as_str()]);
    assert!(started.iter().all(|c| c.body["QueryExecutionContext"]["Database"] == database.as_str()));
}

// ---------------------------------------------------------------------------------------------------------
// The stub: answers Athena's JSON protocol from a scripted handler and records every request.

/// One request the stub received.
#[derive(Debug, Clone)]
struct Recorded {
    /// The operation, from `X-Amz-Target` without the `AmazonAthena.` prefix.
    operation: String,
    body: Value,
    at: Instant,
}

/// The handler gets the operation, the request body and how many earlier calls of that operation there were;
/// it returns the status and the JSON body.
type Handler = dyn Fn(&str, &Value, usize) -> (u16, Value) + Send + Sync;

struct Stub {
    port: u16,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Stub {
    fn start(handler: impl Fn(&str, &Value, usize) -> (u16, Value) + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let port = listener.local_addr().expect("stub addr").port();
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = Arc::clone(&requests);
        // The thread ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = Arc::clone(&handler);
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || serve(stream, &*handler, &recorded));
            }
        });
        Stub { port, requests }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn calls(&self, operation: &str) -> Vec<Recorded> {
        self.requests.lock().expect("lock").iter().filter(|r| r.operation == operation).cloned().collect()
    }
}

/// Serves the requests of one connection (keep-alive), until the client closes it.
fn serve(stream: TcpStream, handler: &Handler, recorded: &Mutex<Vec<Recorded>>) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut operation = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("x-amz-target") {
                    operation = value.trim_start_matches("AmazonAthena.").to_string();
                } else if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let nth = {
            let mut recorded = recorded.lock().expect("lock");
            let nth = recorded.iter().filter(|r| r.operation == operation).count();
            recorded.push(Recorded { operation: operation.clone(), body: body.clone(), at: Instant::now() });
            nth
        };
        let (status, answer) = handler(&operation, &body, nth);
        let answer = answer.to_string();
        let response = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\
             x-amzn-RequestId: stub-{nth}\r\n\r\n{answer}",
            if status < 300 { "OK" } else { "Bad Request" },
            answer.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn execution(state: &str, extra_status: Value, statistics: Value) -> (u16, Value) {
    let mut status = json!({"State": state});
    if let (Some(status), Some(extra)) = (status.as_object_mut(), extra_status.as_object()) {
        status.extend(extra.clone());
    }
    (200, json!({"QueryExecution": {"QueryExecutionId": "q1", "Status": status, "Statistics": statistics}}))
}

fn unexpected(operation: &str) -> (u16, Value) {
    (400, json!({"__type": "InvalidRequestException", "Message": format!("stub: unexpected {operation}")}))
}

const REASON: &str = "SYNTAX_ERROR: line 1:8: Column 'x' cannot be resolved";

#[tokio::test]
async fn stub_failed_carries_the_reason_verbatim() {
    let stub = Stub::start(|operation, _, _| match operation {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q1"})),
        "GetQueryExecution" => execution("FAILED", json!({"StateChangeReason": REASON}), json!({})),
        other => unexpected(other),
    });
    let client = client(&stub.endpoint());

    let (result, states) = run(&client, &target("lake"), "SELECT x FROM t", Duration::from_secs(10)).await;
    let err = result.expect_err("the query failed");
    assert!(matches!(&err, AthenaError::Failed { execution_id, state, reason }
        if execution_id == "q1" && state == "FAILED" && reason == REASON));
    assert_eq!(err.to_string(), format!("query q1 FAILED: {REASON}"));
    assert_eq!(states, ["FAILED"]);
    assert!(stub.calls("GetQueryResults").is_empty());
}

#[tokio::test]
async fn stub_failed_adds_athena_error_details() {
    let stub = Stub::start(|operation, _, _| match operation {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q1"})),
        "GetQueryExecution" => execution(
            "FAILED",
            json!({
                "StateChangeReason": REASON,
                "AthenaError": {"ErrorCategory": 2, "ErrorType": 1001, "Retryable": false,
                                "ErrorMessage": "Column 'x' cannot be resolved in table t"}
            }),
            json!({}),
        ),
        other => unexpected(other),
    });
    let client = client(&stub.endpoint());

    let (result, _) = run(&client, &target("lake"), "SELECT x FROM t", Duration::from_secs(10)).await;
    let message = result.expect_err("the query failed").to_string();
    assert!(message.contains(REASON), "{message}");
    assert!(message.contains("Column 'x' cannot be resolved in table t"), "{message}");
    assert!(message.contains("error category 2") && message.contains("error type 1001"), "{message}");
}

#[tokio::test]
async fn stub_states_backoff_paging_and_request_parameters() {
    let stub = Stub::start(|operation, body, nth| match operation {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q1"})),
        "GetQueryExecution" => {
            let state = ["QUEUED", "RUNNING", "RUNNING", "RUNNING"].get(nth).copied().unwrap_or("SUCCEEDED");
            execution(
                state,
                json!({}),
                json!({"DataScannedInBytes": 123_456_789_012i64, "EngineExecutionTimeInMillis": 4321}),
            )
        }
        "GetQueryResults" => {
            let metadata = json!({"ColumnInfo": [
                {"Name": "day", "Type": "date"}, {"Name": "events", "Type": "bigint"}
            ]});
            match body.get("NextToken").and_then(Value::as_str) {
                None => (
                    200,
                    json!({"ResultSet": {"ResultSetMetadata": metadata, "Rows": [
                        {"Data": [{"VarCharValue": "day"}, {"VarCharValue": "events"}]},
                        {"Data": [{"VarCharValue": "2024-05-01"}, {"VarCharValue": "10"}]},
                        {"Data": [{"VarCharValue": "2024-05-02"}, {}]}
                    ]}, "NextToken": "page-2"}),
                ),
                Some("page-2") => (
                    200,
                    json!({"ResultSet": {"ResultSetMetadata": metadata, "Rows": [
                        {"Data": [{"VarCharValue": "2024-05-03"}, {"VarCharValue": "7"}]}
                    ]}}),
                ),
                Some(other) => unexpected(&format!("NextToken {other}")),
            }
        }
        other => unexpected(other),
    });
    let client = client(&stub.endpoint());
    let target = AthenaTarget {
        database: "lake_db".to_string(),
        workgroup: Some("analysts".to_string()),
        output_location: Some("s3://lake-results/q/".to_string()),
        catalog: Some("lake_catalog".to_string()),
    };
    let sql = "SELECT day, count(*) AS events FROM events GROUP BY day";

    let (result, states) = run(&client, &target, sql, Duration::from_secs(30)).await;
    let outcome = result.expect("query succeeds");

    assert_eq!(
        outcome,
        QueryOutcome {
            execution_id: "q1".to_string(),
            columns: vec!["day".to_string(), "events".to_string()],
            rows: vec![
                some(&["2024-05-01", "10"]),
                vec![Some("2024-05-02".to_string()), None],
                some(&["2024-05-03", "7"]),
            ],
            bytes_scanned: 123_456_789_012,
            cost_usd: cost_estimate_usd(123_456_789_012),
            engine_millis: Some(4321),
        }
    );
    assert!((outcome.cost_usd - 0.61728394506).abs() < 1e-12, "{}", outcome.cost_usd);
    assert_eq!(states, ["QUEUED", "RUNNING", "SUCCEEDED"]);

    // What StartQueryExecution was asked.
    let start = &stub.calls("StartQueryExecution")[0].body;
    assert_eq!(start["QueryString"], sql);
    assert_eq!(start["QueryExecutionContext"], json!({"Database": "lake_db", "Catalog": "lake_catalog"}));
    assert_eq!(start["WorkGroup"], "analysts");
    assert_eq!(start["ResultConfiguration"]["OutputLocation"], "s3://lake-results/q/");

    // Polling backs off: 100, 200, 400, 800 ms between the five GetQueryExecution calls.
    let polls = stub.calls("GetQueryExecution");
    assert_eq!(polls.len(), 5);
    assert!(polls.iter().all(|p| p.body["QueryExecutionId"] == "q1"));
    let gaps: Vec<Duration> = polls.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (gap, expected) in gaps.iter().zip([100u64, 200, 400, 800]) {
        assert!(*gap >= Duration::from_millis(expected - 5), "gaps {gaps:?}");
        assert!(*gap < Duration::from_millis(2 * expected + 1000), "gaps {gaps:?}");
    }

    // Paging: 1000 rows a page, the second page asked with the first page's token.
    let pages = stub.calls("GetQueryResults");
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].body["MaxResults"], 1000);
    assert_eq!(pages[0].body.get("NextToken"), None);
    assert_eq!(pages[1].body["MaxResults"], 1000);
    assert_eq!(pages[1].body["NextToken"], "page-2");
}

#[tokio::test]
async fn stub_timeout_stops_the_query() {
    let stub = Stub::start(|operation, _, _| match operation {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q1"})),
        "GetQueryExecution" => execution("RUNNING", json!({}), json!({})),
        "StopQueryExecution" => (200, json!({})),
        other => unexpected(other),
    });
    let client = client(&stub.endpoint());

    let started = Instant::now();
    let (result, states) = run(&client, &target("lake"), "SELECT 1", Duration::from_secs(1)).await;
    let elapsed = started.elapsed();
    let err = result.expect_err("times out");
    assert!(
        matches!(&err, AthenaError::Timeout { execution_id, waited }
        if execution_id == "q1" && *waited >= Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(err.to_string().contains("q1"), "{err}");
    assert_eq!(states, ["RUNNING"]);

    let stops = stub.calls("StopQueryExecution");
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].body["QueryExecutionId"], "q1");
    // Polls at about 0, 0.1, 0.3, 0.7 and 1.0 s (the last wait is cut to the timeout); fewer on a slow machine.
    let polls = stub.calls("GetQueryExecution").len();
    assert!((3..=6).contains(&polls), "{polls} polls");
}

#[tokio::test]
async fn stub_repeated_next_token_is_an_error_not_a_loop() {
    let stub = Stub::start(|operation, _, _| match operation {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q1"})),
        "GetQueryExecution" => execution("SUCCEEDED", json!({}), json!({})),
        "GetQueryResults" => (
            200,
            json!({"ResultSet": {"ResultSetMetadata": {"ColumnInfo": [{"Name": "a", "Type": "bigint"}]},
                   "Rows": [{"Data": [{"VarCharValue": "1"}]}]}, "NextToken": "same"}),
        ),
        other => unexpected(other),
    });
    let client = client(&stub.endpoint());

    let (result, _) = run(&client, &target("lake"), "SELECT a FROM t", Duration::from_secs(10)).await;
    let err = result.expect_err("a server repeating its NextToken is an error");
    assert!(
        matches!(&err, AthenaError::Api { operation: "GetQueryResults", execution_id, .. } if execution_id == "q1")
    );
    assert_eq!(stub.calls("GetQueryResults").len(), 2);
}

#[tokio::test]
async fn stub_refused_start_and_failing_poll() {
    let stub = Stub::start(|operation, body, _| match operation {
        "StartQueryExecution" if body["QueryString"] == "refuse me" => {
            (400, json!({"__type": "InvalidRequestException", "Message": "line 1:1: mismatched input 'refuse'"}))
        }
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q2"})),
        other => unexpected(other),
    });
    let client = client(&stub.endpoint());

    let (result, states) = run(&client, &target("lake"), "refuse me", Duration::from_secs(10)).await;
    let err = result.expect_err("refused");
    assert!(matches!(err, AthenaError::Start { .. }), "{err:?}");
    assert!(err.to_string().contains("line 1:1: mismatched input 'refuse'"), "{err}");
    assert!(states.is_empty());

    let (result, _) = run(&client, &target("lake"), "SELECT 1", Duration::from_secs(10)).await;
    let err = result.expect_err("GetQueryExecution fails");
    assert!(
        matches!(&err, AthenaError::Api { operation: "GetQueryExecution", execution_id, message }
        if execution_id == "q2" && message.contains("stub: unexpected GetQueryExecution")),
        "{err:?}"
    );
}

#[test]
fn cost_has_a_10_mb_minimum() {
    assert_eq!(cost_estimate_usd(0), MIN_COST);
    assert_eq!(cost_estimate_usd(1), MIN_COST);
    assert_eq!(cost_estimate_usd(-5), MIN_COST);
    assert_eq!(cost_estimate_usd(10_000_000), MIN_COST);
    assert!(cost_estimate_usd(10_000_001) > MIN_COST);
}

#[test]
fn cost_is_5_dollars_per_terabyte() {
    assert_eq!(cost_estimate_usd(1_000_000_000_000), 5.0);
    assert_eq!(cost_estimate_usd(2_000_000_000_000), 10.0);
    assert!((cost_estimate_usd(500_000_000_000) - 2.5).abs() < 1e-12);
    assert!((cost_estimate_usd(100_000_000) - 0.0005).abs() < 1e-15);
    assert!(cost_estimate_usd(i64::MAX).is_finite());
}

/// One seeded result: `columns`, then one row per entry (a header row first, as Athena gives).
fn result_set(columns: &[&str], rows: &[Vec<&str>]) -> Value {
    let row = |cells: Vec<&str>| json!({"Data": cells.iter().map(|c| json!({"VarCharValue": c})).collect::<Vec<_>>()});
    json!({
        "column_info": columns.iter().map(|c| json!({"Name": c, "Type": "varchar", "Nullable": "NULLABLE"})).collect::<Vec<_>>(),
        "rows": std::iter::once(row(columns.to_vec())).chain(rows.iter().map(|r| row(r.clone()))).collect::<Vec<_>>(),
    })
}

/// Every statement submitted in `workgroup`, in submission order.
async fn submitted(client: &Client, workgroup: &str) -> Vec<String> {
    let ids = client.list_query_executions().work_group(workgroup).send().await.expect("list");
    let mut executions = Vec::new();
    for id in ids.query_execution_ids() {
        let e = client.get_query_execution().query_execution_id(id).send().await.expect("get").query_execution.unwrap();
        executions.push(e);
    }
    executions.sort_by_key(|e| e.status().and_then(|s| s.submission_date_time()).map(|t| t.as_nanos()));
    executions.iter().map(|e| e.query().unwrap_or_default().to_string()).collect()
}

/// `ddb-lake compact --lake s3://…` against moto. moto's Athena runs no SQL: it answers seeded
/// results in order, so the plan, the batches, the run's row and the obsolete keys are seeded
/// (empty answers for the INSERTs). Checked: every statement submitted is the exported one with
/// the plan's values (rendered here), in run order, a batch at a time; the row object is written
/// where the lake's reader finds the watermark; exactly the keys the obsolete query named are
/// removed. Then a lake compacted through a later day is refused before anything is written.
#[tokio::test]
async fn compact_in_athena_runs_the_exported_statements_and_removes_what_they_name() {
    let moto = Moto::start();
    let client = client(&moto.endpoint.clone());
    create_work_group(&client, "compact-wg").await;
    let s3 = moto.s3();
    s3.create_bucket().bucket("lake-bucket").send().await.expect("bucket");
    let obsolete = [
        "lake/changes/dt=2026-01-01/a.tsv.gz",
        "lake/attributes/dt=2026-11-28/b.tsv.gz",
        "lake/changes_state/old.parquet",
    ];
    let kept = ["lake/changes/dt=2026-11-29/c.tsv.gz", "lake/_quarantine/q.jsonl.gz", "lake/changes_state/new.parquet"];
    for key in obsolete.iter().chain(&kept) {
        s3.put_object().bucket("lake-bucket").key(*key).body(b"x".to_vec().into()).send().await.expect("put");
    }

    let export = ddb_lake(&["sql", "export", "--spec", example_spec().to_str().unwrap()]);
    assert!(export.status.success());
    let json: Value = serde_json::from_slice(&export.stdout).unwrap();
    let statements = json["compaction"]["statements"].as_array().unwrap().clone();
    let of = |step: &str| -> Vec<String> {
        statements.iter().filter(|s| s["step"] == step).map(|s| s["sql"].as_str().unwrap().to_string()).collect()
    };
    let id = "2026-11-28_20261130T033000123Z";
    let values = [
        ("through", "2026-11-28"),
        ("compaction_id", id),
        ("cutoff", "2026-11-30T03:15:00.123Z"),
        ("started", "2026-11-30 03:30:00.123"),
    ];
    let with = |sql: &str, extra: &[(&str, &str)]| {
        let mut out = sql.to_string();
        for (k, v) in values.iter().chain(extra) {
            out = out.replace(&format!("{{{{{k}}}}}"), &format!("'{v}'"));
        }
        assert!(!out.contains("{{"), "{out}");
        out
    };
    let object = format!(
        "compaction_id\tthrough\twatermark\tfolded_objects\tfolded_bytes\tstate_items\tcreated_at\n\
         {id}\t2026-11-28\t2026-11-29 00:00:00.000\t2\t5120\t7\t2026-11-30 03:30:00.123\n"
    );
    let batches = [("2026-01-01", "2026-04-10"), ("2026-04-11", "2026-11-28")];
    let mut seeded = vec![
        result_set(
            &["through", "compaction_id", "cutoff", "started", "previous"],
            &[vec!["2026-11-28", id, values[2].1, values[3].1, "2026-11-20"]],
        ),
        result_set(&["first_day", "last_day"], &batches.iter().map(|(f, l)| vec![*f, *l]).collect::<Vec<_>>()),
    ];
    let inserts = of("history").len() * batches.len() + of("state").len();
    seeded.extend((0..inserts).map(|_| json!({"column_info": [], "rows": []})));
    seeded.push(result_set(&["object"], &[vec![object.as_str()]]));
    seeded.push(result_set(&["Key"], &obsolete.iter().map(|k| vec![*k]).collect::<Vec<_>>()));
    seed_results(&moto, Value::Array(seeded));

    let args = |lake: &str| {
        vec![
            "compact".to_string(),
            "--lake".into(),
            lake.into(),
            "--spec".into(),
            example_spec().to_str().unwrap().into(),
            "--workgroup".into(),
            "compact-wg".into(),
            "--endpoint-url".into(),
            moto.endpoint.clone(),
            "--timeout-secs".into(),
            "30".into(),
        ]
    };
    let argv = args("s3://lake-bucket/lake");
    let out = ddb_lake(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            format!("compacted s3://lake-bucket/lake through 2026-11-28 (run {id}, in Athena)"),
            "  folded   2 text objects, 5120 bytes".into(),
            "  state    7 items".into(),
            "  removed  3 objects it made redundant".into(),
        ]
    );

    let mut want = vec![of("plan")[0].clone(), with(&of("batches")[0], &[])];
    for (first, last) in batches {
        want.extend(of("history").iter().map(|s| with(s, &[("first_day", first), ("last_day", last)])));
    }
    want.extend(of("state").iter().map(|s| with(s, &[])));
    want.push(with(&of("row")[0], &[]));
    want.push(with(&of("obsolete")[0], &[]));
    assert_eq!(submitted(&client, "compact-wg").await, want);

    // The row, where the lake's reader finds the watermark.
    let key = format!("lake/compactions/dt=2026-11-28/compaction_{id}.tsv");
    let got = s3.get_object().bucket("lake-bucket").key(&key).send().await.expect("the row object");
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), object.as_bytes());
    let sink = ddb_lake_writer::s3::S3Sink::new(
        s3.clone(),
        "lake-bucket",
        "lake",
        None,
        ddb_lake_writer::s3::Encryption::BucketDefault,
    );
    use ddb_lake_writer::sink::LakeReader;
    assert_eq!(sink.compacted_through().await.unwrap().as_deref(), Some("2026-11-28"));
    // Exactly the obsolete keys are gone.
    let listed = s3.list_objects_v2().bucket("lake-bucket").send().await.unwrap();
    let mut left: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    left.sort();
    let mut want_left: Vec<&str> = kept.iter().copied().chain([key.as_str()]).collect();
    want_left.sort();
    assert_eq!(left, want_left);

    // Compacted through a later day than this run's: refused after the plan, nothing written.
    seed_results(
        &moto,
        json!([result_set(
            &["through", "compaction_id", "cutoff", "started", "previous"],
            &[vec!["2026-11-28", id, values[2].1, values[3].1, "2026-12-01"]],
        )]),
    );
    let before = submitted(&client, "compact-wg").await.len();
    let out = ddb_lake(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("s3://lake-bucket/lake is already compacted through 2026-12-01"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(submitted(&client, "compact-wg").await.len(), before + 1, "only the plan ran");
}

/// `ddb-lake report --athena` against moto: every question runs in Athena (exactly the
/// exported statement, in file order) and the page shows what Athena answered, per question.
#[tokio::test]
async fn report_in_athena_shows_each_questions_answer() {
    let moto = Moto::start();
    let client = client(&moto.endpoint.clone());
    create_work_group(&client, "report-wg").await;
    let export = ddb_lake(&["sql", "export", "--spec", example_spec().to_str().unwrap()]);
    let json: Value = serde_json::from_slice(&export.stdout).unwrap();
    let questions: Vec<(String, String)> = json["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["kind"] == "question")
        .map(|q| (q["name"].as_str().unwrap().to_string(), q["sql"].as_str().unwrap().to_string()))
        .collect();
    let seeded: Vec<Value> = questions
        .iter()
        .map(|(name, _)| {
            let (a, b) = (format!("{name}-first"), format!("{name}-<second>"));
            result_set(&["label", "n"], &[vec![a.as_str(), "3"], vec![b.as_str(), "1"]])
        })
        .collect();
    seed_results(&moto, Value::Array(seeded));
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let out = ddb_lake(&[
        "report",
        "--athena",
        "--spec",
        example_spec().to_str().unwrap(),
        "--database",
        "report_db",
        "--workgroup",
        "report-wg",
        "--endpoint-url",
        &moto.endpoint,
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("from Athena, database report_db"), "{html}");
    assert_eq!(submitted(&client, "report-wg").await, questions.iter().map(|(_, sql)| sql.clone()).collect::<Vec<_>>());
    for (name, _) in &questions {
        let section = html.split(&format!("<section id=\"{name}\"")).nth(1).unwrap();
        let section = &section[..section.find("</section>").unwrap()];
        assert!(section.contains(&format!("<td>{name}-first</td>")), "{name}");
        assert!(section.contains(&format!("<td>{name}-&lt;second&gt;</td>")), "{name}: escaped");
        assert!(section.contains("class=\"chart bars\""), "{name}");
    }
}
