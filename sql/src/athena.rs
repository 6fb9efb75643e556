//! Running the lake's canned SQL in Amazon Athena.
//!
//! `ddb-lake sql run NAME --athena` sends one of the canned questions of `sql/` to Athena instead of the
//! embedded engine: the CLI builds an [`aws_sdk_athena::Client`] and an [`AthenaTarget`] (database, optional
//! workgroup, result location and catalog) and calls [`run_query`], which starts the query, polls it with
//! backoff until it ends, reports each state change (so the CLI can show `QUEUED`, `RUNNING`...), and then
//! pages through the results. The returned [`QueryOutcome`] carries the rows as text (Athena returns every
//! value as a string; SQL NULL is `None`), the bytes scanned and what they cost ([`cost_estimate_usd`]).
//!
//! A query that ends `FAILED` or `CANCELLED` is an [`AthenaError::Failed`] whose message is Athena's own
//! reason, verbatim; a query still running after the caller's timeout is cancelled (best effort) and
//! reported as [`AthenaError::Timeout`].

use std::time::{Duration, Instant};

use aws_sdk_athena::error::DisplayErrorContext;
use aws_sdk_athena::types::{QueryExecution, QueryExecutionContext, QueryExecutionState, ResultConfiguration, Row};
use aws_sdk_athena::Client;

/// Athena's list price: US dollars per terabyte (10^12 bytes) scanned.
const USD_PER_TB: f64 = 5.0;
/// Bytes in the terabyte Athena bills by.
const BYTES_PER_TB: f64 = 1e12;
/// Athena bills at least 10 MB per query, however little it scanned.
const MIN_BILLED_BYTES: i64 = 10_000_000;

/// First wait between two `GetQueryExecution` calls.
const FIRST_POLL_DELAY: Duration = Duration::from_millis(100);
/// Longest wait between two `GetQueryExecution` calls.
const MAX_POLL_DELAY: Duration = Duration::from_secs(2);
/// Rows asked for per `GetQueryResults` page (Athena's maximum).
const PAGE_SIZE: i32 = 1000;

/// Where and how to run queries.
#[derive(Debug, Clone, Default)]
pub struct AthenaTarget {
    /// Database the query's unqualified table names resolve in (`QueryExecutionContext.Database`); empty =
    /// none sent.
    pub database: String,
    /// Workgroup to run in (`WorkGroup`); `None` = the API's default, `primary`.
    pub workgroup: Option<String>,
    /// Where Athena writes the result files (`ResultConfiguration.OutputLocation`, an `s3://` URI); `None` =
    /// the workgroup's own setting.
    pub output_location: Option<String>,
    /// Data catalog (`QueryExecutionContext.Catalog`); `None` = Athena's default, `AwsDataCatalog`.
    pub catalog: Option<String>,
}

/// What a finished query returned.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutcome {
    /// Athena's id for the query execution.
    pub execution_id: String,
    /// Column names, in order, from the result set's metadata.
    pub columns: Vec<String>,
    /// Result rows, without the header row Athena puts first; a NULL value (a datum without
    /// `VarCharValue`) is `None`.
    pub rows: Vec<Vec<Option<String>>>,
    /// Bytes Athena scanned (`Statistics.DataScannedInBytes`; 0 when not reported).
    pub bytes_scanned: i64,
    /// Estimated cost of the query in US dollars, from [`cost_estimate_usd`].
    pub cost_usd: f64,
    /// Engine execution time in milliseconds, when Athena reports it.
    pub engine_millis: Option<i64>,
}

/// Why a query did not return rows.
#[derive(Debug, thiserror::Error)]
pub enum AthenaError {
    /// StartQueryExecution was refused or could not be sent.
    #[error("could not start the Athena query: {message}")]
    Start {
        /// The SDK's error, with its full context (`DisplayErrorContext`).
        message: String,
    },
    /// The query ended `FAILED` or `CANCELLED`.
    #[error("query {execution_id} {state}: {reason}")]
    Failed {
        /// Athena's id for the query execution.
        execution_id: String,
        /// The final state, `FAILED` or `CANCELLED`.
        state: String,
        /// Athena's `StateChangeReason` verbatim, followed by `AthenaError.ErrorMessage` (when it says more)
        /// and the error category and type (when present).
        reason: String,
    },
    /// GetQueryExecution or GetQueryResults failed.
    #[error("{operation} for query {execution_id} failed: {message}")]
    Api {
        /// The Athena operation that failed, e.g. `GetQueryResults`.
        operation: &'static str,
        /// Athena's id for the query execution.
        execution_id: String,
        /// The SDK's error, with its full context (`DisplayErrorContext`).
        message: String,
    },
    /// Still not finished after the timeout; the query was then cancelled with StopQueryExecution (best
    /// effort).
    #[error("query {execution_id} still not finished after {waited:?}; asked Athena to cancel it")]
    Timeout {
        /// Athena's id for the query execution.
        execution_id: String,
        /// How long the query was waited for.
        waited: Duration,
    },
}

