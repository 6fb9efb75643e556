//! Reading events from a file or stdin: one Lambda event, or one event per line.
//!
//! Called by `ddb-lake normalize` and the tests. A file may hold one (pretty-printed) event
//! or JSON lines; both are a sequence of JSON values, read in one pass without copying.
//! An error names the line and column of the input where reading stopped.

use serde_json::value::RawValue;

/// Input that is not a sequence of JSON values.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: line {line}, column {column}: {message}")]
pub struct InputError {
    /// File name or `<stdin>`.
    pub source_name: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// Number of events before the error.
    pub events_before: usize,
}

/// Splits `text` into the raw JSON of its events.
pub fn events<'a>(text: &'a str, source_name: &str) -> Result<Vec<&'a RawValue>, InputError> {
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(text).into_iter::<&RawValue>() {
        match v {
            Ok(raw) => out.push(raw),
            Err(e) => {
                return Err(InputError {
                    source_name: source_name.to_owned(),
                    line: e.line(),
                    column: e.column(),
                    message: format!(
                        "not valid JSON ({e}); expected one Lambda event {{\"Records\": [...]}} or one event per line"
                    ),
                    events_before: out.len(),
                })
            }
        }
    }
    Ok(out)
}

/// Line (1-based) of byte `offset` in `text`, for messages about event N.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_or_lines() {
        assert_eq!(events("{\"Records\": [\n]}\n", "f").unwrap().len(), 1);
        assert_eq!(events("{\"Records\":[]}\n{\"Records\":[]}\n\n", "f").unwrap().len(), 2);
        let e = events("{\"Records\":[]}\n{\"Records\":[\n", "f.jsonl").unwrap_err();
        assert_eq!((e.line, e.events_before), (3, 1));
        assert!(e.to_string().starts_with("f.jsonl: line 3"));
    }
}
