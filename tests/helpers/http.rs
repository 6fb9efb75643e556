//! Minimal HTTP/1.1 message reading (std only), shared by the local Lambda Runtime API
//! ([`super::lambda_api`]) and the fault-injecting S3 proxy ([`super::fault_proxy`]):
//! request and response heads, Content-Length and chunked bodies, size limits.
#![allow(dead_code)]

/// Longest request or status line or header line accepted.
pub(crate) const MAX_LINE: usize = 64 * 1024;
/// Most headers accepted in one message.
pub(crate) const MAX_HEADERS: usize = 200;

use std::io::{self, BufRead, Read};

/// One parsed request with its body fully read (chunked bodies decoded).
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) version: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// Why a request could not be read.
pub(crate) enum ReadError {
    /// Not HTTP as we know it: answer 400 and close.
    Bad(String),
    /// The connection failed.
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the client lets the connection serve another request.
    pub(crate) fn keep_alive(&self) -> bool {
        let connection = self.header("connection").unwrap_or("").to_ascii_lowercase();
        if self.version == "HTTP/1.0" {
            connection.split(',').any(|t| t.trim() == "keep-alive")
        } else {
            !connection.split(',').any(|t| t.trim() == "close")
        }
    }
}

/// Every value of header `name` (case-insensitive), in order.
pub(crate) fn header_values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Reads one line ending in LF (CR before it dropped). `None` at EOF before any byte.
pub(crate) fn read_line(r: &mut impl BufRead) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            if line.is_empty() {
                return Ok(None);
            }
            return Err(ReadError::Bad("connection closed in the middle of a line".into()));
        }
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&buf[..pos]);
            r.consume(pos + 1);
            break;
        }
        let n = buf.len();
        line.extend_from_slice(buf);
        r.consume(n);
        if line.len() > MAX_LINE {
            return Err(ReadError::Bad(format!("line longer than {MAX_LINE} bytes")));
        }
    }
    if line.len() > MAX_LINE {
        return Err(ReadError::Bad(format!("line longer than {MAX_LINE} bytes")));
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Reads header lines up to the empty line.
pub(crate) fn read_headers(r: &mut impl BufRead) -> Result<Vec<(String, String)>, ReadError> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?.ok_or_else(|| ReadError::Bad("connection closed inside the headers".into()))?;
        if line.is_empty() {
            return Ok(headers);
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ReadError::Bad(format!("more than {MAX_HEADERS} header lines")));
        }
        let (name, value) =
            line.split_once(':').ok_or_else(|| ReadError::Bad(format!("header line without a colon: {line:?}")))?;
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ReadError::Bad(format!("bad header name in {line:?}")));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
}

/// Reads one request. `Ok(None)`: the client closed the connection between requests.
/// `send_continue` is called before the body is read when the client sent
/// `Expect: 100-continue` (it should write `HTTP/1.1 100 Continue`).
pub(crate) fn read_request(
    r: &mut impl BufRead,
    max_body: usize,
    send_continue: &mut dyn FnMut() -> io::Result<()>,
) -> Result<Option<Request>, ReadError> {
    // Tolerate empty lines before a request line (RFC 9112 §2.2).
    let line = loop {
        match read_line(r)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(format!("bad request line {line:?}")));
    };
    if !version.starts_with("HTTP/1.") || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ReadError::Bad(format!("bad request line {line:?}")));
    }
    let headers = read_headers(r)?;
    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
        body: Vec::new(),
    };
    let expects_continue = request.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue && request.version != "HTTP/1.0" {
        send_continue()?;
    }
    request.body = read_body(r, &request.headers, max_body)?;
    Ok(Some(request))
}

