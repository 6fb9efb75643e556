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

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord, StreamViewType, UserIdentity};
use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_dynamo::{AttributeValue, Item};

pub mod export;
mod lambda_json;
pub use lambda_json::event_json;
use lambda_json::{write_event, write_record};

/// The default start of the generated history (RFC 3339).
pub const DEFAULT_START: &str = "2026-11-01T00:00:00Z";

const DEFAULT_TABLE_NAME: &str = "sync-configurations";
const DEFAULT_STREAM_ARN: &str =
    "arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations/stream/2026-11-01T00:00:00.000";
const DEFAULT_REGION: &str = "us-east-1";

const MAX_ITEMS: usize = 1_000_000;
const MAX_CUSTOMERS: usize = 100_000;
const MAX_DAYS: u32 = 3650;
/// Lambda's largest batch size for a DynamoDB stream.
const MAX_RECORDS_PER_EVENT: usize = 10_000;
/// 9999-12-31T23:59:59Z, the last second the history may reach.
const MAX_TIMESTAMP: i64 = 253_402_300_799;

const ZIPF_EXPONENT: f64 = 1.1;
const FIRST_SEQUENCE_NUMBER: u128 = 100_000_000_000_000_000_001;
const MAX_MODIFIES_PER_ITEM: u64 = 40;

/// Options for [`generate`].
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Number of distinct sync-configuration items created (each gets one
    /// `INSERT`); 1 to 1,000,000, default 1000. The history has about four
    /// to five records per item.
    pub items: usize,
    /// Number of distinct customers the items belong to; 1 to 100,000,
    /// default 50. Items are Zipf-distributed over customers (exponent 1.1),
    /// so a few customers own most items; some customers may own none.
    pub customers: usize,
    /// The history is spread over this many days from `start`; 1 to 3650,
    /// default 7.
    pub days: u32,
    /// Start of the history (sub-second parts are ignored); default
    /// [`DEFAULT_START`]. The history must lie between 1970 and the year 9999.
    pub start: DateTime<Utc>,
    /// Seed of the random generator: the same options give the same output;
    /// default 42.
    pub seed: u64,
    /// Stream records per Lambda event; 1 to 10,000, default 100 (Lambda's
    /// default batch size).
    pub records_per_event: usize,
    /// `eventSourceARN` of every record; its region (the fourth `:` field)
    /// becomes `awsRegion`. It must contain `:table/<table_name>/stream/`; an
    /// empty string derives it from `table_name` and `start` in `us-east-1`.
    /// Default
    /// `arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations/stream/2026-11-01T00:00:00.000`.
    pub stream_arn: String,
    /// Name of the table the stream belongs to (3 to 255 characters of
    /// `A-Z a-z 0-9 _ - .`); default `sync-configurations`.
    pub table_name: String,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            items: 1000,
            customers: 50,
            days: 7,
            start: default_start(),
            seed: 42,
            records_per_event: 100,
            stream_arn: DEFAULT_STREAM_ARN.to_owned(),
            table_name: DEFAULT_TABLE_NAME.to_owned(),
        }
    }
}

fn default_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(DEFAULT_START).map(|t| t.with_timezone(&Utc)).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Why [`generate`] refused its options. Each message names the option and
/// says what is valid.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A numeric option is outside its valid range.
    #[error("option `{option}` must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// The option's name, e.g. `items`.
        option: &'static str,
        /// Smallest valid value.
        min: u64,
        /// Largest valid value.
        max: u64,
        /// The value given.
        value: u64,
    },
    /// `start`, or `start` plus `days`, is outside 1970-01-01 ..= 9999-12-31.
    #[error(
        "option `start` must be from 1970-01-01T00:00:00Z on, and `start` plus `days` must end \
         by 9999-12-31T23:59:59Z; got start {start} with {days} days"
    )]
    StartOutOfRange {
        /// The start given (RFC 3339).
        start: String,
        /// The number of days given.
        days: u32,
    },
    /// `table_name` is not a valid DynamoDB table name.
    #[error(
        "option `table_name` must be 3 to 255 characters from A-Z, a-z, 0-9, `_`, `-` and `.`, \
         got {0:?}"
    )]
    InvalidTableName(String),
    /// `stream_arn` is not a stream ARN of `table_name`.
    #[error(
        "option `stream_arn` must be a stream ARN of table `{table_name}` (containing \
         `:table/{table_name}/stream/`), or empty to derive one; got {stream_arn:?}"
    )]
    StreamArnMismatch {
        /// The stream ARN given.
        stream_arn: String,
        /// The table name given.
        table_name: String,
    },
}

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

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/// Options after validation, in the form the generator uses.
struct Checked {
    /// First second of the history (epoch seconds).
    start: i64,
    /// First second after the history.
    end: i64,
    stream_arn: String,
    region: String,
}

fn check_range(option: &'static str, value: u64, min: u64, max: u64) -> Result<(), SynthError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SynthError::OutOfRange { option, min, max, value })
    }
}

fn validate(opts: &SynthOptions) -> Result<Checked, SynthError> {
    check_range("items", opts.items as u64, 1, MAX_ITEMS as u64)?;
    check_range("customers", opts.customers as u64, 1, MAX_CUSTOMERS as u64)?;
    check_range("days", u64::from(opts.days), 1, u64::from(MAX_DAYS))?;
    check_range("records_per_event", opts.records_per_event as u64, 1, MAX_RECORDS_PER_EVENT as u64)?;
    let start = opts.start.timestamp();
    let end = start + i64::from(opts.days) * 86_400;
    if start < 0 || end - 1 > MAX_TIMESTAMP {
        return Err(SynthError::StartOutOfRange {
            start: opts.start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            days: opts.days,
        });
    }
    let table = opts.table_name.as_str();
    let table_ok = (3..=255).contains(&table.len())
        && table.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !table_ok {
        return Err(SynthError::InvalidTableName(opts.table_name.clone()));
    }
    let stream_arn = if opts.stream_arn.is_empty() {
        format!(
            "arn:aws:dynamodb:{DEFAULT_REGION}:123456789012:table/{table}/stream/{}",
            opts.start.format("%Y-%m-%dT%H:%M:%S%.3f")
        )
    } else if opts.stream_arn.contains(&format!(":table/{table}/stream/")) {
        opts.stream_arn.clone()
    } else {
        return Err(SynthError::StreamArnMismatch {
            stream_arn: opts.stream_arn.clone(),
            table_name: opts.table_name.clone(),
        });
    };
    let region = stream_arn.split(':').nth(3).filter(|r| !r.is_empty()).unwrap_or(DEFAULT_REGION).to_owned();
    Ok(Checked { start, end, stream_arn, region })
}

