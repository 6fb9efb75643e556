//! A local AWS Lambda Runtime API (protocol version 2018-06-01) for the integration tests.
//!
//! The tests start the real Lambda function binary (built on the `lambda_runtime` crate) as a
//! child process with `AWS_LAMBDA_RUNTIME_API` set to [`LambdaApi::address`], queue events with
//! [`LambdaApi::invoke`] and get back what the function answered. The function talks the same
//! HTTP protocol it talks inside AWS Lambda:
//!
//! - `GET /2018-06-01/runtime/invocation/next` long-polls until an event is queued, then
//!   answers `200` with the event as the body and the headers `Lambda-Runtime-Aws-Request-Id`,
//!   `Lambda-Runtime-Deadline-Ms` (epoch milliseconds, now + 60 s, or what
//!   [`LambdaApi::set_deadline`] set: the function's timeout),
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `.../{id}/error` record the
//!   outcome and answer `202 Accepted`;
//! - `POST /2018-06-01/runtime/init/error` records the body and answers `202 Accepted`.
//!
//! HTTP/1.1 keep-alive, `Content-Length` and `Transfer-Encoding: chunked` request bodies and
//! concurrent connections (one thread each) are supported. Only the standard library is used.
//! A malformed request gets `400 Bad Request` and never panics a server thread.
//!
//! Used by the integration tests under `tests/` through `mod helpers;`.
#![allow(dead_code)]

use super::http;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The ARN sent in `Lambda-Runtime-Invoked-Function-Arn` with every event.
pub const INVOKED_FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:ddb-lake-normalizer";

/// How far in the future the `Lambda-Runtime-Deadline-Ms` header of every event lies, unless
/// [`LambdaApi::set_deadline`] says otherwise.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The largest request body accepted (larger is a `400`).
const MAX_BODY: usize = 256 * 1024 * 1024;
/// How often idle connections and long polls look at the stop flag.
const POLL: Duration = Duration::from_millis(200);
/// How long a client may stall in the middle of sending a request.
const MID_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The body of `POST /runtime/invocation/{id}/response` (the handler's JSON result).
    Response(String),
    /// A `POST /runtime/invocation/{id}/error`.
    Error {
        /// `errorType` of the JSON body; when the body has none, the
        /// `Lambda-Runtime-Function-Error-Type` header; else empty.
        error_type: String,
        /// `errorMessage` of the JSON body (empty when missing).
        message: String,
        /// The raw body as posted.
        body: String,
    },
}

/// A local Lambda Runtime API server on `127.0.0.1`, serving in background threads until it
/// is dropped.
pub struct LambdaApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// State shared by the test thread and the server threads.
struct Shared {
    state: Mutex<State>,
    /// Notified whenever `State` changes (an event is queued, an outcome arrives, stop).
    changed: Condvar,
    stop: AtomicBool,
    connections: AtomicUsize,
    /// How far in the future each event's deadline lies, in ms.
    deadline_ms: AtomicU64,
    /// Whether the trace headers handed out say `Sampled=1` (X-Ray records the invocation).
    sampled: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Events queued by `invoke` and not yet handed out via `/next`: (request id, body).
    queue: VecDeque<(String, String)>,
    /// Request ids handed out via `/next` and not yet answered.
    in_flight: HashSet<String>,
    /// Answers by request id, taken away by the `invoke` that waits for them.
    outcomes: HashMap<String, Outcome>,
    /// Every request id handed out (answered or not), to tell late duplicates from unknown ids.
    handed_out_ever: HashSet<String>,
    /// How many `GET /next` requests arrived (answered or still waiting).
    next_polls: usize,
    /// How many events were handed out via `/next`.
    invocations: usize,
    /// The body of the first `POST /runtime/init/error`.
    init_error: Option<String>,
    /// Every `Lambda-Runtime-Trace-Id` handed out, in order.
    trace_headers: Vec<String>,
}

