//! A scripted DynamoDB Streams endpoint on 127.0.0.1 for the replay tests: it answers
//! `DescribeStream`, `GetShardIterator` and `GetRecords` (the JSON 1.0 protocol the SDK
//! speaks, `X-Amz-Target: DynamoDBStreams_20120810.<Operation>`) from pages the test writes,
//! including the empty pages the real service may return between records, which moto never
//! does.
//!
//! A shard is a list of pages, each a list of records (the Streams API's record JSON). The
//! iterator of page `i` is `<shard>/<i>`. A closed shard hands out no next iterator after its
//! last page; an open one answers empty pages with a next iterator for ever after it.
//! [`StubStreams::get_records_calls`] counts the pages read per shard. A shard may fail at a
//! page (a `TrimmedDataAccessException`, which the SDK does not retry); [`StubStreams::slow`]
//! holds every GetRecords answer a while and [`StubStreams::most_at_once`] says how many
//! GetRecords calls were being answered at the same time, at most.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::http;

/// One scripted shard.
#[derive(Debug, Clone)]
pub struct StubShard {
    /// Its id.
    pub id: String,
    /// Closed: no next iterator after the last page. Open: empty pages for ever.
    pub closed: bool,
    /// The pages, each a list of records as the Streams API writes them.
    pub pages: Vec<Vec<serde_json::Value>>,
}

impl StubShard {
    /// A GetRecords of page `page` of this shard fails.
    pub fn failing_at(self, page: usize) -> FailingShard {
        FailingShard { shard: self, page }
    }
}

/// A shard whose GetRecords fails at one page.
pub struct FailingShard {
    shard: StubShard,
    page: usize,
}

/// The endpoint, serving in background threads for as long as the test runs.
pub struct StubStreams {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    stream_arn: String,
    shards: Vec<StubShard>,
    calls: Mutex<BTreeMap<String, usize>>,
    /// (shard, page) whose GetRecords fails.
    failing: Vec<(String, usize)>,
    /// How long each GetRecords answer is held.
    hold: std::time::Duration,
    /// GetRecords calls being answered now, and the most at once.
    at_once: Mutex<(usize, usize)>,
}

impl StubStreams {
    /// Starts serving `shards` as the stream `stream_arn` on a free port.
    pub fn start(stream_arn: &str, shards: Vec<StubShard>) -> StubStreams {
        Self::serve(stream_arn, shards, Vec::new(), std::time::Duration::ZERO)
    }

    /// [`StubStreams::start`] with some shards failing at a page, and every GetRecords
    /// answer held for `hold` (so that calls made at the same time overlap).
    pub fn slow(
        stream_arn: &str,
        shards: Vec<StubShard>,
        failing: Vec<FailingShard>,
        hold: std::time::Duration,
    ) -> StubStreams {
        let mut shards = shards;
        let failing = failing
            .into_iter()
            .map(|f| {
                let at = (f.shard.id.clone(), f.page);
                shards.push(f.shard);
                at
            })
            .collect();
        Self::serve(stream_arn, shards, failing, hold)
    }

    fn serve(
        stream_arn: &str,
        shards: Vec<StubShard>,
        failing: Vec<(String, usize)>,
        hold: std::time::Duration,
    ) -> StubStreams {
        let listener = TcpListener::bind("127.0.0.1:0").expect("stub_streams: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("stub_streams: local address");
        let shared = Arc::new(Shared {
            stream_arn: stream_arn.to_owned(),
            shards,
            calls: Mutex::new(BTreeMap::new()),
            failing,
            hold,
            at_once: Mutex::new((0, 0)),
        });
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let shared = Arc::clone(&accept);
                std::thread::spawn(move || serve(conn, &shared));
            }
        });
        StubStreams { addr, shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many `GetRecords` calls each shard got.
    pub fn get_records_calls(&self) -> BTreeMap<String, usize> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// The most `GetRecords` calls that were being answered at the same time.
    pub fn most_at_once(&self) -> usize {
        self.shared.at_once.lock().unwrap().1
    }
}

fn serve(conn: TcpStream, shared: &Shared) {
    let mut writer = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    loop {
        let request = match http::read_request(&mut reader, 1 << 20, &mut || Ok(())) {
            Ok(Some(r)) => r,
            _ => return,
        };
        let operation = request.header("x-amz-target").and_then(|t| t.split('.').nth(1)).unwrap_or("").to_owned();
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let (status, answer) = if operation == "GetRecords" {
            {
                let mut at_once = shared.at_once.lock().unwrap();
                at_once.0 += 1;
                at_once.1 = at_once.1.max(at_once.0);
            }
            std::thread::sleep(shared.hold);
            let said = answer(shared, &operation, &body);
            shared.at_once.lock().unwrap().0 -= 1;
            said
        } else {
            answer(shared, &operation, &body)
        };
        let text = answer.to_string();
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n",
            text.len()
        );
        if writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(text.as_bytes())).is_err() {
            return;
        }
    }
}

fn answer(shared: &Shared, operation: &str, body: &serde_json::Value) -> (&'static str, serde_json::Value) {
    let shard_of = |id: &str| shared.shards.iter().find(|s| s.id == id);
    match operation {
        "DescribeStream" => {
            let shards: Vec<serde_json::Value> = shared
                .shards
                .iter()
                .map(|s| {
                    let mut range = serde_json::json!({ "StartingSequenceNumber": "1" });
                    if s.closed {
                        range["EndingSequenceNumber"] = "999999".into();
                    }
                    serde_json::json!({ "ShardId": s.id, "SequenceNumberRange": range })
                })
                .collect();
            let description = serde_json::json!({
                "StreamArn": shared.stream_arn,
                "StreamStatus": "ENABLED",
                "StreamViewType": "NEW_AND_OLD_IMAGES",
                "Shards": shards,
            });
            ("200 OK", serde_json::json!({ "StreamDescription": description }))
        }
        "GetShardIterator" => match body["ShardId"].as_str().and_then(shard_of) {
            Some(s) => ("200 OK", serde_json::json!({ "ShardIterator": format!("{}/0", s.id) })),
            None => not_found("no such shard"),
        },
        "GetRecords" => {
            let iterator = body["ShardIterator"].as_str().unwrap_or("");
            let Some((id, page)) = iterator.rsplit_once('/') else { return not_found("bad iterator") };
            let (Some(shard), Ok(page)) = (shard_of(id), page.parse::<usize>()) else {
                return not_found("bad iterator");
            };
            *shared.calls.lock().unwrap().entry(id.to_owned()).or_default() += 1;
            if shared.failing.iter().any(|(shard, at)| shard == id && *at == page) {
                return (
                    "400 Bad Request",
                    serde_json::json!({
                        "__type": "com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException",
                        "message": format!("scripted failure at page {page} of {id}"),
                    }),
                );
            }
            let records = shard.pages.get(page).cloned().unwrap_or_default();
            let mut out = serde_json::json!({ "Records": records });
            if !shard.closed || page + 1 < shard.pages.len() {
                out["NextShardIterator"] = format!("{id}/{}", page + 1).into();
            }
            ("200 OK", out)
        }
        other => not_found(&format!("operation {other:?} is not scripted")),
    }
}

fn not_found(message: &str) -> (&'static str, serde_json::Value) {
    (
        "400 Bad Request",
        serde_json::json!({ "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": message }),
    )
}