// ---------------------------------------------------------------------------
// Catalogues
// ---------------------------------------------------------------------------

/// A Jira field that syncs can map, with its popularity.
struct FieldSpec {
    id: &'static str,
    weight: u32,
    /// The usual target field.
    mapping: &'static str,
    /// Less usual target fields.
    alternates: &'static [&'static str],
    /// Weights of inbound, outbound, bidirectional.
    directions: [u32; 3],
    /// The transform usually used with this field.
    transform: Option<&'static str>,
}

const fn field(
    id: &'static str,
    weight: u32,
    mapping: &'static str,
    alternates: &'static [&'static str],
    directions: [u32; 3],
    transform: Option<&'static str>,
) -> FieldSpec {
    FieldSpec { id, weight, mapping, alternates, directions, transform }
}

const FIELDS: &[FieldSpec] = &[
    field("summary", 100, "title", &["name", "subject"], [15, 10, 75], Some("truncate:255")),
    field("description", 80, "body", &["description", "details"], [20, 15, 65], Some("adf_to_markdown")),
    field("status", 70, "state", &["status", "column"], [25, 20, 55], Some("map_values")),
    field("priority", 55, "priority", &["severity", "urgency"], [30, 15, 55], Some("map_values")),
    field("assignee", 50, "owner", &["assignee", "assignee_email"], [25, 20, 55], Some("user_lookup:email")),
    field("labels", 40, "tags", &["labels", "topics"], [25, 20, 55], Some("lowercase")),
    field("components", 22, "components", &["area", "module"], [40, 15, 45], None),
    field("fixVersions", 18, "milestone", &["release", "version"], [45, 10, 45], None),
    field("duedate", 15, "due_date", &["deadline", "due"], [30, 20, 50], Some("date:iso8601")),
    field("reporter", 14, "author", &["reporter", "created_by"], [70, 5, 25], Some("user_lookup:email")),
    field("issuetype", 12, "type", &["kind", "category"], [60, 10, 30], Some("map_values")),
    field("customfield_10001", 10, "story_points", &["estimate", "points"], [35, 20, 45], None),
    field("resolution", 8, "resolution", &["close_reason"], [60, 10, 30], Some("map_values")),
    field("customfield_10002", 8, "sprint", &["iteration", "cycle"], [50, 10, 40], None),
    field("customfield_10014", 7, "epic_link", &["parent_epic", "epic"], [45, 10, 45], None),
    field("parent", 5, "parent", &["parent_id"], [50, 10, 40], None),
    field("customfield_10020", 5, "team", &["squad", "group"], [50, 15, 35], None),
    field("environment", 3, "environment", &["env"], [40, 20, 40], Some("trim")),
    field("timetracking", 3, "estimate", &["time_spent"], [50, 20, 30], None),
    field("attachment", 3, "attachments", &["files"], [40, 30, 30], None),
];

const DIRECTIONS: [&str; 3] = ["inbound", "outbound", "bidirectional"];

const TRANSFORMS: &[&str] = &[
    "lowercase",
    "trim",
    "markdown_to_adf",
    "adf_to_markdown",
    "map_values",
    "truncate:255",
    "date:iso8601",
    "user_lookup:email",
];

/// Weights of 1..=12 mappings on a new item (an empty list is chosen apart).
const MAPPING_COUNT_WEIGHTS: [u32; 12] = [8, 12, 16, 16, 13, 10, 7, 5, 4, 3, 3, 3];

const INTERVALS: &[(u32, u32)] = &[(5, 15), (15, 35), (30, 15), (60, 25), (1440, 10)];

const TIMEZONES: &[(&str, u32)] = &[
    ("UTC", 30),
    ("Europe/Berlin", 18),
    ("America/New_York", 16),
    ("America/Los_Angeles", 10),
    ("Europe/London", 9),
    ("Asia/Tokyo", 6),
    ("Asia/Kolkata", 5),
    ("Australia/Sydney", 4),
    ("America/Sao_Paulo", 2),
];

const CRONS: &[&str] = &["0 */2 * * *", "30 6 * * 1-5", "0 0 * * *", "*/10 9-17 * * MON-FRI", "15 3 * * SUN"];

const LABELS: &[(&str, u32)] = &[
    ("prod", 30),
    ("staging", 14),
    ("dev", 8),
    ("team-alpha", 10),
    ("team-beta", 8),
    ("migration", 6),
    ("pilot", 6),
    ("eu-west-1", 7),
    ("us-east-1", 9),
    ("critical", 8),
    ("nightly", 5),
    ("legacy", 4),
    ("ünïcödé", 2),
    ("数据同步", 2),
    ("needs,review", 2),
    ("with space", 2),
];

const ERROR_CODES: &[(&str, u32)] =
    &[("RATE_LIMITED", 34), ("AUTH_EXPIRED", 24), ("TIMEOUT", 18), ("FIELD_NOT_FOUND", 14), ("PERMISSION_DENIED", 10)];

const PROJECTS: &[&str] =
    &["CORE", "WEB", "MOBILE", "OPS", "DATA", "PAY", "INFRA", "SEC", "SUPPORT", "GROWTH", "PLAT", "QA"];

