//! Reading a DynamoDB stream directly (DynamoDB Streams API), for `ddb-lake replay`.
//!
//! Walks every shard of a stream from TRIM_HORIZON (or after a sequence number), pages
//! through GetRecords, and turns each page into the JSON of a Lambda event, so the records
//! go through exactly the function's path ([`normalizer::delivery::process_event`]). Used for
//! local testing and for catching up after an outage. Map attributes are written in name
//! order, so replaying the same records yields the same bytes.

use std::collections::BTreeMap;

use aws_sdk_dynamodbstreams::error::DisplayErrorContext;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use base64::Engine;
use serde_json::{json, Map, Value};

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

/// The shard ids of a stream, parents before children.
pub async fn shards(client: &Client, stream_arn: &str) -> Result<Vec<String>, StreamError> {
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
                out.push(id.to_owned());
            }
        }
        match desc.last_evaluated_shard_id() {
            Some(last) => start = Some(last.to_owned()),
            None => break,
        }
    }
    Ok(out)
}

/// Reads every shard from `start` up to the newest record, calling `page` for each
/// non-empty page of at most `limit` records.
pub async fn read_stream<F, Fut, E>(
    client: &Client,
    stream_arn: &str,
    start: &StartAt,
    limit: i32,
    mut page: F,
) -> Result<usize, E>
where
    F: FnMut(StreamPage) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: From<StreamError>,
{
    let mut total = 0;
    for shard in shards(client, stream_arn).await? {
        let mut req = client.get_shard_iterator().stream_arn(stream_arn).shard_id(&shard);
        req = match start {
            StartAt::TrimHorizon => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            StartAt::After(seq) => req.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(seq),
        };
        let mut iterator = match req.send().await {
            Ok(r) => r.shard_iterator().map(str::to_owned),
            // A sequence number from another shard: start this shard at its beginning and
            // skip what is not newer below.
            Err(_) if matches!(start, StartAt::After(_)) => client
                .get_shard_iterator()
                .stream_arn(stream_arn)
                .shard_id(&shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(|e| err("GetShardIterator", &shard, e))?
                .shard_iterator()
                .map(str::to_owned),
            Err(e) => return Err(err("GetShardIterator", &shard, e).into()),
        };
        while let Some(it) = iterator.take() {
            let resp = client
                .get_records()
                .shard_iterator(&it)
                .limit(limit)
                .send()
                .await
                .map_err(|e| err("GetRecords", &shard, e))?;
            let records: Vec<&Record> = resp
                .records()
                .iter()
                .filter(|r| match start {
                    StartAt::After(seq) => r
                        .dynamodb()
                        .and_then(|d| d.sequence_number())
                        .is_some_and(|s| lake_core::object_key::compare_sequence_numbers(s, seq).is_gt()),
                    StartAt::TrimHorizon => true,
                })
                .collect();
            if resp.records().is_empty() {
                // Caught up with this shard (an open shard keeps handing out iterators).
                break;
            }
            if !records.is_empty() {
                total += records.len();
                page(StreamPage {
                    shard_id: shard.clone(),
                    event_json: event_json(stream_arn, &records),
                    records: records.len(),
                })
                .await?;
            }
            iterator = resp.next_shard_iterator().map(str::to_owned);
        }
    }
    Ok(total)
}

/// Lambda event JSON for records read from the Streams API.
pub fn event_json(stream_arn: &str, records: &[&Record]) -> String {
    let region = stream_arn.split(':').nth(3).unwrap_or("us-east-1");
    let list: Vec<Value> = records.iter().map(|r| record_json(stream_arn, region, r)).collect();
    json!({ "Records": list }).to_string()
}

fn record_json(stream_arn: &str, region: &str, r: &Record) -> Value {
    let mut ddb = Map::new();
    if let Some(d) = r.dynamodb() {
        if let Some(t) = d.approximate_creation_date_time() {
            ddb.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
        for (name, image) in [("Keys", d.keys()), ("NewImage", d.new_image()), ("OldImage", d.old_image())] {
            if let Some(img) = image {
                ddb.insert(name.into(), item_json(img));
            }
        }
        if let Some(s) = d.sequence_number() {
            ddb.insert("SequenceNumber".into(), json!(s));
        }
        if let Some(n) = d.size_bytes() {
            ddb.insert("SizeBytes".into(), json!(n));
        }
        if let Some(v) = d.stream_view_type() {
            ddb.insert("StreamViewType".into(), json!(v.as_str()));
        }
    }
    let mut rec = Map::new();
    rec.insert("eventID".into(), json!(r.event_id()));
    rec.insert("eventName".into(), json!(r.event_name().map(|n| n.as_str())));
    rec.insert("eventVersion".into(), json!(r.event_version().unwrap_or("1.1")));
    rec.insert("eventSource".into(), json!("aws:dynamodb"));
    rec.insert("awsRegion".into(), json!(r.aws_region().unwrap_or(region)));
    rec.insert("eventSourceARN".into(), json!(stream_arn));
    rec.insert("dynamodb".into(), Value::Object(ddb));
    if let Some(u) = r.user_identity() {
        rec.insert("userIdentity".into(), json!({"type": u.r#type(), "principalId": u.principal_id()}));
    }
    Value::Object(rec)
}

fn item_json(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    let sorted: BTreeMap<&String, &AttributeValue> = item.iter().collect();
    Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), value_json(v))).collect())
}

fn value_json(v: &AttributeValue) -> Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match v {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::B(b) => json!({"B": b64(b.as_ref())}),
        AttributeValue::Ss(s) => json!({"SS": s}),
        AttributeValue::Ns(s) => json!({"NS": s}),
        AttributeValue::Bs(s) => json!({"BS": s.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": item_json(m)}),
        AttributeValue::L(l) => json!({"L": l.iter().map(value_json).collect::<Vec<_>>()}),
        AttributeValue::Null(b) => json!({"NULL": b}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        // A type newer than this SDK: keep it visible; the decoder quarantines the record.
        other => json!({"UNKNOWN": format!("{other:?}")}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::{Blob, DateTime};
    use aws_sdk_dynamodbstreams::types::{Identity, OperationType, StreamRecord};

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
        let text = event_json("arn:aws:dynamodb:eu-west-1:1:table/t/stream/x", &[&rec]);
        let raw = normalizer::record::split_event(&text).unwrap();
        let r = normalizer::record::decode_record(raw[0].get()).unwrap();
        assert!(r.ttl_delete);
        let old = r.old_image.unwrap();
        assert_eq!(old.get("n").unwrap().scalar_text(), Some("12345678901234567890123456789012345678"));
        assert_eq!(old.get("b").unwrap().scalar_text(), Some("AP8="));
        // Same records, same text.
        assert_eq!(text, event_json("arn:aws:dynamodb:eu-west-1:1:table/t/stream/x", &[&rec]));
    }
}