/// Price per TB scanned and the 10 MB minimum per query (Athena's billing rule): $5.00 per TB (10^12
/// bytes), at least 10 MB (10,000,000 bytes) billed per query. A negative count is billed as the minimum.
pub fn cost_estimate_usd(bytes_scanned: i64) -> f64 {
    let billed = bytes_scanned.max(MIN_BILLED_BYTES);
    USD_PER_TB * billed as f64 / BYTES_PER_TB
}

/// Runs one query and returns its rows.
///
/// Starts it with StartQueryExecution (in `target`'s database, catalog, workgroup and output location),
/// polls GetQueryExecution with backoff (100 ms, doubling, at most 2 s between calls), calling
/// `on_state(state_name)` each time the state changes (`QUEUED`, `RUNNING`, `SUCCEEDED`...), then pages
/// through GetQueryResults (1000 rows a page, following `NextToken`). Athena's first row of a SELECT repeats
/// the column names: it is dropped when it equals the column names from `ResultSetMetadata`.
///
/// A query that has not ended within `timeout` is stopped with StopQueryExecution (best effort) and reported
/// as [`AthenaError::Timeout`]; one that ends `FAILED` or `CANCELLED` is [`AthenaError::Failed`].
pub async fn run_query(
    client: &Client,
    target: &AthenaTarget,
    sql: &str,
    on_state: &mut (dyn FnMut(&str) + Send),
    timeout: Duration,
) -> Result<QueryOutcome, AthenaError> {
    let execution_id = start(client, target, sql).await?;
    let execution = wait(client, &execution_id, on_state, timeout).await?;
    let (columns, rows) = fetch_results(client, &execution_id).await?;

    let statistics = execution.statistics();
    let bytes_scanned = statistics.and_then(|s| s.data_scanned_in_bytes()).unwrap_or(0);
    Ok(QueryOutcome {
        execution_id,
        columns,
        rows,
        bytes_scanned,
        cost_usd: cost_estimate_usd(bytes_scanned),
        engine_millis: statistics.and_then(|s| s.engine_execution_time_in_millis()),
    })
}

/// StartQueryExecution; returns the execution id.
async fn start(client: &Client, target: &AthenaTarget, sql: &str) -> Result<String, AthenaError> {
    let mut context = QueryExecutionContext::builder();
    if !target.database.is_empty() {
        context = context.database(&target.database);
    }
    if let Some(catalog) = &target.catalog {
        context = context.catalog(catalog);
    }
    let mut request = client.start_query_execution().query_string(sql).query_execution_context(context.build());
    if let Some(workgroup) = &target.workgroup {
        request = request.work_group(workgroup);
    }
    if let Some(location) = &target.output_location {
        request = request.result_configuration(ResultConfiguration::builder().output_location(location).build());
    }
    let output =
        request.send().await.map_err(|e| AthenaError::Start { message: DisplayErrorContext(&e).to_string() })?;
    match output.query_execution_id() {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(AthenaError::Start { message: "StartQueryExecution returned no QueryExecutionId".to_string() }),
    }
}

