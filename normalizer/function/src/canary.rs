//! The canary's heartbeat records in an event: the stack writes an item with a fixed key to
//! the source table every few minutes (`DDB_LAKE_CANARY_KEY`); the function counts its
//! records once their rows are written, and an alarm fires when none arrives for a while.

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Record {
    dynamodb: Change,
}

#[derive(Deserialize)]
struct Change {
    #[serde(rename = "Keys", default)]
    keys: std::collections::BTreeMap<String, Key>,
    #[serde(rename = "ApproximateCreationDateTime")]
    time: Option<f64>,
}

#[derive(Deserialize)]
struct Key {
    #[serde(rename = "S")]
    s: Option<String>,
}

/// (index in the event, ApproximateCreationDateTime in ms) of every record of the item whose
/// key attribute (any of them) is the string `key`. Only events that hold `key` at all are
/// parsed; a record that does not parse is not a heartbeat.
pub fn heartbeats(event: &str, key: &str) -> Vec<(usize, i64)> {
    if !event.contains(key) {
        return Vec::new();
    }
    let Ok(parsed) = serde_json::from_str::<Event<'_>>(event) else { return Vec::new() };
    parsed
        .records
        .iter()
        .enumerate()
        .filter(|(_, raw)| raw.get().contains(key))
        .filter_map(|(i, raw)| {
            let record: Record = serde_json::from_str(raw.get()).ok()?;
            let ours = record.dynamodb.keys.values().any(|k| k.s.as_deref() == Some(key));
            Some((i, (record.dynamodb.time? * 1000.0) as i64)).filter(|_| ours)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_heartbeat_records_by_key() {
        let event = r#"{"Records": [
            {"dynamodb": {"Keys": {"pk": {"S": "CLIENT#1"}}, "ApproximateCreationDateTime": 1764979200}},
            {"dynamodb": {"Keys": {"pk": {"S": "ddb-lake#canary"}, "sk": {"S": "heartbeat"}}, "ApproximateCreationDateTime": 1764979260.5}},
            {"dynamodb": {"Keys": {"pk": {"S": "x"}}, "NewImage": {"note": {"S": "ddb-lake#canary"}}, "ApproximateCreationDateTime": 1}},
            {"dynamodb": {"Keys": {"pk": {"N": "1"}}}}
        ]}"#;
        assert_eq!(heartbeats(event, "ddb-lake#canary"), [(1, 1_764_979_260_500)]);
        assert!(heartbeats(event, "absent").is_empty());
        assert!(heartbeats("not json ddb-lake#canary", "ddb-lake#canary").is_empty());
    }
}
