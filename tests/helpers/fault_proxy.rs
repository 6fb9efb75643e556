//! A fault-injecting HTTP/1.1 forward proxy for the integration tests, put between the AWS SDK's
//! S3 client and `moto_server`.
//!
//! The tests point the S3 client's `endpoint_url` at [`FaultProxy::endpoint`] (with path-style
//! addressing) and the proxy at moto's endpoint. Every request is forwarded to moto and its
//! answer relayed, unless a [`FaultRule`] matches it: then the proxy answers an S3 error itself
//! (`500 InternalError` or `503 SlowDown`, well-formed S3 XML that the SDK classifies and
//! retries), closes the connection without answering, or holds it open without answering (a
//! stall, which only the client's own timeouts end). [`FaultProxy::log`] tells what was seen.
//!
//! Supported: keep-alive on both sides, `Content-Length` and `Transfer-Encoding: chunked`
//! bodies (requests go upstream re-framed with `Content-Length`, responses go back re-framed
//! with `Content-Length`), `Expect: 100-continue` (answered by the proxy with `100 Continue`),
//! concurrent connections (one thread each). Only the standard library is used; a malformed
//! request gets `400 Bad Request` and never panics a server thread.
//!
//! Used by the integration tests under `tests/` through `mod helpers;`.
#![allow(dead_code)]

use super::http;
use std::io::{self, BufReader, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The largest body accepted in either direction.
const MAX_BODY: usize = 1024 * 1024 * 1024;
/// How often idle client connections look at the stop flag.
const POLL: Duration = Duration::from_millis(200);
/// How long a client may stall in the middle of sending a request.
const MID_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the upstream (moto) may take to answer one request.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

/// What to do to a matching request instead of forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer `500 Internal Server Error` with an S3 XML error body, code `InternalError`.
    InternalError,
    /// Answer `503 Service Unavailable` with an S3 XML error body, code `SlowDown`.
    SlowDown,
    /// Answer `403 Forbidden` with an S3 XML error body, code `AccessDenied` (what S3 says to
    /// credentials without the permission).
    AccessDenied,
    /// Read the request, then close the socket without answering.
    DropConnection,
    /// Read the request, then answer nothing and keep the connection open (a stalled
    /// request) until the client closes it or the proxy stops. Logged with status 0.
    Stall,
}

/// A rule: requests whose method equals `method` and whose path contains `path_contains` get
/// `fault`, for the first `times` matches (`usize::MAX` = always).
///
/// `method` is compared ignoring ASCII case; `"*"` matches every method. `path_contains` is
/// looked for in the request target as sent, path and query string (for path-style S3:
/// `/bucket/key?x-id=PutObject`); `""` matches every request. When several rules match, the
/// first one (in the order given to [`FaultProxy::set_rules`]) that has uses left applies.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// HTTP method to match (`"PUT"`, `"GET"`, …, or `"*"` for any).
    pub method: String,
    /// Substring of the request target (path and query) to match.
    pub path_contains: String,
    /// What to do to a matching request.
    pub fault: Fault,
    /// How many matching requests get the fault; `usize::MAX` = all of them.
    pub times: usize,
}

/// A fault-injecting proxy on `127.0.0.1`, serving in background threads until dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: SocketAddr,
    /// The rules with the number of uses each has left.
    rules: Mutex<Vec<(FaultRule, usize)>>,
    log: Mutex<Vec<(String, String, u16)>>,
    stop: AtomicBool,
}