const TARGETS: &[&str] = &[
    "GitHub Issues",
    "Linear",
    "ServiceNow",
    "Zendesk",
    "Salesforce",
    "Azure DevOps",
    "GitLab",
    "Asana",
    "Notion",
    "HubSpot",
];

/// Names a data lake has to survive.
const AWKWARD_NAMES: &[&str] = &[
    "Ops\tBoard sync",
    "\"Quoted\" project sync",
    "Windows path C:\\jira\\sync",
    "\\N",
    "Null marker \\N inside",
    "line one\nline two",
    "carriage\rreturn",
    "CRLF line\r\nbreak",
    "a,b,c",
    "Smith, John — personal sync",
    "Release 🚀 sync ✅",
    "同步配置 测试",
    "日本語の同期",
    "e\u{301}te\u{301} with combining marks",
    "\u{5e1}\u{5e0}\u{5db}\u{5e8}\u{5d5}\u{5df} Jira",
    "مزامنة جيرا",
    "",
    "  padded with spaces  ",
    "NULL",
    "null",
    "zero\u{200b}width space",
    "tab\tcomma,quote\"backslash\\newline\n",
];

const CHECKSUM_LEN: usize = 16;

/// Relative write rate by hour of day (UTC): busy 08–18.
const HOUR_WEIGHTS: [f64; 24] = [
    0.10, 0.08, 0.07, 0.07, 0.08, 0.12, 0.22, 0.40, 0.80, 1.00, 1.00, 0.95, 0.85, 0.95, 1.00, 1.00, 0.95, 0.85, 0.70,
    0.45, 0.32, 0.25, 0.18, 0.13,
];

/// Relative write rate by weekday, Monday first.
const WEEKDAY_WEIGHTS: [f64; 7] = [1.0, 1.05, 1.0, 0.95, 0.8, 0.22, 0.18];

/// Kinds of change a `MODIFY` makes, with weights.
#[derive(Clone, Copy)]
enum Change {
    SyncRun,
    SyncError,
    Interval,
    Enabled,
    AddMapping,
    RemoveMapping,
    EditMapping,
    Rename,
    Labels,
    Schedule,
    Options,
}

const CHANGES: &[(Change, u32)] = &[
    (Change::SyncRun, 32),
    (Change::SyncError, 11),
    (Change::Interval, 10),
    (Change::Enabled, 7),
    (Change::AddMapping, 9),
    (Change::RemoveMapping, 5),
    (Change::EditMapping, 8),
    (Change::Rename, 4),
    (Change::Labels, 4),
    (Change::Schedule, 3),
    (Change::Options, 3),
];

