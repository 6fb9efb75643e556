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

/// The non-blank lines of `text`, without the JSON whitespace around them: the events of a
/// JSON-lines file, when each line holds one whole event (a caller checks that by parsing
/// each line, as it must anyway, and falls back to [`events`] when one does not parse).
///
/// Finding line ends is a byte search, where [`events`] parses the whole text on one thread
/// before any event can be worked on: `ddb-lake normalize` checks and flattens the lines on
/// every core without that serial pass. A line is the same text as the value [`events`]
/// returns for it (a `RawValue` holds no surrounding whitespace).
pub fn lines(text: &str) -> Vec<&str> {
    let json_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    text.split('\n').map(|line| line.trim_matches(json_space)).filter(|line| !line.is_empty()).collect()
}

/// Line and column (both 1-based, the column in bytes as serde_json counts it) in `text` of
/// the place where `e`, an error about `event` (a value inside `text`), stopped.
pub fn position(text: &str, event: &RawValue, e: &serde_json::Error) -> (usize, usize) {
    let start = (event.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize).min(text.len());
    let inner = event.get();
    // Byte offset inside the event of line e.line(), column e.column().
    let line_start: usize =
        inner.split_inclusive('\n').take(e.line().saturating_sub(1)).map(str::len).sum::<usize>().min(inner.len());
    let at = (start + line_start + e.column().saturating_sub(1)).min(text.len());
    let line = line_of(text, at);
    let line_begins = text.as_bytes()[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    (line, at - line_begins + 1)
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

    #[test]
    fn each_line_is_the_text_of_the_event_read_from_it() {
        let text = " {\"Records\":[]} \r\n\n\t\n{\"Records\": [ ]}\r\n{\"Records\":[\"\\n\"]}";
        let from_values: Vec<&str> = events(text, "f").unwrap().iter().map(|raw| raw.get()).collect();
        assert_eq!(lines(text), from_values);
        assert_eq!(from_values.len(), 3);
        assert!(lines(" \r\n\n").is_empty());
        // A pretty-printed event is not one event per line: its first line does not parse.
        assert_eq!(lines("{\n\"Records\": []\n}\n")[0], "{");
    }

    #[test]
    fn a_position_inside_an_event_is_a_position_in_the_file() {
        let text = "{\"Records\":[]}\n  {\"Records\":\n [1, x]}\n";
        let events = events(text, "f").unwrap_err();
        assert_eq!((events.line, events.column), (3, 6));
        let text = "{\"Records\":[]}\n  {\"Records\":\n {\"a\": 1}}\n";
        let raws = super::events(text, "f").unwrap();
        let e = serde_json::from_str::<Vec<u8>>(raws[1].get()).unwrap_err();
        assert_eq!(position(text, raws[1], &e), (2, 3));
        let e = serde_json::from_str::<std::collections::HashMap<String, Vec<u8>>>(raws[1].get()).unwrap_err();
        assert_eq!(e.line(), 2);
        assert_eq!(position(text, raws[1], &e), (3, e.column()));
    }
}
