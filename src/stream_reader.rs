//! Reading a DynamoDB stream directly (DynamoDB Streams API), for `ddb-lake replay`.
//!
//! Walks every shard of a stream from TRIM_HORIZON (or after a sequence number), pages
//! through GetRecords, and turns each page into the JSON of a Lambda event, so the records
//! go through exactly the function's path ([`ddb_lake_writer::delivery::process_event`]). Used for
//! local testing and for catching up after an outage. The JSON is written by the same
//! writer as the generator's events (map attributes in name order), so replaying the same
//! records yields the same bytes.
//!
//! When to stop reading a shard: GetRecords may answer an empty page while records lie
//! further in the shard, so an empty page is never the end by itself. A closed shard is read
//! until it hands out no next iterator. An open shard never ends; it is read until it has
//! caught up with the present ([`CatchUp`]: a few empty pages in a row after a record that
//! is only seconds old), or, when its last record is old (an idle table, or a long stretch
//! of empty pages), until many empty pages in a row. [`ShardRead`] says which.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::{
    Event, EventRecord, StreamRecord as LambdaStreamRecord, StreamViewType as LambdaViewType, UserIdentity,
};
use aws_sdk_dynamodbstreams::error::DisplayErrorContext;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType, StreamViewType as ViewType};
use aws_sdk_dynamodbstreams::Client;
use serde_dynamo::{AttributeValue as Av, Item};

/// A DynamoDB Streams call that failed.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB Streams {operation} failed for {target}: {message}")]
pub struct StreamError {
    /// The operation.
    pub operation: &'static str,
    /// The stream or shard.
    pub target: String,
    /// The SDK's message with its context.
    pub message: String,
}

fn err<E: std::error::Error + 'static>(operation: &'static str, target: &str, e: E) -> StreamError {
    StreamError { operation, target: target.to_owned(), message: DisplayErrorContext(e).to_string() }
}

/// Where to start in each shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest record still in the stream.
    TrimHorizon,
    /// Just after this sequence number (in the shard that holds it; other shards start
    /// at records with a higher sequence number).
    After(String),
}

/// One page of records from one shard, as Lambda event JSON.
#[derive(Debug, Clone)]
pub struct StreamPage {
    /// The shard.
    pub shard_id: String,
    /// `{"Records": [...]}`.
    pub event_json: String,
    /// Records in the page.
    pub records: usize,
}

/// A shard of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Its id.
    pub id: String,
    /// Whether it is closed (it has an ending sequence number): no record will be added.
    pub closed: bool,
}

/// When an open shard counts as read (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    /// A record at most this old is "the present".
    pub current_within: std::time::Duration,
    /// Empty pages in a row after such a record that end the shard.
    pub empty_pages_when_current: u32,
    /// Empty pages in a row that end the shard otherwise.
    pub max_empty_pages: u32,
}

impl Default for CatchUp {
    /// A minute, 3 pages, 100 pages.
    fn default() -> Self {
        CatchUp {
            current_within: std::time::Duration::from_secs(60),
            empty_pages_when_current: 3,
            max_empty_pages: 100,
        }
    }
}

/// Why reading a shard stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardEnd {
    /// The shard is closed and was read to its end.
    Closed,
    /// An open shard: empty pages in a row after a record from the present.
    CaughtUp {
        /// How many.
        empty_pages: u32,
    },
    /// An open shard whose last record is not recent: [`CatchUp::max_empty_pages`] empty
    /// pages in a row. An idle table looks like this; so would a shard with more records
    /// beyond a longer stretch of empty pages (run again with `--after`).
    EmptyPages {
        /// How many.
        empty_pages: u32,
        /// Age of the last record read from the shard, if any was.
        last_record_age: Option<std::time::Duration>,
    },
    /// Not read to its end: reading stopped at an error (in this shard or another).
    Stopped,
}

/// What was read from one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRead {
    /// The shard.
    pub shard_id: String,
    /// Records read and handed on.
    pub records: usize,
    /// Sequence number of the last record handed on.
    pub last_sequence: Option<String>,
    /// Why it stopped.
    pub end: ShardEnd,
}