// ---------------------------------------------------------------------------
// Item state
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Transform {
    Absent,
    Null,
    Value(&'static str),
}

struct Mapping {
    field: usize,
    mapping: &'static str,
    direction: usize,
    transform: Transform,
}

struct LastError {
    code: &'static str,
    message: String,
    at: String,
}

struct RetryOptions {
    max_attempts: u32,
    strategy: &'static str,
    base_seconds: u32,
    max_seconds: u32,
    webhooks: bool,
}

/// One sync-configuration item as the app holds it.
struct SyncConfig {
    pk: String,
    sk: String,
    client_key: String,
    sync_id: String,
    name: String,
    enabled: bool,
    interval: u32,
    timezone: &'static str,
    cron: Option<&'static str>,
    mappings: Vec<Mapping>,
    labels: Vec<&'static str>,
    weights: Vec<String>,
    checksum: [u8; CHECKSUM_LEN],
    attachments: Vec<Vec<u8>>,
    synced: u128,
    failures: u64,
    last_error: Option<LastError>,
    version: u64,
    updated_at: String,
    ttl: Option<i64>,
    notes_null: bool,
    options: Option<RetryOptions>,
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn map(entries: Vec<(&str, AttributeValue)>) -> AttributeValue {
    AttributeValue::M(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

impl SyncConfig {
    fn keys(&self) -> Item {
        let mut keys = Item::default();
        keys.insert("pk".to_owned(), s(&self.pk));
        keys.insert("sk".to_owned(), s(&self.sk));
        keys
    }

    /// The item as DynamoDB stores it.
    fn image(&self) -> Item {
        // Exactly as many slots as attributes: 15 always there, 5 optional.
        let optional = [
            !self.attachments.is_empty(),
            self.last_error.is_some(),
            self.ttl.is_some(),
            self.notes_null,
            self.options.is_some(),
        ];
        let mut item = Item::default();
        let attributes = 15 + optional.iter().filter(|&&present| present).count();
        item.reserve(attributes);
        let mut put = |name: &str, value: AttributeValue| {
            item.insert(name.to_owned(), value);
        };
        put("pk", s(&self.pk));
        put("sk", s(&self.sk));
        put("clientKey", s(&self.client_key));
        put("syncId", s(&self.sync_id));
        put("name", s(&self.name));
        put("enabled", AttributeValue::Bool(self.enabled));
        put(
            "schedule",
            map(vec![
                ("intervalMinutes", n(self.interval)),
                ("timezone", s(self.timezone)),
                ("cron", self.cron.map_or(AttributeValue::Null(true), s)),
            ]),
        );
        let mappings = self
            .mappings
            .iter()
            .map(|m| {
                let mut entries = vec![
                    ("fieldId", s(FIELDS[m.field].id)),
                    ("mapping", s(m.mapping)),
                    ("direction", s(DIRECTIONS[m.direction])),
                ];
                match m.transform {
                    Transform::Absent => {}
                    Transform::Null => entries.push(("transform", AttributeValue::Null(true))),
                    Transform::Value(t) => entries.push(("transform", s(t))),
                }
                map(entries)
            })
            .collect();
        put("fieldMappings", AttributeValue::L(mappings));
        put("labels", AttributeValue::Ss(self.labels.iter().map(|l| (*l).to_owned()).collect()));
        put("weights", AttributeValue::Ns(self.weights.clone()));
        put("checksum", AttributeValue::B(self.checksum.to_vec()));
        if !self.attachments.is_empty() {
            put("attachments", AttributeValue::Bs(self.attachments.clone()));
        }
        put("counters", map(vec![("syncedIssues", n(self.synced)), ("failures", n(self.failures))]));
        if let Some(e) = &self.last_error {
            put("lastError", map(vec![("code", s(e.code)), ("message", s(&e.message)), ("at", s(&e.at))]));
        }
        put("version", n(self.version));
        put("updatedAt", s(&self.updated_at));
        // A secret the example spec's redaction rule drops (derived, so the rng sequence is unchanged).
        put("credentials", map(vec![("apiToken", s(&format!("jira-token-{}", self.sync_id)))]));
        if let Some(ttl) = self.ttl {
            put("ttl", n(ttl));
        }
        if self.notes_null {
            put("notes", AttributeValue::Null(true));
        }
        if let Some(o) = &self.options {
            put(
                "options",
                map(vec![
                    (
                        "retry",
                        map(vec![
                            ("maxAttempts", n(o.max_attempts)),
                            (
                                "backoff",
                                map(vec![
                                    ("strategy", s(o.strategy)),
                                    ("baseSeconds", n(o.base_seconds)),
                                    ("maxSeconds", n(o.max_seconds)),
                                ]),
                            ),
                        ]),
                    ),
                    ("webhooks", AttributeValue::Bool(o.webhooks)),
                ]),
            );
        }
        debug_assert_eq!(item.len(), attributes);
        item
    }
}

// ---------------------------------------------------------------------------
// DynamoDB item size (for SizeBytes)
// ---------------------------------------------------------------------------

fn number_size(n: &str) -> usize {
    let digits = n.trim_start_matches(['-', '0', '.']);
    let significant = digits.bytes().filter(u8::is_ascii_digit).count();
    significant.div_ceil(2) + 1
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(v) => v.len(),
        AttributeValue::N(v) => number_size(v),
        AttributeValue::B(v) => v.len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|x| number_size(x)).sum(),
        AttributeValue::Bs(v) => v.iter().map(Vec::len).sum(),
        AttributeValue::M(m) => 3 + m.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
    }
}

/// The size DynamoDB accounts for an item: names plus values.
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

// ---------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------

enum Ending {
    Keep,
    UserRemove,
    TtlRemove,
}

/// What is decided about an item before the history is played.
struct Plan {
    customer: u32,
    sync_id: String,
    modifies: u16,
    ending: Ending,
    ttl: Option<i64>,
}

/// An item between its `INSERT` and its `REMOVE`.
struct Live {
    sync: SyncConfig,
    /// Where the record with the item's latest `NewImage` is: (event, record).
    latest: (usize, usize),
    /// DynamoDB's size of that image.
    latest_size: usize,
}

/// One planned write: item `item`'s `step`-th record at time `t`.
#[derive(Clone, Copy)]
struct Op {
    t: i64,
    item: u32,
    step: u16,
}

struct Synth {
    rng: StdRng,
    start: i64,
    end: i64,
    stream_arn: String,
    region: String,
    sequence: u128,
    /// Cumulative write-rate weight of each hour of the window.
    hour_cumulative: Vec<f64>,
    long_name: String,
    sync_ids: HashSet<String>,
}

fn weighted<T: Copy>(rng: &mut StdRng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total.max(1));
    for &(value, weight) in table {
        if pick < weight {
            return value;
        }
        pick -= weight;
    }
    table[table.len() - 1].0
}

fn weighted_index(rng: &mut StdRng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut pick = rng.random_range(0..total.max(1));
    for (i, &weight) in weights.iter().enumerate() {
        if pick < weight {
            return i;
        }
        pick -= weight;
    }
    weights.len() - 1
}

fn pick<T: Copy>(rng: &mut StdRng, values: &[T]) -> T {
    values[rng.random_range(0..values.len())]
}

fn iso_time(t: i64, millis: u32) -> String {
    DateTime::from_timestamp(t, millis * 1_000_000)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl Synth {
    fn new(seed: u64, checked: Checked) -> Self {
        let Checked { start, end, stream_arn, region } = checked;
        let hours = (end - start) / 3600;
        let mut hour_cumulative = Vec::with_capacity(hours as usize);
        let mut total = 0.0;
        for h in 0..hours {
            let weight = DateTime::from_timestamp(start + h * 3600, 0).map_or(1.0, |d| {
                HOUR_WEIGHTS[d.hour() as usize] * WEEKDAY_WEIGHTS[d.weekday().num_days_from_monday() as usize]
            });
            total += weight;
            hour_cumulative.push(total);
        }
        let unit = "Very long sync name with ümlauts, 漢字, emoji 🚀 and a \"quote\"; ";
        let long_name = unit.repeat(5000 / unit.len() + 1);
        Self {
            rng: StdRng::seed_from_u64(seed),
            start,
            end,
            stream_arn,
            region,
            sequence: FIRST_SEQUENCE_NUMBER,
            hour_cumulative,
            long_name,
            sync_ids: HashSet::new(),
        }
    }

    /// A time in the window, following the daily and weekly shape.
    fn shaped_time(&mut self) -> i64 {
        let total = self.hour_cumulative.last().copied().unwrap_or(0.0);
        let u = self.rng.random::<f64>() * total;
        let hour = self.hour_cumulative.partition_point(|&c| c <= u).min(self.hour_cumulative.len().saturating_sub(1));
        let t = self.start + hour as i64 * 3600 + self.rng.random_range(0..3600);
        t.min(self.end - 1)
    }

    fn new_sync_id(&mut self) -> String {
        loop {
            let id = format!("{:08x}", self.rng.random::<u32>());
            if self.sync_ids.insert(id.clone()) {
                return id;
            }
        }
    }

    /// Plans every item and plays the writes in time order.
    fn history(&mut self, items: usize, customers: usize, per_event: usize) -> Vec<Event> {
        // Customers: Zipf over popularity ranks, ranks shuffled onto numbers.
        let mut numbers: Vec<u32> = (1..=customers as u32).collect();
        numbers.shuffle(&mut self.rng);
        let zipf = Zipf::new(customers as f64, ZIPF_EXPONENT).ok();
        let ranks: Vec<usize> = (0..items)
            .map(|_| {
                let rank = match &zipf {
                    Some(z) => z.sample(&mut self.rng) as usize,
                    None => self.rng.random_range(1..=customers),
                };
                rank.clamp(1, customers) - 1
            })
            .collect();
        let mut owned = vec![0u32; customers];
        for &r in &ranks {
            owned[r] += 1;
        }
        let average_owned = items as f64 / customers as f64;

        let mut plans = Vec::with_capacity(items);
        let mut ops = Vec::with_capacity(items * 5);
        let mut times = Vec::new();
        for (item, &rank) in ranks.iter().enumerate() {
            let item = item as u32;
            // Customers with more items also edit each of them more (relative
            // to the average customer, so records per item stay about the same
            // at any scale).
            let mean = 1.4 + 1.2 * (f64::from(owned[rank]) / average_owned).ln_1p();
            let p = 1.0 / (1.0 + mean);
            let u: f64 = self.rng.random();
            let modifies = ((1.0 - u).ln() / (1.0 - p).ln()).floor();
            let modifies = if modifies.is_finite() { (modifies as u64).min(MAX_MODIFIES_PER_ITEM) as u16 } else { 0 };
            let ending = match self.rng.random_range(0..100) {
                0..10 => Ending::UserRemove,
                10..15 => Ending::TtlRemove,
                _ => Ending::Keep,
            };

            times.clear();
            times.extend((0..=modifies).map(|_| self.shaped_time()));
            times.sort_unstable();
            // A third of the edits come in bursts minutes after the previous one.
            for j in 1..times.len() {
                let previous = times[j - 1];
                times[j] = if self.rng.random_bool(0.35) {
                    let u: f64 = self.rng.random();
                    let gap = (-(1.0 - u).ln() * 180.0) as i64 + 1;
                    (previous + gap).min(self.end - 1)
                } else {
                    times[j].max(previous)
                };
            }
            let last = times[times.len() - 1];
            let mut ttl = None;
            let mut removal = None;
            match ending {
                Ending::Keep | Ending::UserRemove => {
                    if self.rng.random_bool(0.2) {
                        ttl = Some(
                            times[0] + self.rng.random_range(30..=180) * 86_400 + self.rng.random_range(0..86_400),
                        );
                    }
                    if matches!(ending, Ending::UserRemove) {
                        let mut t = None;
                        for _ in 0..6 {
                            let candidate = self.shaped_time();
                            if candidate >= last {
                                t = Some(candidate);
                                break;
                            }
                        }
                        let t = t.unwrap_or_else(|| (last + self.rng.random_range(60..7200)).min(self.end - 1));
                        removal = Some(t);
                    }
                }
                Ending::TtlRemove => {
                    let span = self.end - 1 - last;
                    let expiry = last + (self.rng.random::<f64>() * 0.85 * span as f64) as i64;
                    let delay = self.rng.random_range(0..=(self.end - 1 - expiry).min(7200));
                    ttl = Some(expiry);
                    removal = Some(expiry + delay);
                }
            }
            for (step, &t) in times.iter().enumerate() {
                ops.push(Op { t, item, step: step as u16 });
            }
            if let Some(t) = removal {
                ops.push(Op { t, item, step: modifies + 1 });
            }
            let sync_id = self.new_sync_id();
            plans.push(Plan { customer: numbers[rank], sync_id, modifies, ending, ttl });
        }
        ops.sort_unstable_by_key(|op| (op.t, op.item, op.step));

        // Each live item's state: the next MODIFY or REMOVE copies the
        // latest image from its record, so no extra copy is kept.
        let mut states: Vec<Option<Live>> = Vec::with_capacity(items);
        states.resize_with(items, || None);
        let total = ops.len();
        let mut events: Vec<Event> = Vec::with_capacity(total.div_ceil(per_event));
        let mut emitted = 0usize;
        for op in ops {
            let i = op.item as usize;
            let plan = &plans[i];
            // Where the record will go.
            let at = match events.last() {
                Some(e) if e.records.len() < per_event => (events.len() - 1, e.records.len()),
                _ => (events.len(), 0),
            };
            let record = if op.step == 0 {
                let sync = self.new_sync(plan.customer, &plan.sync_id, op.t, plan.ttl);
                let new = sync.image();
                let new_size = item_size(&new);
                let record =
                    self.record(Draft::new("INSERT", op.t, sync.keys(), (new, new_size), (Item::default(), 0), false));
                states[i] = Some(Live { sync, latest: at, latest_size: new_size });
                record
            } else if op.step <= plan.modifies {
                let Some(live) = states[i].as_mut() else {
                    continue;
                };
                self.modify(&mut live.sync, op.t);
                let new = live.sync.image();
                let new_size = item_size(&new);
                let (e, r) = live.latest;
                let old = events[e].records[r].change.new_image.clone();
                let old = (old, live.latest_size);
                live.latest = at;
                live.latest_size = new_size;
                let keys = live.sync.keys();
                self.record(Draft::new("MODIFY", op.t, keys, (new, new_size), old, false))
            } else {
                let Some(live) = states[i].take() else {
                    continue;
                };
                let (e, r) = live.latest;
                let old = events[e].records[r].change.new_image.clone();
                let by_ttl = matches!(plan.ending, Ending::TtlRemove);
                self.record(Draft::new(
                    "REMOVE",
                    op.t,
                    live.sync.keys(),
                    (Item::default(), 0),
                    (old, live.latest_size),
                    by_ttl,
                ))
            };
            if at.1 == 0 {
                let mut event = Event::default();
                event.records = Vec::with_capacity(per_event.min(total - emitted));
                events.push(event);
            }
            if let Some(event) = events.last_mut() {
                event.records.push(record);
            }
            emitted += 1;
        }
        events
    }

    /// Builds one stream record, drawing its event ID and sequence number.
    fn record(&mut self, draft: Draft) -> EventRecord {
        let event_id = format!("{:032x}", self.rng.random::<u128>());
        self.sequence += self.rng.random_range(1..=1000);
        self.assemble(event_id, self.sequence, draft)
    }

    /// Builds one stream record with the given event ID and sequence number.
    fn assemble(&self, event_id: String, sequence: u128, draft: Draft) -> EventRecord {
        let mut change = StreamRecord::default();
        change.approximate_creation_date_time = DateTime::from_timestamp(draft.t, 0).unwrap_or_default();
        change.size_bytes = i64::try_from(draft.size_bytes).unwrap_or(i64::MAX);
        change.keys = draft.keys;
        change.new_image = draft.new_image;
        change.old_image = draft.old_image;
        change.sequence_number = Some(sequence.to_string());
        change.stream_view_type = Some(StreamViewType::NewAndOldImages);

        let mut record = EventRecord::default();
        record.aws_region = self.region.clone();
        record.change = change;
        record.event_id = event_id;
        record.event_name = draft.event_name.to_owned();
        record.event_source = Some("aws:dynamodb".to_owned());
        record.event_version = Some("1.1".to_owned());
        record.event_source_arn = Some(self.stream_arn.clone());
        if draft.by_ttl {
            let mut identity = UserIdentity::default();
            identity.type_ = "Service".to_owned();
            identity.principal_id = "dynamodb.amazonaws.com".to_owned();
            record.user_identity = Some(identity);
        }
        record
    }

    fn random_name(&mut self) -> String {
        let roll = self.rng.random_range(0..1000);
        if roll < 15 {
            return self.long_name.clone();
        }
        if roll < 260 {
            return pick(&mut self.rng, AWKWARD_NAMES).to_owned();
        }
        let project = pick(&mut self.rng, PROJECTS);
        let target = pick(&mut self.rng, TARGETS);
        match self.rng.random_range(0..5) {
            0 => format!("{project} → {target}"),
            1 => format!("{project} to {target}"),
            2 => format!("{project} / {target} sync"),
            3 => format!("{target} mirror of {project}"),
            _ => format!("{project} bugs to {target}"),
        }
    }

    fn random_mapping(&mut self, field: usize) -> Mapping {
        let spec = &FIELDS[field];
        let mapping = if self.rng.random_bool(0.85) { spec.mapping } else { pick(&mut self.rng, spec.alternates) };
        let direction = weighted_index(&mut self.rng, &spec.directions);
        let transform = self.random_transform(field);
        Mapping { field, mapping, direction, transform }
    }

    fn random_transform(&mut self, field: usize) -> Transform {
        match self.rng.random_range(0..100) {
            0..30 => match FIELDS[field].transform {
                Some(t) if self.rng.random_bool(0.8) => Transform::Value(t),
                _ => Transform::Value(pick(&mut self.rng, TRANSFORMS)),
            },
            30..36 => Transform::Null,
            _ => Transform::Absent,
        }
    }

    /// A popularity-weighted field not mapped yet, if any is left.
    fn unmapped_field(&mut self, mappings: &[Mapping]) -> Option<usize> {
        let weights: Vec<u32> = FIELDS
            .iter()
            .enumerate()
            .map(|(i, f)| if mappings.iter().any(|m| m.field == i) { 0 } else { f.weight })
            .collect();
        if weights.iter().all(|&w| w == 0) {
            return None;
        }
        Some(weighted_index(&mut self.rng, &weights))
    }

    fn random_labels(&mut self) -> Vec<&'static str> {
        let count = self.rng.random_range(1..=4);
        let mut labels: Vec<&'static str> = Vec::with_capacity(count);
        while labels.len() < count {
            let label = weighted(&mut self.rng, LABELS);
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        labels
    }

    fn random_digits(&mut self, count: usize, out: &mut String) {
        for _ in 0..count {
            out.push(char::from(b'0' + self.rng.random_range(0..10u8)));
        }
    }

    /// A number in DynamoDB's canonical form.
    fn random_number(&mut self) -> String {
        const LITERALS: &[&str] = &[
            "12345678901234567890123456789012345678",
            "-0.000000000000000000000000000000000001",
            "99999999999999999999999999999999999999",
            "-99999999999999999999999999999999999999",
            "0.00000000000000000000000000000000000001",
            "0.1",
        ];
        let negative = self.rng.random_bool(0.3);
        let sign = if negative { "-" } else { "" };
        match self.rng.random_range(0..100) {
            0..40 => self.rng.random_range(-100..=1000).to_string(),
            40..70 => {
                let mut v = format!("{sign}{}.", self.rng.random_range(0..50));
                let frac = self.rng.random_range(0..6);
                self.random_digits(frac, &mut v);
                v.push(char::from(b'1' + self.rng.random_range(0..9u8)));
                v
            }
            70..82 => {
                let mut v = format!("{sign}{}", self.rng.random_range(1..10));
                self.random_digits(37, &mut v);
                v
            }
            82..92 => {
                let mut v = format!("{sign}{}.", self.rng.random_range(1..10));
                self.random_digits(36, &mut v);
                v.push(char::from(b'1' + self.rng.random_range(0..9u8)));
                v
            }
            _ => pick(&mut self.rng, LITERALS).to_owned(),
        }
    }

    fn random_weights(&mut self) -> Vec<String> {
        let count = self.rng.random_range(1..=4);
        let mut weights: Vec<String> = Vec::with_capacity(count);
        while weights.len() < count {
            let w = self.random_number();
            if !weights.contains(&w) {
                weights.push(w);
            }
        }
        weights
    }

    fn random_checksum(&mut self) -> [u8; CHECKSUM_LEN] {
        let mut checksum = [0u8; CHECKSUM_LEN];
        self.rng.fill(&mut checksum[..]);
        if self.rng.random_bool(0.6) {
            for _ in 0..self.rng.random_range(1..=3) {
                checksum[self.rng.random_range(0..CHECKSUM_LEN)] = 0;
            }
        }
        checksum
    }

    fn random_attachments(&mut self) -> Vec<Vec<u8>> {
        let count = self.rng.random_range(1..=3);
        let mut blobs: Vec<Vec<u8>> = Vec::with_capacity(count);
        while blobs.len() < count {
            let mut blob = vec![0u8; self.rng.random_range(4..=48)];
            self.rng.fill(&mut blob[..]);
            if !blobs.contains(&blob) {
                blobs.push(blob);
            }
        }
        blobs
    }

    fn random_options(&mut self) -> RetryOptions {
        let base_seconds = pick(&mut self.rng, &[1, 2, 5, 10]);
        RetryOptions {
            max_attempts: self.rng.random_range(1..=10),
            strategy: pick(&mut self.rng, &["exponential", "exponential", "linear", "fixed"]),
            base_seconds,
            max_seconds: base_seconds * pick(&mut self.rng, &[30, 60, 120, 300]),
            webhooks: self.rng.random_bool(0.4),
        }
    }

    fn random_error(&mut self, sync: &SyncConfig, t: i64) -> LastError {
        let code = weighted(&mut self.rng, ERROR_CODES);
        let at_t = (t - self.rng.random_range(0..120)).max(self.start);
        let at = iso_time(at_t, self.rng.random_range(0..1000));
        let project = pick(&mut self.rng, PROJECTS);
        let long_form = self.rng.random_bool(0.5);
        let message = match code {
            "RATE_LIMITED" => {
                let wait = self.rng.random_range(5..=120);
                if long_form {
                    format!("429 Too Many Requests\nRetry-After: {wait}")
                } else {
                    format!("Jira API rate limit exceeded (HTTP 429); retry after {wait}s")
                }
            }
            "AUTH_EXPIRED" => {
                if long_form {
                    format!("401 Unauthorized\nThe access token expired at {at}")
                } else {
                    "OAuth token expired; reconnect the Jira site".to_owned()
                }
            }
            "TIMEOUT" => {
                format!("GET /rest/api/3/search timed out after {} ms", self.rng.random_range(10_000..=60_000))
            }
            "FIELD_NOT_FOUND" => {
                let field = if sync.mappings.is_empty() {
                    FIELDS[self.rng.random_range(0..FIELDS.len())].id
                } else {
                    FIELDS[sync.mappings[self.rng.random_range(0..sync.mappings.len())].field].id
                };
                format!("Field '{field}' does not exist or is not on the edit screen of project {project}")
            }
            _ => format!(
                "User lacks the 'Browse projects' permission in {project}\nAsk a Jira administrator to grant access"
            ),
        };
        LastError { code, message, at }
    }

    fn new_sync(&mut self, customer: u32, sync_id: &str, t: i64, ttl: Option<i64>) -> SyncConfig {
        let name = self.random_name();
        let mut mappings = Vec::new();
        if !self.rng.random_bool(0.04) {
            let count = weighted_index(&mut self.rng, &MAPPING_COUNT_WEIGHTS) + 1;
            for _ in 0..count {
                if let Some(field) = self.unmapped_field(&mappings) {
                    let mapping = self.random_mapping(field);
                    mappings.push(mapping);
                }
            }
        }
        let synced = match self.rng.random_range(0..100) {
            0..2 => {
                let low = 10u128.pow(37);
                self.rng.random_range(low..10 * low - 1_000_000)
            }
            2..60 => 0,
            _ => self.rng.random_range(1..5000),
        };
        let labels = self.random_labels();
        let weights = self.random_weights();
        let checksum = self.random_checksum();
        let attachments = if self.rng.random_bool(0.25) { self.random_attachments() } else { Vec::new() };
        let options = if self.rng.random_bool(0.12) { Some(self.random_options()) } else { None };
        SyncConfig {
            pk: format!("CLIENT#c{customer:04}"),
            sk: format!("SYNC#{sync_id}"),
            client_key: format!("client-{customer}"),
            sync_id: sync_id.to_owned(),
            name,
            enabled: self.rng.random_bool(0.92),
            interval: weighted(&mut self.rng, INTERVALS),
            timezone: weighted(&mut self.rng, TIMEZONES),
            cron: if self.rng.random_bool(0.15) { Some(pick(&mut self.rng, CRONS)) } else { None },
            mappings,
            labels,
            weights,
            checksum,
            attachments,
            synced,
            failures: 0,
            last_error: None,
            version: 1,
            updated_at: iso_time(t, self.rng.random_range(0..1000)),
            ttl,
            notes_null: self.rng.random_bool(0.08),
            options,
        }
    }

    /// Applies one realistic change to `sync` at time `t`.
    fn modify(&mut self, sync: &mut SyncConfig, t: i64) {
        let change = loop {
            let change = weighted(&mut self.rng, CHANGES);
            let applicable = match change {
                Change::AddMapping => sync.mappings.len() < 12,
                Change::RemoveMapping | Change::EditMapping => !sync.mappings.is_empty(),
                _ => true,
            };
            if applicable {
                break change;
            }
        };
        let mut config_changed = true;
        match change {
            Change::SyncRun => {
                config_changed = false;
                let per_run = if sync.interval <= 15 { 60 } else { 400 };
                sync.synced = sync.synced.saturating_add(self.rng.random_range(1..=per_run));
                if self.rng.random_bool(0.1) {
                    sync.failures += self.rng.random_range(1..=3);
                }
                if sync.last_error.is_some() && self.rng.random_bool(0.45) {
                    sync.last_error = None;
                }
            }
            Change::SyncError => {
                config_changed = false;
                sync.failures += self.rng.random_range(1..=3);
                if self.rng.random_bool(0.3) {
                    sync.synced = sync.synced.saturating_add(self.rng.random_range(1..=20));
                }
                sync.last_error = Some(self.random_error(sync, t));
            }
            Change::Interval => {
                let old = sync.interval;
                while sync.interval == old {
                    sync.interval = weighted(&mut self.rng, INTERVALS);
                }
            }
            Change::Enabled => {
                sync.enabled = !sync.enabled;
                if sync.enabled && self.rng.random_bool(0.5) {
                    sync.last_error = None;
                }
            }
            Change::AddMapping => {
                if let Some(field) = self.unmapped_field(&sync.mappings) {
                    let mapping = self.random_mapping(field);
                    sync.mappings.push(mapping);
                }
            }
            Change::RemoveMapping => {
                let i = self.rng.random_range(0..sync.mappings.len());
                sync.mappings.remove(i);
            }
            Change::EditMapping => {
                let i = self.rng.random_range(0..sync.mappings.len());
                let field = sync.mappings[i].field;
                match self.rng.random_range(0..10) {
                    0..5 => {
                        let old = sync.mappings[i].direction;
                        let spec = &FIELDS[field];
                        while sync.mappings[i].direction == old {
                            sync.mappings[i].direction = weighted_index(&mut self.rng, &spec.directions);
                        }
                    }
                    5..8 => {
                        let old = sync.mappings[i].transform;
                        let mut tries = 0;
                        while sync.mappings[i].transform == old && tries < 8 {
                            sync.mappings[i].transform = self.random_transform(field);
                            tries += 1;
                        }
                    }
                    _ => {
                        let spec = &FIELDS[field];
                        sync.mappings[i].mapping = if sync.mappings[i].mapping == spec.mapping {
                            pick(&mut self.rng, spec.alternates)
                        } else {
                            spec.mapping
                        };
                    }
                }
            }
            Change::Rename => sync.name = self.random_name(),
            Change::Labels => {
                let roll = self.rng.random_range(0..3);
                if roll == 0 && sync.labels.len() < 4 {
                    let label = weighted(&mut self.rng, LABELS);
                    if !sync.labels.contains(&label) {
                        sync.labels.push(label);
                    }
                } else if roll == 1 && sync.labels.len() > 1 {
                    let i = self.rng.random_range(0..sync.labels.len());
                    sync.labels.remove(i);
                } else {
                    sync.labels = self.random_labels();
                }
            }
            Change::Schedule => {
                if self.rng.random_bool(0.5) {
                    sync.timezone = weighted(&mut self.rng, TIMEZONES);
                } else {
                    sync.cron = match sync.cron {
                        Some(_) => None,
                        None => Some(pick(&mut self.rng, CRONS)),
                    };
                }
            }
            Change::Options => match &mut sync.options {
                None => sync.options = Some(self.random_options()),
                Some(o) => match self.rng.random_range(0..4) {
                    0 | 1 => {
                        o.max_seconds = o.base_seconds * pick(&mut self.rng, &[15, 60, 600, 3600]);
                    }
                    2 => sync.options = None,
                    _ => sync.notes_null = !sync.notes_null,
                },
            },
        }
        if config_changed {
            sync.checksum = self.random_checksum();
        }
        sync.version += 1;
        sync.updated_at = iso_time(t, self.rng.random_range(0..1000));
    }

    /// The JSON of one more `INSERT` at time `t` whose `name` is padded so
    /// the JSON is `gap` bytes long, or as close below as can be found; `None`
    /// if even an unpadded one is longer than `gap`.
    fn padding_record(&mut self, t: i64, gap: usize) -> Option<String> {
        const FILLER: &str = "Benchmark filler to reach the payload size. ";
        let sync_id = self.new_sync_id();
        let mut sync = self.new_sync(1, &sync_id, t, None);
        let event_id = format!("{:032x}", self.rng.random::<u128>());
        self.sequence += self.rng.random_range(1..=1000);
        let mut best: Option<String> = None;
        let mut pad = 0usize;
        let mut json = String::new();
        for _ in 0..8 {
            sync.name = FILLER.chars().cycle().take(pad).collect();
            let image = sync.image();
            let size = item_size(&image);
            let draft = Draft::new("INSERT", t, sync.keys(), (image, size), (Item::default(), 0), false);
            let record = self.assemble(event_id.clone(), self.sequence, draft);
            json.clear();
            write_record(&mut json, &record);
            if json.len() <= gap && best.as_ref().is_none_or(|b| b.len() < json.len()) {
                best = Some(json.clone());
            }
            if json.len() == gap {
                break;
            }
            if json.len() < gap {
                pad += gap - json.len();
            } else if pad == 0 {
                break;
            } else {
                pad = pad.saturating_sub(json.len() - gap);
            }
        }
        best
    }
}

/// A stream record before it gets its event ID and sequence number.
struct Draft {
    event_name: &'static str,
    t: i64,
    keys: Item,
    new_image: Item,
    old_image: Item,
    /// DynamoDB's size of keys and images: the record's `SizeBytes`.
    size_bytes: usize,
    /// Deleted by TTL expiry rather than by a user.
    by_ttl: bool,
}

impl Draft {
    /// A draft of `event_name` at `t`; images come with their item sizes.
    fn new(
        event_name: &'static str,
        t: i64,
        keys: Item,
        new_image: (Item, usize),
        old_image: (Item, usize),
        by_ttl: bool,
    ) -> Self {
        Self {
            event_name,
            t,
            size_bytes: item_size(&keys) + new_image.1 + old_image.1,
            keys,
            new_image: new_image.0,
            old_image: old_image.0,
            by_ttl,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda_json::push_json_str;

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