/// Polls GetQueryExecution until the query succeeds (returning its last description), fails, or times out.
async fn wait(
    client: &Client,
    execution_id: &str,
    on_state: &mut (dyn FnMut(&str) + Send),
    timeout: Duration,
) -> Result<QueryExecution, AthenaError> {
    let started = Instant::now();
    let mut delay = FIRST_POLL_DELAY;
    let mut last_state: Option<QueryExecutionState> = None;
    loop {
        let output = client.get_query_execution().query_execution_id(execution_id).send().await.map_err(|e| {
            AthenaError::Api {
                operation: "GetQueryExecution",
                execution_id: execution_id.to_string(),
                message: DisplayErrorContext(&e).to_string(),
            }
        })?;
        if let Some(execution) = output.query_execution {
            let state = execution.status().and_then(|s| s.state()).cloned();
            if let Some(state) = state {
                if last_state.as_ref() != Some(&state) {
                    on_state(state.as_str());
                    last_state = Some(state.clone());
                }
                match state {
                    QueryExecutionState::Succeeded => return Ok(execution),
                    QueryExecutionState::Failed | QueryExecutionState::Cancelled => {
                        return Err(AthenaError::Failed {
                            execution_id: execution_id.to_string(),
                            state: state.as_str().to_string(),
                            reason: failure_reason(&execution),
                        });
                    }
                    _ => {}
                }
            }
        }

        let waited = started.elapsed();
        if waited >= timeout {
            // Best effort: the caller learns about the timeout whether or not the stop request gets through.
            let _ = client.stop_query_execution().query_execution_id(execution_id).send().await;
            return Err(AthenaError::Timeout { execution_id: execution_id.to_string(), waited });
        }
        tokio::time::sleep(delay.min(timeout - waited)).await;
        delay = (delay * 2).min(MAX_POLL_DELAY);
    }
}

/// Athena's `StateChangeReason`, then `AthenaError.ErrorMessage` when it adds something, then the error
/// category and type when present.
fn failure_reason(execution: &QueryExecution) -> String {
    let status = execution.status();
    let mut reason = status.and_then(|s| s.state_change_reason()).unwrap_or_default().to_string();
    if let Some(error) = status.and_then(|s| s.athena_error()) {
        if let Some(message) = error.error_message().filter(|m| !m.is_empty() && !reason.contains(*m)) {
            if !reason.is_empty() {
                reason.push_str("; ");
            }
            reason.push_str(message);
        }
        let codes: Vec<String> = [("error category", error.error_category()), ("error type", error.error_type())]
            .into_iter()
            .filter_map(|(name, code)| code.map(|code| format!("{name} {code}")))
            .collect();
        if !codes.is_empty() {
            if !reason.is_empty() {
                reason.push(' ');
            }
            reason.push_str(&format!("({})", codes.join(", ")));
        }
    }
    if reason.is_empty() {
        reason.push_str("Athena gave no reason");
    }
    reason
}

/// Pages through GetQueryResults; returns the column names and the rows without the header row.
async fn fetch_results(
    client: &Client,
    execution_id: &str,
) -> Result<(Vec<String>, Vec<Vec<Option<String>>>), AthenaError> {
    let api_error = |message: String| AthenaError::Api {
        operation: "GetQueryResults",
        execution_id: execution_id.to_string(),
        message,
    };
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    let mut next_token: Option<String> = None;
    let mut first_page = true;
    loop {
        let output = client
            .get_query_results()
            .query_execution_id(execution_id)
            .max_results(PAGE_SIZE)
            .set_next_token(next_token.clone())
            .send()
            .await
            .map_err(|e| api_error(DisplayErrorContext(&e).to_string()))?;

        if let Some(result_set) = output.result_set() {
            if columns.is_empty() {
                if let Some(metadata) = result_set.result_set_metadata() {
                    columns = metadata.column_info().iter().map(|c| c.name().to_string()).collect();
                }
            }
            let mut page = result_set.rows().iter().map(row_values).peekable();
            if first_page && !columns.is_empty() {
                // Only the first page starts with the header row: skip it when it repeats the column names.
                let _header = page.next_if(|row| is_header(row, &columns));
            }
            rows.extend(page);
        }
        first_page = false;

        match output.next_token().filter(|t| !t.is_empty()) {
            None => break,
            Some(token) if next_token.as_deref() == Some(token) => {
                return Err(api_error(format!("GetQueryResults returned the same NextToken twice ({token})")));
            }
            Some(token) => next_token = Some(token.to_string()),
        }
    }
    Ok((columns, rows))
}

/// One row's values; a datum without `VarCharValue` is SQL NULL.
fn row_values(row: &Row) -> Vec<Option<String>> {
    row.data().iter().map(|datum| datum.var_char_value().map(str::to_string)).collect()
}

/// Whether `row` is exactly the column names.
fn is_header(row: &[Option<String>], columns: &[String]) -> bool {
    row.len() == columns.len() && row.iter().zip(columns).all(|(value, name)| value.as_deref() == Some(name.as_str()))
}
