//! The S3 sink: lake objects as S3 objects under the lake prefix.
//!
//! Built once at start-up by the Lambda function (and `ddb-lake replay`) and lent to every
//! batch. Keys are the deterministic [`ObjectKey`]s under the configured prefix; quarantine
//! objects may go under their own prefix. Retries with backoff are the SDK's (standard
//! retry mode), each attempt bounded by [`S3Timeouts`]; the endpoint (`AWS_ENDPOINT_URL` or
//! the setting) and path-style addressing let it run against a local S3-compatible endpoint.

use std::time::Duration;

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;

use crate::sink::{LakeReader, LakeSink, QuarantineStore, SinkError};
use ddb_lake_core::object_key::{ObjectKey, QUARANTINE_DIR};

/// Time bounds on every S3 call, so that a stalled request becomes an error and a retry
/// (the SDK's standard retry mode) rather than a hang: to connect, to the response's
/// first byte, and for one attempt as a whole. The function reads them from
/// `DDB_LAKE_S3_CONNECT_TIMEOUT_MS`, `DDB_LAKE_S3_READ_TIMEOUT_MS` and
/// `DDB_LAKE_S3_ATTEMPT_TIMEOUT_MS`; the CLI uses the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Timeouts {
    /// To open a connection (TCP and TLS).
    pub connect: Duration,
    /// From a request sent to its response's first byte.
    pub read: Duration,
    /// One attempt, connecting included.
    pub attempt: Duration,
}

impl Default for S3Timeouts {
    /// 3 s to connect, 10 s to the first byte, 20 s an attempt: a lake object is at most a
    /// few MB, which S3 takes well under a second to accept from inside AWS.
    fn default() -> Self {
        S3Timeouts { connect: Duration::from_secs(3), read: Duration::from_secs(10), attempt: Duration::from_secs(20) }
    }
}

impl S3Timeouts {
    /// The SDK's timeout configuration (for `aws_sdk_s3::config::Builder::timeout_config`).
    pub fn config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.read)
            .operation_attempt_timeout(self.attempt)
            .build()
    }
}

/// Server-side encryption requested on every object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Encryption {
    /// Whatever the bucket's default is.
    #[default]
    BucketDefault,
    /// SSE-S3 (`AES256`).
    S3Managed,
    /// SSE-KMS, with a key id or ARN (or the AWS managed key when `None`).
    Kms(Option<String>),
}

impl Encryption {
    /// Parses `AES256`, `aws:kms`, `aws:kms:<key>` or an empty string (bucket default).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "" => Some(Encryption::BucketDefault),
            "AES256" => Some(Encryption::S3Managed),
            "aws:kms" => Some(Encryption::Kms(None)),
            t => t.strip_prefix("aws:kms:").filter(|k| !k.is_empty()).map(|k| Encryption::Kms(Some(k.to_owned()))),
        }
    }
}

/// Writes lake objects to a bucket.
#[derive(Debug, Clone)]
pub struct S3Sink {
    client: Client,
    bucket: String,
    prefix: String,
    quarantine_prefix: String,
    encryption: Encryption,
}

fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_owned()
    } else {
        format!("{}/{rest}", prefix.trim_end_matches('/'))
    }
}

/// Where quarantined records go when no quarantine prefix is configured: `<prefix>/_quarantine`
/// (`_quarantine` when the prefix is empty). The CLI's `schema export` reports the same value.
pub fn default_quarantine_prefix(prefix: &str) -> String {
    join(prefix.trim_matches('/'), QUARANTINE_DIR)
}

impl S3Sink {
    /// A sink for `s3://bucket/prefix/`; quarantine objects go under `quarantine_prefix`
    /// (`None`: `<prefix>/_quarantine/`).
    pub fn new(
        client: Client,
        bucket: &str,
        prefix: &str,
        quarantine_prefix: Option<&str>,
        encryption: Encryption,
    ) -> Self {
        let prefix = prefix.trim_matches('/').to_owned();
        let quarantine_prefix = match quarantine_prefix {
            Some(q) => q.trim_matches('/').to_owned(),
            None => default_quarantine_prefix(&prefix),
        };
        S3Sink { client, bucket: bucket.to_owned(), prefix, quarantine_prefix, encryption }
    }