impl std::fmt::Display for ShardRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard {}: {} records", self.shard_id, self.records)?;
        if let Some(seq) = &self.last_sequence {
            write!(f, " (last {seq})")?;
        }
        match &self.end {
            ShardEnd::Closed => write!(f, ", read to its end (closed shard)"),
            ShardEnd::CaughtUp { empty_pages } => {
                write!(f, ", caught up with the present ({empty_pages} empty pages after a recent record)")
            }
            ShardEnd::EmptyPages { empty_pages, last_record_age } => {
                write!(f, ", stopped after {empty_pages} empty pages in a row")?;
                match last_record_age {
                    Some(age) => write!(f, "; its last record is {} s old", age.as_secs())?,
                    None => write!(f, "; no record read")?,
                }
                write!(
                    f,
                    " (an idle table looks like this; if the shard should hold more, run again with --after \
                     the last sequence number and a higher --max-empty-pages)"
                )
            }
            ShardEnd::Stopped => write!(f, ", not read to its end (reading stopped at an error)"),
        }
    }
}

/// The shards of a stream, parents before children.
pub async fn shards(client: &Client, stream_arn: &str) -> Result<Vec<Shard>, StreamError> {
    let mut out = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let resp = client
            .describe_stream()
            .stream_arn(stream_arn)
            .set_exclusive_start_shard_id(start.clone())
            .send()
            .await
            .map_err(|e| err("DescribeStream", stream_arn, e))?;
        let Some(desc) = resp.stream_description() else { break };
        for s in desc.shards() {
            if let Some(id) = s.shard_id() {
                let closed = s.sequence_number_range().and_then(|r| r.ending_sequence_number()).is_some();
                out.push(Shard { id: id.to_owned(), closed });
            }
        }
        match desc.last_evaluated_shard_id() {
            Some(last) => start = Some(last.to_owned()),
            None => break,
        }
    }
    Ok(out)
}

/// Reading stopped at an error: the first error (in shard order), and what each shard had
/// handed on by then (a shard not read to its end ends [`ShardEnd::Stopped`]).
#[derive(Debug)]
pub struct StreamFailure<E> {
    /// What went wrong.
    pub error: E,
    /// Every shard, in the stream's order.
    pub shards: Vec<ShardRead>,
}

impl<E> StreamFailure<E> {
    /// Where a run that started at `start` resumes without losing a record: after the least
    /// of the last sequence numbers handed on by the shards not read to their end (records of
    /// other shards after it are read again, which the views' de-duplication absorbs). `None`:
    /// one of them handed nothing on, so the run starts where this one did.
    pub fn resume_after(&self, start: &StartAt) -> Option<String> {
        let mut least: Option<&str> = None;
        for read in self.shards.iter().filter(|r| r.end == ShardEnd::Stopped) {
            let handed_on = match (&read.last_sequence, start) {
                (Some(seq), _) => seq.as_str(),
                (None, StartAt::After(seq)) => seq.as_str(),
                (None, StartAt::TrimHorizon) => return None,
            };
            if least.is_none_or(|l| ddb_lake_core::object_key::compare_sequence_numbers(handed_on, l).is_lt()) {
                least = Some(handed_on);
            }
        }
        least.map(str::to_owned)
    }
}

/// Where a later run continues after a run that read every shard: after the least of the
/// last sequence numbers of the open shards (the closed ones get no new records), or, when
/// no open shard handed a record on, after the greatest of all.
pub fn continue_after(reads: &[ShardRead]) -> Option<String> {
    use ddb_lake_core::object_key::compare_sequence_numbers as cmp;
    let open = reads.iter().filter(|r| r.end != ShardEnd::Closed).filter_map(|r| r.last_sequence.as_deref());
    let all = reads.iter().filter_map(|r| r.last_sequence.as_deref());
    open.min_by(|a, b| cmp(a, b)).or_else(|| all.max_by(|a, b| cmp(a, b))).map(str::to_owned)
}

