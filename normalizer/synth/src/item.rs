//! The state of one sync-configuration item while its history is written, how it becomes a
//! DynamoDB item, and that item's size as DynamoDB counts it (for `SizeBytes`).

use std::collections::HashMap;

use serde_dynamo::{AttributeValue, Item};

use crate::catalogue::{CHECKSUM_LEN, DIRECTIONS, FIELDS};

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Transform {
    Absent,
    Null,
    Value(&'static str),
}

pub(crate) struct Mapping {
    pub(crate) field: usize,
    pub(crate) mapping: &'static str,
    pub(crate) direction: usize,
    pub(crate) transform: Transform,
}

pub(crate) struct LastError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) at: String,
}

pub(crate) struct RetryOptions {
    pub(crate) max_attempts: u32,
    pub(crate) strategy: &'static str,
    pub(crate) base_seconds: u32,
    pub(crate) max_seconds: u32,
    pub(crate) webhooks: bool,
}

/// One sync-configuration item as the app holds it.
pub(crate) struct SyncConfig {
    pub(crate) pk: String,
    pub(crate) sk: String,
    pub(crate) client_key: String,
    pub(crate) sync_id: String,
    pub(crate) name: String,
    pub(crate) enabled: bool,
    pub(crate) interval: u32,
    pub(crate) timezone: &'static str,
    pub(crate) cron: Option<&'static str>,
    pub(crate) mappings: Vec<Mapping>,
    pub(crate) labels: Vec<&'static str>,
    pub(crate) weights: Vec<String>,
    pub(crate) checksum: [u8; CHECKSUM_LEN],
    pub(crate) attachments: Vec<Vec<u8>>,
    pub(crate) synced: u128,
    pub(crate) failures: u64,
    pub(crate) last_error: Option<LastError>,
    pub(crate) version: u64,
    pub(crate) updated_at: String,
    pub(crate) ttl: Option<i64>,
    pub(crate) notes_null: bool,
    pub(crate) options: Option<RetryOptions>,
}

pub(crate) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn map(entries: Vec<(&str, AttributeValue)>) -> AttributeValue {
    AttributeValue::M(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

impl SyncConfig {
    pub(crate) fn keys(&self) -> Item {
        let mut keys = Item::default();
        keys.insert("pk".to_owned(), s(&self.pk));
        keys.insert("sk".to_owned(), s(&self.sk));
        keys
    }

    /// The item as DynamoDB stores it.
    pub(crate) fn image(&self) -> Item {
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

pub(crate) fn number_size(n: &str) -> usize {
    let digits = n.trim_start_matches(['-', '0', '.']);
    let significant = digits.bytes().filter(u8::is_ascii_digit).count();
    significant.div_ceil(2) + 1
}

pub(crate) fn value_size(value: &AttributeValue) -> usize {
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
pub(crate) fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}