    /// The S3 key of a lake object.
    pub fn s3_key(&self, key: &ObjectKey) -> String {
        match key.as_str().strip_prefix(QUARANTINE_DIR).and_then(|r| r.strip_prefix('/')) {
            Some(rest) => join(&self.quarantine_prefix, rest),
            None => join(&self.prefix, key.as_str()),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `s3://bucket/prefix`: where the lake is, for messages.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// The lake objects whose key (relative to the lake, as [`ObjectKey::as_str`]) starts
    /// with `start`, as S3 keys, listed (ListObjectsV2, s3:ListBucket on that prefix).
    pub async fn s3_keys_starting_with(&self, start: &str) -> Result<Vec<String>, SinkError> {
        let prefix = join(&self.prefix, start);
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(&prefix, e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        Ok(keys)
    }
}

impl LakeSink for S3Sink {
    async fn put(&self, key: &ObjectKey, body: &[u8]) -> Result<(), SinkError> {
        let s3_key = self.s3_key(key);
        let content_type =
            if key.as_str().ends_with(".jsonl.gz") { "application/x-ndjson" } else { "text/tab-separated-values" };
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&s3_key)
            .content_type(content_type)
            .content_encoding("gzip")
            .body(ByteStream::from(body.to_vec()));
        req = match &self.encryption {
            Encryption::BucketDefault => req,
            Encryption::S3Managed => req.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::Kms(k) => req.server_side_encryption(ServerSideEncryption::AwsKms).set_ssekms_key_id(k.clone()),
        };
        req.send().await.map(|_| ()).map_err(|e| SinkError {
            key: format!("s3://{}/{s3_key}", self.bucket),
            source: DisplayErrorContext(e).to_string().into(),
        })
    }
}

impl S3Sink {
    fn error<E: std::error::Error + Send + Sync + 'static>(
        &self,
        s3_key: &str,
        e: aws_sdk_s3::error::SdkError<E>,
    ) -> SinkError {
        SinkError { key: format!("s3://{}/{s3_key}", self.bucket), source: DisplayErrorContext(e).to_string().into() }
    }
}

impl LakeReader for S3Sink {
    async fn get(&self, key: &ObjectKey) -> Result<Vec<u8>, SinkError> {
        let s3_key = self.s3_key(key);
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&s3_key)
            .send()
            .await
            .map_err(|e| self.error(&s3_key, e))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| SinkError { key: format!("s3://{}/{s3_key}", self.bucket), source: Box::new(e) })?;
        Ok(body.into_bytes().to_vec())
    }

    async fn snapshot_markers(&self) -> Result<Vec<ObjectKey>, SinkError> {
        let folder = format!("{}/", ddb_lake_core::schema::BuiltInTable::Snapshots.name());
        let prefix = join(&self.prefix, &folder);
        let mut keys = Vec::new();
        for key in self.s3_keys_starting_with(&folder).await? {
            let mut parts = key.strip_prefix(&prefix).unwrap_or_default().split('/');
            if let (Some(day), Some(name), None) = (parts.next(), parts.next(), parts.next()) {
                keys.extend(ObjectKey::snapshot_marker_named(day, name));
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn compacted_through(&self) -> Result<Option<String>, SinkError> {
        let folder = format!("{}/", ddb_lake_core::schema::BuiltInTable::Compactions.name());
        let prefix = join(&self.prefix, &folder);
        let mut last = None;
        for key in self.s3_keys_starting_with(&folder).await? {
            let mut parts = key.strip_prefix(&prefix).unwrap_or_default().split('/');
            if let (Some(day), Some(name), None) = (parts.next(), parts.next(), parts.next()) {
                last = last.max(ObjectKey::compaction_marker_day(day, name).map(str::to_owned));
            }
        }
        Ok(last)
    }
}

impl QuarantineStore for S3Sink {
    async fn quarantine_objects(&self) -> Result<Vec<ObjectKey>, SinkError> {
        let prefix =
            if self.quarantine_prefix.is_empty() { String::new() } else { format!("{}/", self.quarantine_prefix) };
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(&prefix, e))?;
            for o in page.contents() {
                let name = o.key().and_then(|k| k.strip_prefix(&prefix));
                if let Some(key) = name.filter(|n| !n.contains('/')).and_then(ObjectKey::quarantine_named) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), SinkError> {
        let s3_key = self.s3_key(key);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&s3_key)
            .send()
            .await
            .map_err(|e| self.error(&s3_key, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddb_lake_core::object_key::BatchId;

    #[test]
    fn keys_go_under_their_prefixes() {
        let conf =
            aws_sdk_s3::Config::builder().behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build();
        let b = BatchId { source: "s".into(), first_sequence: "1".into(), last_sequence: "2".into() };
        let sink = S3Sink::new(Client::from_conf(conf.clone()), "b", "/lake/x/", None, Encryption::S3Managed);
        assert_eq!(
            sink.s3_key(&ObjectKey::rows("changes", "2026-11-01", &b)),
            "lake/x/changes/dt=2026-11-01/s_1_2.tsv.gz"
        );
        assert_eq!(sink.s3_key(&ObjectKey::quarantine(&b)), "lake/x/_quarantine/s_1_2.jsonl.gz");
        let sink = S3Sink::new(Client::from_conf(conf), "b", "", Some("q/"), Encryption::BucketDefault);
        assert_eq!(sink.s3_key(&ObjectKey::quarantine(&b)), "q/s_1_2.jsonl.gz");
        assert_eq!(Encryption::parse("aws:kms:alias/x"), Some(Encryption::Kms(Some("alias/x".into()))));
        assert_eq!(Encryption::parse("nope"), None);
    }
}
