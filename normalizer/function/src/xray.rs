//! X-Ray subsegments around the function's calls to other services: each S3 write of a
//! batch, and the Secrets Manager read of the redaction key at cold start (sent with the
//! first invocation's trace, at the times it happened). Each is one UDP datagram to the X-Ray
//! daemon Lambda runs beside the function (`AWS_XRAY_DAEMON_ADDRESS`), in the daemon's
//! format: the header line `{"format": "json", "version": 1}`, then the subsegment document.
//! Only for invocations X-Ray samples (`Sampled=1` in the trace header); a datagram that
//! cannot be sent is dropped (tracing never fails a batch).

use std::hash::{BuildHasher, Hasher};
use std::net::UdpSocket;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use ddb_lake_core::object_key::ObjectKey;
use ddb_lake_writer::sink::{LakeSink, SinkError};
use serde_json::json;

/// The header line every datagram to the daemon starts with.
const DAEMON_HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

/// Where this invocation's subsegments go: its trace and the parent (the function's segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// `1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`.
    pub trace_id: String,
    /// The segment the subsegments hang under.
    pub parent_id: String,
}

impl TraceContext {
    /// The context of a `Root=…;Parent=…;Sampled=1` trace header, or `None` when the
    /// invocation is not sampled (or the header is not one).
    pub fn of_header(header: &str) -> Option<TraceContext> {
        let (mut root, mut parent, mut sampled) = (None, None, false);
        for part in header.split(';') {
            match part.trim().split_once('=') {
                Some(("Root", v)) => root = Some(v.to_owned()),
                Some(("Parent", v)) => parent = Some(v.to_owned()),
                Some(("Sampled", v)) => sampled = v == "1",
                _ => {}
            }
        }
        Some(TraceContext { trace_id: root?, parent_id: parent? }).filter(|_| sampled)
    }
}

/// A call to time: when it started and ended (seconds since the epoch).
#[derive(Debug, Clone, Copy)]
pub struct Span {
    start: f64,
    end: f64,
}

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Span {
    /// Starts now.
    pub fn start() -> Span {
        let now = now_seconds();
        Span { start: now, end: now }
    }

    /// Ends now.
    pub fn end(mut self) -> Span {
        self.end = now_seconds();
        self
    }
}

/// A random 64-bit id as 16 hex digits (each `RandomState` has keys of its own).
fn new_id() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_seconds().to_bits());
    format!("{:016x}", h.finish())
}

/// Sends subsegments to the daemon.
#[derive(Debug)]
pub struct Tracer {
    socket: Option<UdpSocket>,
    /// The cold start's Secrets Manager read (when, and whether it succeeded), sent with the
    /// first sampled invocation.
    pending: Mutex<Vec<(Span, bool)>>,
}

impl Tracer {
    /// A tracer sending to `AWS_XRAY_DAEMON_ADDRESS` (`host:port`, or `udp:host:port
    /// tcp:host:port`); without one, or when it cannot be reached, one that sends nothing.
    pub fn from_env() -> Tracer {
        let address = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok().and_then(|v| {
            v.split_whitespace().find_map(|a| a.strip_prefix("udp:")).map(str::to_owned).or_else(|| {
                Some(v.trim().to_owned()).filter(|a| !a.is_empty() && !a.contains(' ') && !a.contains("tcp:"))
            })
        });
        let socket = address.and_then(|a| {
            let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
            socket.connect(a).ok()?;
            Some(socket)
        });
        Tracer { socket, pending: Mutex::new(Vec::new()) }
    }

    /// The subsegment document of a call.
    fn document(
        context: &TraceContext,
        name: &str,
        span: Span,
        operation: &str,
        annotations: serde_json::Value,
        failed: bool,
    ) -> serde_json::Value {
        let mut doc = json!({
            "name": name,
            "id": new_id(),
            "trace_id": context.trace_id,
            "parent_id": context.parent_id,
            "type": "subsegment",
            "namespace": "aws",
            "start_time": span.start,
            "end_time": span.end,
            "aws": {"operation": operation},
            "annotations": annotations,
        });
        if failed {
            doc["fault"] = json!(true);
        }
        doc
    }

    fn send(&self, doc: &serde_json::Value) {
        if let Some(socket) = &self.socket {
            let _ = socket.send(format!("{DAEMON_HEADER}{doc}").as_bytes());
        }
    }

    /// Records the cold start's Secrets Manager read; it is sent with the first sampled
    /// invocation (there is no trace before one).
    pub fn secret_read(&self, span: Span, ok: bool) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.push((span, ok));
        }
    }

    /// Sends what waited for a trace (the cold start's calls) under `context`.
    pub fn flush_pending(&self, context: &TraceContext) {
        let waiting = self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
        for (span, ok) in waiting {
            let annotations = json!({"outcome": outcome(ok)});
            self.send(&Self::document(context, "SecretsManager", span, "GetSecretValue", annotations, !ok));
        }
    }
}

/// The `outcome` annotation of a call.
fn outcome(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "error"
    }
}

/// A sink that times each write to the inner sink and sends it as an `S3` subsegment with
/// the object's table and the outcome as annotations.
pub struct TracedSink<'a, S> {
    /// The sink written to.
    pub inner: &'a S,
    /// Where subsegments go.
    pub tracer: &'a Tracer,
    /// The invocation's trace.
    pub context: &'a TraceContext,
}

impl<S: LakeSink + Sync> LakeSink for TracedSink<'_, S> {
    async fn put(&self, key: &ObjectKey, body: &[u8]) -> Result<(), SinkError> {
        let span = Span::start();
        let result = self.inner.put(key, body).await;
        let table = key.components().next().unwrap_or_default();
        let annotations = json!({"table": table, "outcome": outcome(result.is_ok())});
        let doc = Tracer::document(self.context, "S3", span.end(), "PutObject", annotations, result.is_err());
        self.tracer.send(&doc);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sampled_traces_get_subsegments() {
        let h = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(
            TraceContext::of_header(h),
            Some(TraceContext {
                trace_id: "1-5759e988-bd862e3fe1be46a994272793".into(),
                parent_id: "53995c3f42cd8ad8".into()
            })
        );
        assert_eq!(TraceContext::of_header(&h.replace("Sampled=1", "Sampled=0")), None);
        assert_eq!(TraceContext::of_header("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"), None);
        assert_ne!(new_id(), new_id());
        assert_eq!(new_id().len(), 16);
    }
}