/// Reads every shard from `start` to its end or the present (see [`CatchUp`]), calling
/// `page` for each non-empty page of at most `limit` records; says what it read per shard.
///
/// Up to `jobs` shards are read at a time (started in the stream's order, parents first;
/// the next starts as soon as any one ends), each one page at a time: at most `jobs` pages
/// are in memory, and their GetRecords calls wait on the network together. Pages of one
/// shard are handed on in order; pages of different shards interleave, which changes no
/// object (a page's objects are named after its shard and its records). The first error
/// stops every shard before its next page.
#[allow(clippy::too_many_arguments)]
pub async fn read_stream<F, Fut, E>(
    client: &Client,
    stream_arn: &str,
    start: &StartAt,
    limit: i32,
    catch_up: CatchUp,
    jobs: usize,
    page: F,
) -> Result<Vec<ShardRead>, StreamFailure<E>>
where
    F: Fn(StreamPage) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: From<StreamError>,
{
    use futures_util::StreamExt as _;
    let shards = shards(client, stream_arn).await.map_err(|e| StreamFailure { error: e.into(), shards: Vec::new() })?;
    let stop = std::cell::Cell::new(false);
    // Unordered: a long shard does not keep the next ones from starting once others end.
    let (page, stop) = (&page, &stop);
    let mut ends: Vec<(usize, ShardRead, Option<E>)> = futures_util::stream::iter(shards.iter().enumerate())
        .map(|(n, shard)| async move {
            let (read, e) = read_shard(client, stream_arn, shard, start, limit, catch_up, page, stop).await;
            (n, read, e)
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    ends.sort_by_key(|(n, ..)| *n);
    let mut error = None;
    let mut reads = Vec::with_capacity(ends.len());
    for (_, read, e) in ends {
        if error.is_none() {
            error = e;
        }
        reads.push(read);
    }
    match error {
        None => Ok(reads),
        Some(error) => Err(StreamFailure { error, shards: reads }),
    }
}

/// One shard of [`read_stream`]: what it read, and the error that stopped it, if one did.
/// Once `stop` is set (by this shard or another), it reads no further page.
#[allow(clippy::too_many_arguments)]
async fn read_shard<F, Fut, E>(
    client: &Client,
    stream_arn: &str,
    shard: &Shard,
    start: &StartAt,
    limit: i32,
    catch_up: CatchUp,
    page: &F,
    stop: &std::cell::Cell<bool>,
) -> (ShardRead, Option<E>)
where
    F: Fn(StreamPage) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: From<StreamError>,
{
    let mut read = ShardRead { shard_id: shard.id.clone(), records: 0, last_sequence: None, end: ShardEnd::Closed };
    let failed = |mut read: ShardRead, e: E| {
        stop.set(true);
        read.end = ShardEnd::Stopped;
        (read, Some(e))
    };
    if stop.get() {
        read.end = ShardEnd::Stopped;
        return (read, None);
    }
    let mut iterator = match shard_iterator(client, stream_arn, &shard.id, start).await {
        Ok(it) => it,
        Err(e) => return failed(read, e.into()),
    };
    let mut last_time: Option<std::time::SystemTime> = None;
    let mut empty_pages = 0u32;
    while let Some(it) = iterator.take() {
        if stop.get() {
            read.end = ShardEnd::Stopped;
            return (read, None);
        }
        let resp = match client.get_records().shard_iterator(&it).limit(limit).send().await {
            Ok(resp) => resp,
            Err(e) => return failed(read, err("GetRecords", &shard.id, e).into()),
        };
        let records: Vec<&Record> = resp
            .records()
            .iter()
            .filter(|r| match start {
                StartAt::After(seq) => r
                    .dynamodb()
                    .and_then(|d| d.sequence_number())
                    .is_some_and(|s| ddb_lake_core::object_key::compare_sequence_numbers(s, seq).is_gt()),
                StartAt::TrimHorizon => true,
            })
            .collect();
        if let Some(t) = resp.records().iter().rev().find_map(|r| r.dynamodb()?.approximate_creation_date_time()) {
            last_time = std::time::SystemTime::try_from(*t).ok();
        }
        if resp.records().is_empty() {
            empty_pages += 1;
        } else {
            empty_pages = 0;
        }
        iterator = resp.next_shard_iterator().map(str::to_owned);
        if !records.is_empty() {
            let event_json = match event_json(stream_arn, &records) {
                Ok(json) => json,
                Err(e) => return failed(read, e.into()),
            };
            let last = records.last().and_then(|r| r.dynamodb()?.sequence_number()).map(str::to_owned);
            if let Err(e) = page(StreamPage { shard_id: shard.id.clone(), event_json, records: records.len() }).await {
                return failed(read, e);
            }
            read.records += records.len();
            read.last_sequence = last.or(read.last_sequence);
        }
        if shard.closed || iterator.is_none() || empty_pages == 0 {
            continue;
        }
        let age = last_time.map(|t| t.elapsed().unwrap_or_default());
        let current = age.is_some_and(|a| a <= catch_up.current_within);
        if current && empty_pages >= catch_up.empty_pages_when_current {
            read.end = ShardEnd::CaughtUp { empty_pages };
            break;
        }
        if empty_pages >= catch_up.max_empty_pages {
            read.end = ShardEnd::EmptyPages { empty_pages, last_record_age: age };
            break;
        }
    }
    (read, None)
}

/// The iterator `start` asks for in `shard`.
async fn shard_iterator(
    client: &Client,
    stream_arn: &str,
    shard: &str,
    start: &StartAt,
) -> Result<Option<String>, StreamError> {
    let mut req = client.get_shard_iterator().stream_arn(stream_arn).shard_id(shard);
    req = match start {
        StartAt::TrimHorizon => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
        StartAt::After(seq) => req.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(seq),
    };
    match req.send().await {
        Ok(r) => Ok(r.shard_iterator().map(str::to_owned)),
        // A sequence number from another shard: start this shard at its beginning and skip
        // what is not newer (read_shard's filter).
        Err(_) if matches!(start, StartAt::After(_)) => Ok(client
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| err("GetShardIterator", shard, e))?
            .shard_iterator()
            .map(str::to_owned)),
        Err(e) => Err(err("GetShardIterator", shard, e)),
    }
}

/// Lambda event JSON for records read from the Streams API, written by the generator's
/// writer ([`ddb_lake_synth::event_json`]): the records become `aws_lambda_events` types,
/// which is what the function is handed, and there is one writer of such text.
///
/// A record holding an attribute type this build's AWS SDK does not know cannot be
/// represented; it is an error naming the record rather than a value silently lost.
pub fn event_json(stream_arn: &str, records: &[&Record]) -> Result<String, StreamError> {
    let region = stream_arn.split(':').nth(3).unwrap_or("us-east-1");
    let mut event = Event::default();
    event.records = records.iter().map(|r| lambda_record(stream_arn, region, r)).collect::<Result<_, _>>()?;
    Ok(ddb_lake_synth::event_json(&event))
}

fn lambda_record(stream_arn: &str, region: &str, r: &Record) -> Result<EventRecord, StreamError> {
    let mut change = LambdaStreamRecord::default();
    if let Some(d) = r.dynamodb() {
        let seq = d.sequence_number().unwrap_or("without a sequence number");
        if let Some(t) = d.approximate_creation_date_time() {
            change.approximate_creation_date_time =
                chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default();
        }
        change.keys = lambda_item(d.keys(), seq)?;
        change.new_image = lambda_item(d.new_image(), seq)?;
        change.old_image = lambda_item(d.old_image(), seq)?;
        change.sequence_number = d.sequence_number().map(str::to_owned);
        change.size_bytes = d.size_bytes().unwrap_or_default();
        // A view type newer than both SDKs is left out (the `stream_view_type` column is NULL).
        change.stream_view_type = d.stream_view_type().and_then(|v| match v {
            ViewType::NewImage => Some(LambdaViewType::NewImage),
            ViewType::OldImage => Some(LambdaViewType::OldImage),
            ViewType::NewAndOldImages => Some(LambdaViewType::NewAndOldImages),
            ViewType::KeysOnly => Some(LambdaViewType::KeysOnly),
            _ => None,
        });
    }
    let mut rec = EventRecord::default();
    rec.event_id = r.event_id().unwrap_or_default().to_owned();
    rec.event_name = r.event_name().map(|n| n.as_str()).unwrap_or_default().to_owned();
    rec.event_version = Some(r.event_version().unwrap_or("1.1").to_owned());
    rec.event_source = Some("aws:dynamodb".to_owned());
    rec.aws_region = r.aws_region().unwrap_or(region).to_owned();
    rec.event_source_arn = Some(stream_arn.to_owned());
    rec.change = change;
    rec.user_identity = r.user_identity().map(|u| {
        let mut identity = UserIdentity::default();
        identity.type_ = u.r#type().unwrap_or_default().to_owned();
        identity.principal_id = u.principal_id().unwrap_or_default().to_owned();
        identity
    });
    Ok(rec)
}

fn lambda_item(item: Option<&HashMap<String, AttributeValue>>, seq: &str) -> Result<Item, StreamError> {
    let mut out = HashMap::with_capacity(item.map_or(0, HashMap::len));
    for (name, value) in item.into_iter().flatten() {
        out.insert(name.clone(), lambda_value(value, seq)?);
    }
    Ok(Item::from(out))
}

/// Written here rather than with serde_dynamo's `aws-sdk-dynamodbstreams+1` conversion:
/// that one panics on a type the SDK does not know, where this names the record.
fn lambda_value(value: &AttributeValue, seq: &str) -> Result<Av, StreamError> {
    Ok(match value {
        AttributeValue::S(s) => Av::S(s.clone()),
        AttributeValue::N(n) => Av::N(n.clone()),
        AttributeValue::B(b) => Av::B(b.as_ref().to_vec()),
        AttributeValue::Ss(s) => Av::Ss(s.clone()),
        AttributeValue::Ns(s) => Av::Ns(s.clone()),
        AttributeValue::Bs(s) => Av::Bs(s.iter().map(|b| b.as_ref().to_vec()).collect()),
        AttributeValue::M(m) => {
            Av::M(m.iter().map(|(k, v)| Ok((k.clone(), lambda_value(v, seq)?))).collect::<Result<_, StreamError>>()?)
        }
        AttributeValue::L(l) => Av::L(l.iter().map(|v| lambda_value(v, seq)).collect::<Result<_, _>>()?),
        AttributeValue::Null(b) => Av::Null(*b),
        AttributeValue::Bool(b) => Av::Bool(*b),
        other => {
            return Err(StreamError {
                operation: "GetRecords",
                target: format!("record {seq}"),
                message: format!(
                    "it holds an attribute of a type this ddb-lake's AWS SDK does not know ({other:?}); \
                     update ddb-lake and replay again from before this record"
                ),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::{Blob, DateTime};
    use aws_sdk_dynamodbstreams::types::{Identity, OperationType, StreamRecord};

    fn read(id: &str, last: Option<&str>, end: ShardEnd) -> ShardRead {
        ShardRead { shard_id: id.into(), records: 1, last_sequence: last.map(str::to_owned), end }
    }

    #[test]
    fn a_stopped_read_resumes_after_the_least_that_every_unfinished_shard_wrote() {
        let failure = |shards| StreamFailure { error: (), shards };
        let stopped = failure(vec![
            read("done", Some("9000"), ShardEnd::Closed),
            read("a", Some("303"), ShardEnd::Stopped),
            // Compared as numbers: 99 is less than 303.
            read("b", Some("99"), ShardEnd::Stopped),
        ]);
        assert_eq!(stopped.resume_after(&StartAt::TrimHorizon).as_deref(), Some("99"));
        let nothing_yet = failure(vec![read("a", Some("303"), ShardEnd::Stopped), read("c", None, ShardEnd::Stopped)]);
        assert_eq!(nothing_yet.resume_after(&StartAt::TrimHorizon), None, "from the oldest record");
        assert_eq!(nothing_yet.resume_after(&StartAt::After("120".into())).as_deref(), Some("120"));
    }

    #[test]
    fn a_finished_read_continues_after_the_least_of_the_open_shards() {
        let open = ShardEnd::CaughtUp { empty_pages: 3 };
        let reads = vec![
            read("parent", Some("900"), ShardEnd::Closed),
            read("x", Some("500"), open.clone()),
            read("y", Some("450"), open.clone()),
            read("z", None, open),
        ];
        assert_eq!(continue_after(&reads).as_deref(), Some("450"));
        let closed_only = vec![read("p", Some("100"), ShardEnd::Closed), read("q", Some("1000"), ShardEnd::Closed)];
        assert_eq!(continue_after(&closed_only).as_deref(), Some("1000"));
        assert_eq!(continue_after(&[]), None);
    }

    #[test]
    fn records_become_lambda_events_the_decoder_reads() {
        let rec = Record::builder()
            .event_id("e1")
            .event_name(OperationType::Remove)
            .user_identity(Identity::builder().r#type("Service").principal_id("dynamodb.amazonaws.com").build())
            .dynamodb(
                StreamRecord::builder()
                    .approximate_creation_date_time(DateTime::from_secs(1_700_000_000))
                    .keys("pk", AttributeValue::S("a".into()))
                    .old_image("pk", AttributeValue::S("a".into()))
                    .old_image("n", AttributeValue::N("12345678901234567890123456789012345678".into()))
                    .old_image("b", AttributeValue::B(Blob::new(vec![0u8, 255])))
                    .old_image("m", AttributeValue::M([("z".to_string(), AttributeValue::Null(true))].into()))
                    .sequence_number("42")
                    .size_bytes(10)
                    .build(),
            )
            .build();
        let arn = "arn:aws:dynamodb:eu-west-1:1:table/t/stream/x";
        let text = event_json(arn, &[&rec]).unwrap();
        let expected = concat!(
            r#"{"Records":[{"eventID":"e1","eventName":"REMOVE","eventVersion":"1.1","eventSource":"aws:dynamodb","#,
            r#""awsRegion":"eu-west-1","userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"},"#,
            r#""dynamodb":{"ApproximateCreationDateTime":1700000000,"Keys":{"pk":{"S":"a"}},"#,
            r#""OldImage":{"b":{"B":"AP8="},"m":{"M":{"z":{"NULL":true}}},"#,
            r#""n":{"N":"12345678901234567890123456789012345678"},"pk":{"S":"a"}},"#,
            r#""SequenceNumber":"42","SizeBytes":10},"#,
            r#""eventSourceARN":"arn:aws:dynamodb:eu-west-1:1:table/t/stream/x"}]}"#,
        );
        assert_eq!(text, expected);
        let raw = ddb_lake_writer::record::split_event(&text).unwrap();
        let r = ddb_lake_writer::record::decode_record(raw[0].get()).unwrap();
        assert!(r.ttl_delete);
        let old = r.old_image.unwrap();
        assert_eq!(old.get("n").unwrap().scalar_text(), Some("12345678901234567890123456789012345678"));
        assert_eq!(old.get("b").unwrap().scalar_text(), Some("AP8="));
    }

    #[test]
    fn a_record_without_a_time_stays_without_one_and_is_not_filed_under_1970() {
        let rec = Record::builder()
            .event_id("e2")
            .event_name(OperationType::Insert)
            .dynamodb(StreamRecord::builder().keys("pk", AttributeValue::S("a".into())).sequence_number("7").build())
            .build();
        let text = event_json("arn:aws:dynamodb:eu-west-1:1:table/t/stream/x", &[&rec]).unwrap();
        assert!(text.contains(r#""dynamodb":{"Keys":{"pk":{"S":"a"}},"SequenceNumber":"7","SizeBytes":0}"#), "{text}");
        let raw = ddb_lake_writer::record::split_event(&text).unwrap();
        let err = ddb_lake_writer::record::decode_record(raw[0].get()).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("ApproximateCreationDateTime"), "{err}");
    }
}