impl FaultProxy {
    /// Starts a proxy on a free `127.0.0.1` port forwarding to `upstream`
    /// (`"http://127.0.0.1:PORT"`; the scheme must be `http`, a trailing `/` is allowed),
    /// with no rules.
    pub fn start(upstream: &str) -> FaultProxy {
        let authority = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("fault_proxy: upstream {upstream:?} must be an http:// URL"))
            .trim_end_matches('/');
        let upstream_addr = authority
            .to_socket_addrs()
            .unwrap_or_else(|e| panic!("fault_proxy: cannot resolve upstream {upstream:?}: {e}"))
            .next()
            .unwrap_or_else(|| panic!("fault_proxy: upstream {upstream:?} resolves to no address"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("fault_proxy: bind 127.0.0.1:0 for the proxy");
        let addr = listener.local_addr().expect("fault_proxy: local address of the proxy listener");
        let shared = Arc::new(Shared {
            upstream: upstream_addr,
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("fault-proxy-accept-{}", addr.port()))
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("fault_proxy: spawn the accept thread");
        FaultProxy { addr, shared }
    }

    /// `http://127.0.0.1:PORT`: the endpoint URL to give the S3 client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the rules (and their use counts) with `rules`. Takes effect for the next request
    /// read on any connection.
    pub fn set_rules(&self, rules: Vec<FaultRule>) {
        *lock(&self.shared.rules) = rules
            .into_iter()
            .map(|rule| {
                let left = rule.times;
                (rule, left)
            })
            .collect();
    }

    /// Removes every rule: pure forwarding.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// `(method, target, status)` of every request seen, in the order they were answered;
    /// target is path and query as sent; status `0` for a dropped connection, `502` when the
    /// upstream could not be reached.
    pub fn log(&self) -> Vec<(String, String, u16)> {
        lock(&self.shared.log).clone()
    }
}

impl Drop for FaultProxy {
    /// Stops accepting connections and closes idle client connections. Does not wait for the
    /// server threads (a request being forwarded finishes first).
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so that the listener is closed now.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The fault for this request, if a rule with uses left matches (using one up).
    fn take_fault(&self, method: &str, target: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let (rule, left) = rules.iter_mut().find(|(rule, left)| {
            *left > 0
                && (rule.method == "*" || rule.method.eq_ignore_ascii_case(method))
                && target.contains(rule.path_contains.as_str())
        })?;
        if *left != usize::MAX {
            *left -= 1;
        }
        Some(rule.fault)
    }

    fn record(&self, method: &str, target: &str, status: u16) {
        lock(&self.log).push((method.to_string(), target.to_string(), status));
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopped() {
            break;
        }
        let Ok(stream) = conn else { continue };
        let conn_shared = Arc::clone(&shared);
        let _ = std::thread::Builder::new()
            .name("fault-proxy-conn".into())
            .spawn(move || serve_connection(stream, conn_shared));
    }
}

/// A kept-alive connection to the upstream.
struct Upstream {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Upstream {
    fn connect(addr: SocketAddr) -> io::Result<Upstream> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        let _ = stream.set_nodelay(true);
        stream.set_read_timeout(Some(UPSTREAM_TIMEOUT))?;
        stream.set_write_timeout(Some(UPSTREAM_TIMEOUT))?;
        let writer = stream.try_clone()?;
        Ok(Upstream { reader: BufReader::new(stream), writer })
    }
}

fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let Ok(mut client) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut upstream: Option<Upstream> = None;
    while let Ok(true) = http::wait_for_request(&mut reader, POLL, || shared.stopped()) {
        let _ = reader.get_ref().set_read_timeout(Some(MID_REQUEST_TIMEOUT));
        let mut send_continue = || client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").and_then(|()| client.flush());
        let request = match http::read_request(&mut reader, MAX_BODY, &mut send_continue) {
            Ok(Some(request)) => request,
            Ok(None) => break,
            Err(http::ReadError::Bad(why)) => {
                let body = s3_error_xml("InvalidRequest", &format!("malformed HTTP request: {why}"), "");
                let _ = write_xml_error(&mut client, 400, "Bad Request", &body, false, false);
                break;
            }
            Err(http::ReadError::Io(_)) => break,
        };
        let keep_alive = request.keep_alive();
        let is_head = request.method.eq_ignore_ascii_case("HEAD");
        let written = match shared.take_fault(&request.method, &request.target) {
            Some(Fault::DropConnection) => {
                shared.record(&request.method, &request.target, 0);
                break;
            }
            Some(Fault::Stall) => {
                shared.record(&request.method, &request.target, 0);
                stall(&mut reader, &shared);
                break;
            }
            Some(fault) => {
                let (status, reason, code, message) = match fault {
                    Fault::SlowDown => (503, "Service Unavailable", "SlowDown", "Please reduce your request rate."),
                    Fault::AccessDenied => (403, "Forbidden", "AccessDenied", "Access Denied"),
                    _ => (
                        500,
                        "Internal Server Error",
                        "InternalError",
                        "We encountered an internal error. Please try again.",
                    ),
                };
                shared.record(&request.method, &request.target, status);
                let body = s3_error_xml(code, message, origin_form(&request.target));
                write_xml_error(&mut client, status, reason, &body, is_head, keep_alive)
            }
            None => match forward(&request, &mut upstream, shared.upstream) {
                Ok((response, upstream_reusable)) => {
                    if !upstream_reusable {
                        upstream = None;
                    }
                    shared.record(&request.method, &request.target, response.status);
                    write_forwarded(&mut client, &response, is_head, keep_alive)
                }
                Err(e) => {
                    upstream = None;
                    shared.record(&request.method, &request.target, 502);
                    let body = s3_error_xml(
                        "BadGateway",
                        &format!("fault_proxy: upstream {} failed: {e}", shared.upstream),
                        origin_form(&request.target),
                    );
                    write_xml_error(&mut client, 502, "Bad Gateway", &body, is_head, keep_alive)
                }
            },
        };
        if written.is_err() || !keep_alive {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Holds a connection open without answering until the client closes it (a read sees the
/// end of the stream or an error) or the proxy stops.
fn stall(reader: &mut BufReader<TcpStream>, shared: &Shared) {
    let _ = reader.get_ref().set_read_timeout(Some(POLL));
    let mut buf = [0u8; 4096];
    while !shared.stopped() {
        match io::Read::read(reader.get_mut(), &mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// `target` without a leading `http://host` (absolute-form, as some proxies' clients send).
fn origin_form(target: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = target.strip_prefix(scheme) {
            return rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    target
}

/// Hop-by-hop and framing headers, which the proxy sets itself on each side.
fn is_hop_header(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "content-length",
        "te",
        "trailer",
        "upgrade",
        "expect",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Sends `request` upstream (re-framed with `Content-Length`) and reads the whole answer.
/// Returns the answer and whether the upstream connection can be used again.
fn forward(
    request: &http::Request,
    upstream: &mut Option<Upstream>,
    addr: SocketAddr,
) -> io::Result<(http::Response, bool)> {
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, origin_form(&request.target));
    for (name, value) in &request.headers {
        if !is_hop_header(name) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    let has_framing = request.header("content-length").is_some() || request.header("transfer-encoding").is_some();
    if has_framing || !request.body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    head.push_str("Connection: keep-alive\r\n\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(&request.body);

    // A kept-alive upstream connection may have been closed by the upstream meanwhile: when it
    // fails before any answer byte, try once more on a fresh connection.
    for attempt in 0..2 {
        let reused = upstream.is_some();
        let conn = match upstream {
            Some(conn) => conn,
            None => upstream.insert(Upstream::connect(addr)?),
        };
        let sent = conn.writer.write_all(&message).and_then(|()| conn.writer.flush());
        let result = match sent {
            Ok(()) => http::read_response(&mut conn.reader, &request.method, MAX_BODY),
            Err(e) => Err(http::ReadError::Io(e)),
        };
        match result {
            Ok(Some(response)) => {
                let reusable = response.reusable;
                return Ok((response, reusable));
            }
            Ok(None) | Err(http::ReadError::Io(_)) if reused && attempt == 0 => {
                *upstream = None;
                continue;
            }
            Ok(None) => return Err(io::Error::new(ErrorKind::UnexpectedEof, "upstream closed without answering")),
            Err(http::ReadError::Io(e)) => return Err(e),
            Err(http::ReadError::Bad(why)) => {
                return Err(io::Error::new(ErrorKind::InvalidData, format!("bad upstream answer: {why}")))
            }
        }
    }
    Err(io::Error::new(ErrorKind::UnexpectedEof, "upstream closed without answering"))
}

/// Relays an upstream answer to the client, re-framed with `Content-Length`.
fn write_forwarded(
    client: &mut TcpStream,
    response: &http::Response,
    is_head: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, response.reason);
    for (name, value) in &response.headers {
        if !is_hop_header(name) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    let no_body_status = response.status == 204 || response.status == 304;
    if is_head || no_body_status {
        // Keep the upstream's Content-Length: for HEAD it is the size of the object.
        if let Some(length) = response.header("content-length") {
            if response.status != 204 {
                head.push_str(&format!("Content-Length: {length}\r\n"));
            }
        }
    } else {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    head.push_str(if keep_alive { "Connection: keep-alive\r\n\r\n" } else { "Connection: close\r\n\r\n" });
    let mut message = head.into_bytes();
    if !is_head && !no_body_status {
        message.extend_from_slice(&response.body);
    }
    client.write_all(&message)?;
    client.flush()
}

/// An S3 `<Error>` document.
fn s3_error_xml(code: &str, message: &str, resource: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let request_id = format!("FAULTPROXY{:06X}{n:06X}", std::process::id() & 0xff_ffff);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>\
         <Resource>{}</Resource><RequestId>{request_id}</RequestId><HostId>fault-proxy</HostId></Error>",
        xml_escape(code),
        xml_escape(message),
        xml_escape(resource)
    )
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn write_xml_error(
    client: &mut TcpStream,
    status: u16,
    reason: &str,
    body: &str,
    is_head: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let request_id = body.split("<RequestId>").nth(1).and_then(|rest| rest.split("</RequestId>").next()).unwrap_or("");
    let body = if is_head { "" } else { body };
    let message = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nx-amz-request-id: {request_id}\r\n\
         Content-Length: {}\r\nConnection: {}\r\n\r\n{body}",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    client.write_all(message.as_bytes())?;
    client.flush()
}
