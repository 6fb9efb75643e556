//! The generator's options: [`SynthOptions`] with its defaults and limits, the refusals
//! ([`SynthError`], each naming the option), and their check into the values the generator
//! runs on.

use chrono::{DateTime, SecondsFormat, Utc};

/// The default start of the generated history (RFC 3339).
pub const DEFAULT_START: &str = "2026-11-01T00:00:00Z";

pub(crate) const DEFAULT_TABLE_NAME: &str = "sync-configurations";
pub(crate) const DEFAULT_STREAM_ARN: &str =
    "arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations/stream/2026-11-01T00:00:00.000";
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

pub(crate) const MAX_ITEMS: usize = 1_000_000;
pub(crate) const MAX_CUSTOMERS: usize = 100_000;
pub(crate) const MAX_DAYS: u32 = 3650;
/// Lambda's largest batch size for a DynamoDB stream.
pub(crate) const MAX_RECORDS_PER_EVENT: usize = 10_000;
/// 9999-12-31T23:59:59Z, the last second the history may reach.
pub(crate) const MAX_TIMESTAMP: i64 = 253_402_300_799;

pub(crate) const ZIPF_EXPONENT: f64 = 1.1;
pub(crate) const FIRST_SEQUENCE_NUMBER: u128 = 100_000_000_000_000_000_001;
pub(crate) const MAX_MODIFIES_PER_ITEM: u64 = 40;

/// Options for [`crate::generate`].
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

pub(crate) fn default_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(DEFAULT_START).map(|t| t.with_timezone(&Utc)).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Why [`crate::generate`] refused its options. Each message names the option and
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

/// Options after validation, in the form the generator uses.
pub(crate) struct Checked {
    /// First second of the history (epoch seconds).
    pub(crate) start: i64,
    /// First second after the history.
    pub(crate) end: i64,
    pub(crate) stream_arn: String,
    pub(crate) region: String,
}

pub(crate) fn check_range(option: &'static str, value: u64, min: u64, max: u64) -> Result<(), SynthError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SynthError::OutOfRange { option, min, max, value })
    }
}

pub(crate) fn validate(opts: &SynthOptions) -> Result<Checked, SynthError> {
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