/// Reads a request body framed by `Transfer-Encoding: chunked` or `Content-Length`
/// (neither: no body).
pub(crate) fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    max_body: usize,
) -> Result<Vec<u8>, ReadError> {
    let get = |name: &'static str| header_values(headers, name);
    let chunked =
        get("transfer-encoding").flat_map(|v| v.split(',')).any(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
    if chunked {
        return read_chunked(r, max_body);
    }
    let mut lengths = get("content-length");
    let Some(first) = lengths.next() else { return Ok(Vec::new()) };
    let length: usize = first.trim().parse().map_err(|_| ReadError::Bad(format!("bad Content-Length {first:?}")))?;
    if lengths.any(|other| other.trim() != first.trim()) {
        return Err(ReadError::Bad("conflicting Content-Length headers".into()));
    }
    if length > max_body {
        return Err(ReadError::Bad(format!("body of {length} bytes is over the {max_body}-byte limit")));
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ReadError::Bad("connection closed inside the body".into()),
        _ => ReadError::Io(e),
    })?;
    Ok(body)
}

/// Decodes a chunked body (chunk extensions and trailers are read and dropped).
pub(crate) fn read_chunked(r: &mut impl BufRead, max_body: usize) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?.ok_or_else(|| ReadError::Bad("connection closed inside a chunked body".into()))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ReadError::Bad(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            // Trailer section, up to the empty line.
            read_headers(r)?;
            return Ok(body);
        }
        if body.len().saturating_add(size) > max_body {
            return Err(ReadError::Bad(format!("chunked body over the {max_body}-byte limit")));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => ReadError::Bad("connection closed inside a chunk".into()),
            _ => ReadError::Io(e),
        })?;
        let end = read_line(r)?;
        if end.as_deref() != Some("") {
            return Err(ReadError::Bad("chunk data not followed by CRLF".into()));
        }
    }
}

/// One upstream answer with its body fully read (chunked bodies decoded).
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Whether the connection can carry another request.
    pub(crate) reusable: bool,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads the final answer to a `method` request (interim `1xx` answers are skipped).
/// `Ok(None)`: the connection was closed before any byte of an answer.
pub(crate) fn read_response(
    r: &mut impl BufRead,
    method: &str,
    max_body: usize,
) -> Result<Option<Response>, ReadError> {
    loop {
        let Some(line) = read_line(r)? else { return Ok(None) };
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or_else(|| ReadError::Bad(format!("bad status line {line:?}")))?;
        let reason = parts.next().unwrap_or("").to_string();
        if !version.starts_with("HTTP/1.") {
            return Err(ReadError::Bad(format!("bad status line {line:?}")));
        }
        let headers = read_headers(r)?;
        if (100..200).contains(&status) {
            continue;
        }
        let get = |name: &'static str| header_values(&headers, name).map(|v| v.to_ascii_lowercase());
        let connection_close = if version == "HTTP/1.0" {
            !get("connection").any(|v| v.split(',').any(|t| t.trim() == "keep-alive"))
        } else {
            get("connection").any(|v| v.split(',').any(|t| t.trim() == "close"))
        };
        let no_body = method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304;
        let chunked = get("transfer-encoding").any(|v| v.split(',').any(|t| t.trim() == "chunked"));
        let has_length = get("content-length").next().is_some();
        let (body, reusable) = if no_body {
            (Vec::new(), !connection_close)
        } else if chunked || has_length {
            (read_body(r, &headers, max_body)?, !connection_close)
        } else {
            // Delimited by the end of the connection.
            let mut body = Vec::new();
            r.take(max_body as u64 + 1).read_to_end(&mut body)?;
            if body.len() > max_body {
                return Err(ReadError::Bad(format!("answer body over the {max_body}-byte limit")));
            }
            (body, false)
        };
        return Ok(Some(Response { status, reason, headers, body, reusable }));
    }
}

/// Waits until the next request's first byte arrives: `Ok(true)`; `Ok(false)` on a clean
/// close or once `stopped()` says the server is stopping (checked every `poll`).
pub(crate) fn wait_for_request(
    reader: &mut std::io::BufReader<std::net::TcpStream>,
    poll: std::time::Duration,
    stopped: impl Fn() -> bool,
) -> std::io::Result<bool> {
    use std::io::{BufRead, ErrorKind};
    let _ = reader.get_ref().set_read_timeout(Some(poll));
    loop {
        if stopped() {
            return Ok(false);
        }
        match reader.fill_buf() {
            Ok([]) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
}