impl LambdaApi {
    /// Binds `127.0.0.1:0` and serves the Runtime API in background threads.
    pub fn start() -> LambdaApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("lambda_api: bind 127.0.0.1:0 for the Runtime API");
        let addr = listener.local_addr().expect("lambda_api: local address of the Runtime API listener");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            deadline_ms: AtomicU64::new(DEADLINE.as_millis() as u64),
            sampled: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("lambda-api-accept-{}", addr.port()))
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("lambda_api: spawn the accept thread");
        LambdaApi { addr, shared }
    }

    /// Events handed out from now on are due `timeout` after they are handed out (the
    /// function's timeout; `Lambda-Runtime-Deadline-Ms`).
    pub fn set_deadline(&self, timeout: Duration) {
        self.shared.deadline_ms.store(timeout.as_millis() as u64, Ordering::SeqCst);
    }

    /// Events handed out from now on carry a trace header that says `Sampled=1`.
    pub fn set_sampled(&self, sampled: bool) {
        self.shared.sampled.store(sampled, Ordering::SeqCst);
    }

    /// Every `Lambda-Runtime-Trace-Id` header handed out so far, in order.
    pub fn trace_headers(&self) -> Vec<String> {
        self.shared.lock().trace_headers.clone()
    }

    /// `127.0.0.1:PORT`: the value for the function's `AWS_LAMBDA_RUNTIME_API` variable.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues `event_json` as the next event and waits up to `timeout` for the function's
    /// answer to it.
    ///
    /// Panics when no answer came within `timeout` (the message names the request id, whether
    /// the event was handed out via `/next` and how many `/next` polls arrived at all), and at
    /// once when the function has posted `/runtime/init/error` (the message quotes it).
    /// Several threads may invoke at the same time; events are handed out in FIFO order.
    pub fn invoke(&self, event_json: &str, timeout: Duration) -> Outcome {
        let request_id = new_request_id();
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        state.queue.push_back((request_id.clone(), event_json.to_string()));
        self.shared.changed.notify_all();
        loop {
            if let Some(outcome) = state.outcomes.remove(&request_id) {
                return outcome;
            }
            let handed_out = state.handed_out_ever.contains(&request_id);
            if let Some(init_error) = state.init_error.clone() {
                state.queue.retain(|(id, _)| id != &request_id);
                drop(state);
                panic!(
                    "lambda_api: the function reported an init error (POST /runtime/init/error) while \
                     request {request_id} waited for its answer (event handed out via /next: {handed_out}): \
                     {init_error}"
                );
            }
            let now = Instant::now();
            if now >= deadline {
                let polls = state.next_polls;
                let invocations = state.invocations;
                state.queue.retain(|(id, _)| id != &request_id);
                drop(state);
                let hint = if polls == 0 {
                    "the function never asked for an event (no GET /runtime/invocation/next at all): did it \
                     start, and does it have AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, \
                     AWS_LAMBDA_FUNCTION_MEMORY_SIZE and AWS_LAMBDA_FUNCTION_VERSION?"
                        .to_string()
                } else if handed_out {
                    "the function got this event via /next but posted neither /response nor /error".to_string()
                } else {
                    format!(
                        "the function asked for events {polls} time(s) but never took this one (it is \
                         busy with an earlier event or has exited)"
                    )
                };
                panic!(
                    "lambda_api: no answer to request {request_id} within {timeout:?}; event handed out via \
                     /next: {handed_out}; /next polls: {polls}; events handed out: {invocations}; {hint}"
                );
            }
            let (next, _) = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state = next;
        }
    }

    /// The body of a `POST /2018-06-01/runtime/init/error`, if the function posted one.
    pub fn init_error(&self) -> Option<String> {
        self.shared.lock().init_error.clone()
    }

    /// How many events were handed out via `GET /runtime/invocation/next`.
    pub fn invocations(&self) -> usize {
        self.shared.lock().invocations
    }

    /// How many TCP connections were accepted (with keep-alive, a `lambda_runtime` function
    /// normally uses one or two for any number of invocations).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for LambdaApi {
    /// Stops accepting connections, closes idle connections and ends waiting long polls by
    /// closing their connection (so a function still polling sees its Runtime API go away and
    /// exits). Does not wait for the server threads.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // Wake the blocking accept() so that the listener is closed now.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A UUID-shaped request id, unique within the process (a counter) and very likely across
/// processes (process id and start time).
fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let pid = std::process::id() as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (nanos >> 16) as u32,
        (nanos & 0xffff) as u16,
        (pid & 0xfff) as u16,
        ((pid >> 12) & 0xfff) as u16,
        n & 0xffff_ffff_ffff
    )
}

fn epoch_millis(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopped() {
            break;
        }
        let Ok(stream) = conn else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let conn_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("lambda-api-conn".into())
            .spawn(move || serve_connection(stream, conn_shared));
        if spawned.is_err() {
            // Out of threads: the stream was moved into the failed closure and is closed.
            continue;
        }
    }
}

fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Ok(true) = http::wait_for_request(&mut reader, POLL, || shared.stopped()) {
        let _ = reader.get_ref().set_read_timeout(Some(MID_REQUEST_TIMEOUT));
        let mut send_continue = || writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").and_then(|()| writer.flush());
        let request = match http::read_request(&mut reader, MAX_BODY, &mut send_continue) {
            Ok(Some(request)) => request,
            Ok(None) => break,
            Err(http::ReadError::Bad(why)) => {
                let body = error_json("InvalidRequest", &format!("malformed HTTP request: {why}"));
                let _ = write_response(&mut writer, 400, "Bad Request", &[], body.as_bytes(), false);
                break;
            }
            Err(http::ReadError::Io(_)) => break,
        };
        let keep_alive = request.keep_alive();
        match handle(&request, &mut writer, &shared) {
            Ok(true) if keep_alive => continue,
            _ => break,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// Serves one request. `Ok(true)`: the connection may serve another one.
fn handle(request: &http::Request, out: &mut TcpStream, shared: &Shared) -> io::Result<bool> {
    const PREFIX: &str = "/2018-06-01/runtime/";
    let path = request.target.split('?').next().unwrap_or("");
    let Some(route) = path.strip_prefix(PREFIX) else {
        return not_found(request, out);
    };
    let method = request.method.as_str();
    match (method, route) {
        ("GET", "invocation/next") => next_invocation(out, shared),
        ("POST", "init/error") => {
            let body = String::from_utf8_lossy(&request.body).into_owned();
            let mut state = shared.lock();
            if state.init_error.is_none() {
                state.init_error = Some(body);
            }
            shared.changed.notify_all();
            drop(state);
            accepted(out)
        }
        ("POST", _) if route.starts_with("invocation/") => {
            let rest = &route["invocation/".len()..];
            let (id, kind) = match rest.rsplit_once('/') {
                Some((id, kind @ ("response" | "error"))) if !id.is_empty() && !id.contains('/') => (id, kind),
                _ => return not_found(request, out),
            };
            let body = String::from_utf8_lossy(&request.body).into_owned();
            let outcome = if kind == "response" {
                Outcome::Response(body)
            } else {
                let header_type = request.header("lambda-runtime-function-error-type").unwrap_or("").to_string();
                let error_type = json::string_field(&body, "errorType").unwrap_or(header_type);
                let message = json::string_field(&body, "errorMessage").unwrap_or_default();
                Outcome::Error { error_type, message, body }
            };
            let mut state = shared.lock();
            if state.in_flight.remove(id) {
                state.outcomes.insert(id.to_string(), outcome);
                shared.changed.notify_all();
                drop(state);
                accepted(out)
            } else {
                let known = state.handed_out_ever.contains(id);
                drop(state);
                let body = if known {
                    error_json("InvalidStateTransition", &format!("request {id} was already answered"))
                } else {
                    error_json("InvalidRequestID", &format!("unknown request id {id}"))
                };
                write_response(out, 400, "Bad Request", &[], body.as_bytes(), true).map(|()| true)
            }
        }
        _ => not_found(request, out),
    }
}

/// `GET /runtime/invocation/next`: blocks until an event is queued, then hands it out.
fn next_invocation(out: &mut TcpStream, shared: &Shared) -> io::Result<bool> {
    let mut state = shared.lock();
    state.next_polls += 1;
    let (request_id, event) = loop {
        if shared.stopped() {
            // Close without answering: the function sees its Runtime API go away and exits.
            return Ok(false);
        }
        if let Some(item) = state.queue.pop_front() {
            break item;
        }
        let (next, _) = shared.changed.wait_timeout(state, POLL).unwrap_or_else(|poisoned| poisoned.into_inner());
        state = next;
    };
    state.invocations += 1;
    state.in_flight.insert(request_id.clone());
    state.handed_out_ever.insert(request_id.clone());
    shared.changed.notify_all();
    drop(state);

    let timeout = Duration::from_millis(shared.deadline_ms.load(Ordering::SeqCst));
    let deadline = epoch_millis(SystemTime::now() + timeout).to_string();
    let trace_id = trace_id_for(&request_id, shared.sampled.load(Ordering::SeqCst));
    shared.lock().trace_headers.push(trace_id.clone());
    let headers = [
        ("Lambda-Runtime-Aws-Request-Id", request_id.as_str()),
        ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
        ("Lambda-Runtime-Invoked-Function-Arn", INVOKED_FUNCTION_ARN),
        ("Lambda-Runtime-Trace-Id", trace_id.as_str()),
    ];
    let written = write_response(out, 200, "OK", &headers, event.as_bytes(), true);
    if written.is_err() {
        // The function went away before it got the event: put it back for the next poller.
        let mut state = shared.lock();
        state.invocations -= 1;
        state.in_flight.remove(&request_id);
        state.handed_out_ever.remove(&request_id);
        state.queue.push_front((request_id, event));
        shared.changed.notify_all();
    }
    written.map(|()| true)
}

/// An X-Ray-shaped trace header derived from the request id.
fn trace_id_for(request_id: &str, sampled: bool) -> String {
    let hex: String = request_id.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let root = format!("{:0>24}", &hex[hex.len().saturating_sub(24)..]);
    let parent = format!("{:0>16}", &hex[..hex.len().min(16)]);
    format!("Root=1-{:08x}-{root};Parent={parent};Sampled={}", secs as u32, u8::from(sampled))
}

fn accepted(out: &mut TcpStream) -> io::Result<bool> {
    write_response(out, 202, "Accepted", &[], br#"{"status":"OK"}"#, true).map(|()| true)
}

fn not_found(request: &http::Request, out: &mut TcpStream) -> io::Result<bool> {
    let body = error_json(
        "NotFound",
        &format!("the local Runtime API has no route for {} {}", request.method, request.target),
    );
    write_response(out, 404, "Not Found", &[], body.as_bytes(), true).map(|()| true)
}

fn error_json(error_type: &str, message: &str) -> String {
    format!(r#"{{"errorMessage":{},"errorType":{}}}"#, json::quote(message), json::quote(error_type))
}

fn write_response(
    out: &mut TcpStream,
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: {}\r\n\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    ));
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    out.write_all(&message)?;
    out.flush()
}

/// Just enough JSON (std only) to read string fields of the error bodies and to quote strings.
mod json {
    /// The string value of top-level field `key` of a JSON object, if it is there and a string.
    pub(super) fn string_field(text: &str, key: &str) -> Option<String> {
        let mut p = Parser { s: text.as_bytes(), i: 0 };
        p.ws();
        p.eat(b'{')?;
        p.ws();
        if p.peek() == Some(b'}') {
            return None;
        }
        loop {
            p.ws();
            let name = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            if name == key && p.peek() == Some(b'"') {
                return p.string();
            }
            p.skip_value(0)?;
            p.ws();
            match p.next()? {
                b',' => continue,
                _ => return None,
            }
        }
    }

    /// `s` as a JSON string literal.
    pub(super) fn quote(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn next(&mut self) -> Option<u8> {
            let b = self.peek()?;
            self.i += 1;
            Some(b)
        }

        fn eat(&mut self, b: u8) -> Option<()> {
            (self.next()? == b).then_some(())
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }

        fn hex4(&mut self) -> Option<u32> {
            let digits = self.s.get(self.i..self.i + 4)?;
            let v = u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
            self.i += 4;
            Some(v)
        }

        fn string(&mut self) -> Option<String> {
            self.eat(b'"')?;
            let mut out: Vec<u8> = Vec::new();
            loop {
                match self.next()? {
                    b'"' => return String::from_utf8(out).ok(),
                    b'\\' => {
                        let c = match self.next()? {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hi = self.hex4()?;
                                let code = if (0xD800..0xDC00).contains(&hi)
                                    && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                                {
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return None;
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    hi
                                };
                                char::from_u32(code).unwrap_or('\u{FFFD}')
                            }
                            _ => return None,
                        };
                        let mut buf = [0; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    b => out.push(b),
                }
            }
        }

        fn skip_value(&mut self, depth: usize) -> Option<()> {
            if depth > 128 {
                return None;
            }
            self.ws();
            match self.peek()? {
                b'"' => self.string().map(|_| ()),
                open @ (b'{' | b'[') => {
                    let close = if open == b'{' { b'}' } else { b']' };
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(close) {
                        self.i += 1;
                        return Some(());
                    }
                    loop {
                        self.ws();
                        if open == b'{' {
                            self.string()?;
                            self.ws();
                            self.eat(b':')?;
                        }
                        self.skip_value(depth + 1)?;
                        self.ws();
                        match self.next()? {
                            b',' => continue,
                            b if b == close => return Some(()),
                            _ => return None,
                        }
                    }
                }
                _ => {
                    let start = self.i;
                    while matches!(self.peek(), Some(b) if !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    {
                        self.i += 1;
                    }
                    (self.i > start).then_some(())
                }
            }
        }
    }
}
