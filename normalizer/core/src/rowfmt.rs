//! The row format: tab-delimited text for Athena's LazySimpleSerDe, written and read back.
//!
//! Called by the typed rows of the built-in tables ([`crate::rows`]), by the writer for the
//! cells of declared tables (encoding), by `ddb-lake cat`, the embedded engine and the tests
//! (decoding). The rules, also written down in `docs/row-format.md`:
//!
//! 1. A row is its fields joined by TAB (0x09) and ended by LF (0x0A). Each object starts
//!    with a header row of column names (`skip.header.line.count=1`).
//! 2. NULL is the two bytes `\N` (`serialization.null.format`, the SerDe's default).
//! 3. SerDe escaping (`escape.delim='\'`): a TAB or a backslash inside a value is written
//!    with a backslash before it. The reader takes the byte after a backslash literally.
//! 4. Line breaks never appear raw (Hadoop's line reader splits on CR, LF and CRLF, and
//!    Athena has no `serialization.escape.crlf`): LF is written as `␊` (U+240A) and CR as
//!    `␍` (U+240D), so Athena shows a visible symbol where the line break was. To keep this
//!    reversible, a value's own `␊`, `␍` and `␛` (U+241B) are written with `␛` before them.
//!
//! Everything else (any other byte, control characters, unicode, very long strings) is
//! written as it is. Decoding is the exact inverse, and a property test proves it.

/// Field delimiter.
pub const FIELD_DELIMITER: u8 = b'\t';
/// SerDe escape byte.
pub const ESCAPE: u8 = b'\\';
/// The NULL marker.
pub const NULL_MARKER: &[u8] = b"\\N";
/// How LF is shown (U+240A SYMBOL FOR LINE FEED).
pub const LF_SYMBOL: char = '\u{240A}';
/// How CR is shown (U+240D SYMBOL FOR CARRIAGE RETURN).
pub const CR_SYMBOL: char = '\u{240D}';
/// Marks a value's own `␊`, `␍` or `␛` (U+241B SYMBOL FOR ESCAPE).
pub const SYMBOL_ESCAPE: char = '\u{241B}';
/// File name extension of a lake object.
pub const OBJECT_EXTENSION: &str = "tsv.gz";

/// The LazySimpleSerDe properties that read this format (used for Glue and DDL).
pub const SERDE_PROPERTIES: &[(&str, &str)] = &[
    ("field.delim", "\t"),
    ("serialization.format", "\t"),
    ("escape.delim", "\\"),
    ("serialization.null.format", "\\N"),
];

/// Bytes that need more than a copy: TAB, LF, CR, backslash, and 0xE2 (the first byte of
/// the UTF-8 encoding of U+2000..U+2FFF, which holds the three symbols).
const fn special_table() -> [bool; 256] {
    let mut t = [false; 256];
    t[b'\t' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\\' as usize] = true;
    t[0xE2] = true;
    t
}
static SPECIAL: [bool; 256] = special_table();

const LF_UTF8: &[u8] = "\u{240A}".as_bytes();
const CR_UTF8: &[u8] = "\u{240D}".as_bytes();
const ESC_UTF8: &[u8] = "\u{241B}".as_bytes();

/// Whether any byte of the 8 in `word` may be one of [`SPECIAL`]: a byte below 0x0E (which
/// covers TAB, LF and CR), a backslash, or 0xE2. It may say yes for a word without one (then
/// its bytes are looked at one by one), never no for a word with one.
#[inline]
fn may_hold_special(word: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGHS;
    let backslash = word ^ (ONES * u64::from(ESCAPE));
    let e2 = word ^ (ONES * 0xE2);
    (below(word, 0x0E) | below(backslash, 1) | below(e2, 1)) != 0
}

/// Appends `value`, encoded as one field, to `out`.
///
/// Most values need no escape at all: they are looked at 8 bytes at a time
/// ([`may_hold_special`]), and only a word that may hold a special byte byte by byte.
#[inline]
pub fn push_field(out: &mut Vec<u8>, value: &str) {
    let b = value.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if let Some(word) = b.get(i..i + 8) {
            let word = u64::from_ne_bytes(word.try_into().expect("8 bytes"));
            if !may_hold_special(word) {
                i += 8;
                continue;
            }
        }
        let word_end = (i + 8).min(b.len());
        while i < word_end {
            if !SPECIAL[b[i] as usize] {
                i += 1;
                continue;
            }
            out.extend_from_slice(&b[start..i]);
            match b[i] {
                b'\t' | b'\\' => {
                    out.push(ESCAPE);
                    out.push(b[i]);
                    i += 1;
                }
                b'\n' => {
                    out.extend_from_slice(LF_UTF8);
                    i += 1;
                }
                b'\r' => {
                    out.extend_from_slice(CR_UTF8);
                    i += 1;
                }
                _ => {
                    // 0xE2 starts a three-byte character (the input is valid UTF-8).
                    let ch = &b[i..i + 3];
                    if ch == LF_UTF8 || ch == CR_UTF8 || ch == ESC_UTF8 {
                        out.extend_from_slice(ESC_UTF8);
                    }
                    out.extend_from_slice(ch);
                    i += 3;
                }
            }
            start = i;
        }
    }
    out.extend_from_slice(&b[start..]);
}

/// Appends the NULL marker.
#[inline]
pub fn push_null(out: &mut Vec<u8>) {
    out.extend_from_slice(NULL_MARKER);
}

/// Appends an optional value: the field, or NULL.
#[inline]
pub fn push_opt(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) => push_field(out, v),
        None => push_null(out),
    }
}

/// Appends a time (milliseconds since the epoch) as a `timestamp` field, `YYYY-MM-DD
/// HH:MM:SS.mmm` in UTC, or NULL when it is out of range.
///
/// Every row of a record starts with one, so the digits are written here rather than by
/// chrono's `format` (about 3,700 instructions a call in the profile of issue 43); chrono
/// still does the calendar, and writes the years outside 0000-9999 (with their sign).
pub fn push_timestamp(out: &mut Vec<u8>, millis: i64) {
    use chrono::Timelike as _;
    let Some(t) = chrono::DateTime::from_timestamp_millis(millis) else {
        return push_null(out);
    };
    let Some(date) = date_digits(&t) else {
        return push_timestamp_chrono(out, &t);
    };
    let mut text = *b"0000-00-00 00:00:00.000";
    text[..10].copy_from_slice(&date);
    put_digits(&mut text, 11, 2, t.hour());
    put_digits(&mut text, 14, 2, t.minute());
    put_digits(&mut text, 17, 2, t.second());
    put_digits(&mut text, 20, 3, t.timestamp_subsec_millis());
    out.extend_from_slice(&text);
}

/// The date of `t` as `YYYY-MM-DD`, written here (chrono's `format` is thousands of
/// instructions a call), when its year is 0000-9999; `None` for the years chrono writes
/// with a sign or more digits. Timestamps and the day folders share it.
pub(crate) fn date_digits(t: &chrono::DateTime<chrono::Utc>) -> Option<[u8; 10]> {
    use chrono::Datelike as _;
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let mut text = *b"0000-00-00";
    put_digits(&mut text, 0, 4, year);
    put_digits(&mut text, 5, 2, t.month());
    put_digits(&mut text, 8, 2, t.day());
    Some(text)
}

/// Writes `n` as `width` decimal digits, zero-padded, at `text[at..at + width]`.
fn put_digits(text: &mut [u8], at: usize, width: usize, mut n: u32) {
    for k in (at..at + width).rev() {
        text[k] = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn push_timestamp_chrono(out: &mut Vec<u8>, t: &chrono::DateTime<chrono::Utc>) {
    use std::io::Write as _;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S%.3f"));
}

/// Appends the field delimiter.
#[inline]
pub fn push_delimiter(out: &mut Vec<u8>) {
    out.push(FIELD_DELIMITER);
}

/// Ends a row.
#[inline]
pub fn end_row(out: &mut Vec<u8>) {
    out.push(b'\n');
}

/// Appends a whole row of optional values.
pub fn push_row<'v>(out: &mut Vec<u8>, values: impl IntoIterator<Item = Option<&'v str>>) {
    for (k, v) in values.into_iter().enumerate() {
        if k > 0 {
            push_delimiter(out);
        }
        push_opt(out, v);
    }
    end_row(out);
}

/// One decoded row: a value per column, `None` for NULL.
pub type Row = Vec<Option<String>>;

/// Why a line does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The line ends with a lone escape byte.
    #[error("line ends inside an escape sequence")]
    DanglingEscape,
    /// A field is not UTF-8 after unescaping.
    #[error("field {0} is not valid UTF-8")]
    NotUtf8(usize),
}

/// Decodes one line (without its LF) into fields, following the rules in the module header.
pub fn decode_line(line: &[u8]) -> Result<Row, DecodeError> {
    decode_fields(line, true)
}

/// Decodes one line by the SerDe's rules only (1–3), as Athena reads it: line-break
/// symbols stay as they are. The local SQL engine uses this, so it returns what Athena would.
pub fn decode_line_as_serde(line: &[u8]) -> Result<Row, DecodeError> {
    decode_fields(line, false)
}

fn decode_fields(line: &[u8], symbols: bool) -> Result<Row, DecodeError> {
    let mut fields = Vec::new();
    let mut raw_start = 0;
    let mut cur = Vec::new();
    let mut i = 0;
    loop {
        let at_end = i == line.len();
        if at_end || line[i] == FIELD_DELIMITER {
            let raw = &line[raw_start..i];
            if raw == NULL_MARKER {
                fields.push(None);
            } else {
                let text =
                    String::from_utf8(std::mem::take(&mut cur)).map_err(|_| DecodeError::NotUtf8(fields.len()))?;
                fields.push(Some(if symbols { unsymbol(&text) } else { text }));
            }
            cur.clear();
            if at_end {
                return Ok(fields);
            }
            i += 1;
            raw_start = i;
            continue;
        }
        if line[i] == ESCAPE {
            if i + 1 == line.len() {
                return Err(DecodeError::DanglingEscape);
            }
            cur.push(line[i + 1]);
            i += 2;
        } else {
            cur.push(line[i]);
            i += 1;
        }
    }
}

/// Undoes rule 4: `␊` → LF, `␍` → CR, `␛x` → x.
fn unsymbol(text: &str) -> String {
    if !text.contains([LF_SYMBOL, CR_SYMBOL, SYMBOL_ESCAPE]) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            LF_SYMBOL => out.push('\n'),
            CR_SYMBOL => out.push('\r'),
            SYMBOL_ESCAPE => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A kept cell of a row: its range in its column's decoded text, `None` for NULL.
pub type Cell = Option<(usize, usize)>;

/// One kept column of [`SerdeCells`].
#[derive(Debug, Clone, Default)]
struct KeptColumn {
    /// The field's position in a line.
    field: usize,
    /// The decoded text of the column's cells, one after another.
    text: Vec<u8>,
    /// Each row's cell, as a range of `text`.
    cells: Vec<Cell>,
}

/// Some columns of many lines, decoded by the SerDe's rules as [`decode_line_as_serde`]
/// decodes them, each column's text into one buffer: what a reader that needs a few columns
/// of a table keeps of a batch of its rows (an Arrow string array is that buffer and the
/// cells' offsets). The other fields are only stepped over (no copy, no allocation); missing
/// trailing fields are NULL and extra ones ignored, as LazySimpleSerDe reads them.
#[derive(Debug, Clone, Default)]
pub struct SerdeCells {
    /// The kept columns, in the order [`SerdeCells::new`] was given them.
    columns: Vec<KeptColumn>,
    /// Per field position: the kept column it goes to.
    slots: Vec<Option<usize>>,
    rows: usize,
}

impl SerdeCells {
    /// Keeps the fields at the positions `fields`, in that order (each at most once).
    pub fn new(fields: &[usize]) -> Self {
        let mut slots = vec![None; fields.iter().max().map_or(0, |m| m + 1)];
        for (slot, &f) in fields.iter().enumerate() {
            slots[f] = Some(slot);
        }
        let columns = fields.iter().map(|&field| KeptColumn { field, ..KeptColumn::default() }).collect();
        SerdeCells { columns, slots, rows: 0 }
    }

    /// Decodes one line (without its LF) and keeps its wanted fields.
    ///
    /// A line that is UTF-8 as a whole is checked once: each of its fields is then UTF-8, and
    /// so is a field without its escapes (an escape is one ASCII byte, and what follows it
    /// starts a character). Only a line that is not has each kept cell checked, so that a
    /// field that is not kept never has to be UTF-8.
    pub fn push_line(&mut self, line: &[u8]) -> Result<(), DecodeError> {
        let check_cells = std::str::from_utf8(line).is_err();
        let (mut field, mut start, mut kept) = (0, 0, 0);
        loop {
            let (end, escaped) = match field_end(line, start) {
                Ok(found) => found,
                Err(e) => {
                    self.drop_row_cells(kept);
                    return Err(e);
                }
            };
            if let Some(s) = self.slots.get(field).copied().flatten() {
                let raw = &line[start..end];
                let column = &mut self.columns[s];
                let text_start = column.text.len();
                let cell = if raw == NULL_MARKER {
                    None
                } else {
                    match escaped {
                        true => unescape_into(raw, &mut column.text),
                        false => column.text.extend_from_slice(raw),
                    }
                    if check_cells && std::str::from_utf8(&column.text[text_start..]).is_err() {
                        column.text.truncate(text_start);
                        self.drop_row_cells(kept);
                        return Err(DecodeError::NotUtf8(field));
                    }
                    Some((text_start, column.text.len()))
                };
                column.cells.push(cell);
                kept += 1;
            }
            field += 1;
            if end == line.len() {
                break;
            }
            start = end + 1;
        }
        for column in &mut self.columns {
            if column.field >= field {
                column.cells.push(None);
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Takes back the cells (and their text) a refused line had kept (each kept column got
    /// at most one).
    fn drop_row_cells(&mut self, kept: usize) {
        if kept > 0 {
            self.truncate_rows(self.rows);
        }
    }

    /// Forgets every kept column's cells (and their text) from row `rows` on.
    fn truncate_rows(&mut self, rows: usize) {
        for column in &mut self.columns {
            if let Some(Some((start, _))) = column.cells.get(rows) {
                column.text.truncate(*start);
            }
            column.cells.truncate(rows);
        }
    }

    /// Rows decoded since the last [`SerdeCells::clear`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The kept column `slot` (its place in the list [`SerdeCells::new`] was given): its
    /// decoded text, and each row's cell as a range of it (`None` for NULL). The cells lie one
    /// after another: each starts where the one before it ends, a NULL is empty. Every cell
    /// was checked to be UTF-8 (on its own, or as part of a UTF-8 line); the reader checks
    /// the text again as it makes it a `&str` (an Arrow string array checks its buffer and
    /// its offsets when it is made).
    pub fn column_bytes(&self, slot: usize) -> (&[u8], &[Cell]) {
        let column = &self.columns[slot];
        (&column.text, &column.cells)
    }

    /// The cells of every kept column, in the order [`SerdeCells::new`] was given them, row
    /// by row (`None` for NULL).
    pub fn columns(&self) -> Vec<Vec<Option<&str>>> {
        (0..self.columns.len())
            .map(|slot| {
                let (text, cells) = self.column_bytes(slot);
                let text = std::str::from_utf8(text).unwrap_or_default();
                cells.iter().map(|cell| cell.map(|(a, b)| &text[a..b])).collect()
            })
            .collect()
    }

    /// Forgets the rows (keeps the memory for the next batch).
    pub fn clear(&mut self) {
        for column in &mut self.columns {
            column.text.clear();
            column.cells.clear();
        }
        self.rows = 0;
    }
}

/// Where the field that starts at `start` of `line` ends (its delimiter, or the line's end),
/// and whether it holds an escape: the one splitter of [`SerdeCells::push_line`] and
/// [`fields_pass`], inlined into both (a call per field, its register saves and the
/// returned pair, was 7-9% of a scan's instructions: docs/performance.md).
#[inline(always)]
fn field_end(line: &[u8], start: usize) -> Result<(usize, bool), DecodeError> {
    let (mut i, mut escaped) = (start, false);
    while let Some(at) = find_stop(&line[i..]) {
        i += at;
        if line[i] == FIELD_DELIMITER {
            return Ok((i, escaped));
        }
        if i + 1 == line.len() {
            return Err(DecodeError::DanglingEscape);
        }
        escaped = true;
        i += 2;
    }
    Ok((line.len(), escaped))
}

/// The first field delimiter or escape byte of `bytes`.
///
/// Fields are short (most under 32 bytes): on x86-64 the bytes are compared 16 at a time with
/// SSE2 (part of every x86-64 CPU) in code inlined into the splitter, which for such fields
/// costs less than a call of `memchr2` (a dispatch to its AVX2 search and that search's own
/// set-up, every field); elsewhere, `memchr2`.
#[inline(always)]
fn find_stop(bytes: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let mut at = 0;
        // SAFETY: SSE2 is enabled on every x86-64 target, so its intrinsics can be called;
        // each load reads the 16 bytes of one `chunk`, with no alignment requirement.
        unsafe {
            let (delimiter, escape) = (_mm_set1_epi8(FIELD_DELIMITER as i8), _mm_set1_epi8(ESCAPE as i8));
            for chunk in bytes.chunks_exact(16) {
                let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let hits = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, delimiter), _mm_cmpeq_epi8(v, escape)));
                if hits != 0 {
                    return Some(at + hits.trailing_zeros() as usize);
                }
                at += 16;
            }
        }
        bytes[at..].iter().position(|&b| b == FIELD_DELIMITER || b == ESCAPE).map(|p| at + p)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        memchr::memchr2(FIELD_DELIMITER, ESCAPE, bytes)
    }
}

/// Appends the field `raw` without its escapes: each escape byte dropped, the byte after it
/// kept ([`field_end`] found none at the end).
fn unescape_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut rest = raw;
    while let Some(at) = memchr::memchr(ESCAPE, rest) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(rest.get(at + 1..at + 2).unwrap_or_default());
        rest = rest.get(at + 2..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
}

/// Whether the cells of `line` (without its LF) at the positions `fields` (ascending, each
/// once) all pass `test`, which gets a field's place in `fields` and its cell decoded as
/// [`SerdeCells`] decodes it (`None` for NULL and for a missing trailing field); it stops at
/// the first that fails. A cell with an escape is decoded into `scratch`. Nothing past the
/// last field tested is read, and the cells are not checked to be UTF-8: a reader tests its
/// filters with this before it decodes a line, so a line they drop costs only the search for
/// its first delimiters. `Err` when a field read ends inside an escape sequence.
pub fn fields_pass(
    line: &[u8],
    fields: &[usize],
    scratch: &mut Vec<u8>,
    mut test: impl FnMut(usize, Option<&[u8]>) -> bool,
) -> Result<bool, DecodeError> {
    let (mut field, mut start, mut ended) = (0, 0, false);
    for (place, &wanted) in fields.iter().enumerate() {
        let cell = loop {
            if ended {
                break None;
            }
            let (end, escaped) = field_end(line, start)?;
            let (this, raw) = (field, &line[start..end]);
            field += 1;
            ended = end == line.len();
            start = end + 1;
            if this < wanted {
                continue;
            }
            if raw == NULL_MARKER {
                break None;
            }
            if !escaped {
                break Some(raw);
            }
            scratch.clear();
            unescape_into(raw, scratch);
            break Some(scratch.as_slice());
        };
        if !test(place, cell) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Decodes a whole object body (already gunzipped): the header and the rows.
pub fn decode_object(body: &[u8]) -> Result<(Vec<String>, Vec<Row>), DecodeError> {
    let mut lines = body.split(|&b| b == b'\n');
    let header = match lines.next() {
        Some(h) => decode_line(h)?.into_iter().map(|f| f.unwrap_or_default()).collect(),
        None => Vec::new(),
    };
    let mut rows = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue; // the final LF
        }
        rows.push(decode_line(line)?);
    }
    Ok((header, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(values: &[Option<&str>]) -> Vec<u8> {
        let mut out = Vec::new();
        push_row(&mut out, values.iter().copied());
        out
    }

    #[test]
    fn awkward_values_are_written_as_documented() {
        let row = encode(&[Some("a\tb"), Some("c\\d"), Some("l1\nl2\r\n"), None, Some(""), Some("\\N"), Some("␊␛")]);
        assert_eq!(String::from_utf8(row).unwrap(), "a\\\tb\tc\\\\d\tl1␊l2␍␊\t\\N\t\t\\\\N\t␛␊␛␛\n");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The timestamp field is what chrono's format writes, for any time chrono holds
        /// (years with a sign before 0000 and after 9999), and NULL beyond.
        #[test]
        fn timestamps_are_written_as_chrono_formats_them(millis in prop_oneof![
            any::<i64>(),
            -62_167_219_200_000i64..253_402_300_800_000,
            Just(i64::MIN), Just(i64::MAX), Just(0i64), Just(-1i64),
            Just(-62_167_219_200_001i64), Just(253_402_300_799_999i64), Just(253_402_300_800_000i64),
        ]) {
            let mut out = Vec::new();
            push_timestamp(&mut out, millis);
            let want = match chrono::DateTime::from_timestamp_millis(millis) {
                Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                None => "\\N".to_owned(),
            };
            prop_assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    /// The module header's rules, written the plain way, one character at a time.
    fn reference_field(value: &str) -> String {
        let mut out = String::new();
        for c in value.chars() {
            match c {
                '\t' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                '\n' => out.push(LF_SYMBOL),
                '\r' => out.push(CR_SYMBOL),
                LF_SYMBOL | CR_SYMBOL | SYMBOL_ESCAPE => {
                    out.push(SYMBOL_ESCAPE);
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// A field is the rules' encoding of its value, byte for byte, wherever in a word of
        /// 8 bytes its special characters fall (and with bytes 0x00-0x1F and other U+2xxx
        /// characters, which look special to the word check and are not).
        #[test]
        fn fields_are_the_rules_encoding(value in prop_oneof![
            "[a-z\\t\\n\\r\\\\\\u{240A}\\u{240D}\\u{241B}\\u{2000}\\u{2FFF}\\x00-\\x1fé]{0,40}",
            any::<String>(),
        ]) {
            let mut out = Vec::new();
            push_field(&mut out, &value);
            prop_assert_eq!(String::from_utf8(out).unwrap(), reference_field(&value));
        }
    }

    #[test]
    fn null_and_empty_differ() {
        let row = encode(&[None, Some("")]);
        assert_eq!(decode_line(&row[..row.len() - 1]).unwrap(), vec![None, Some(String::new())]);
    }

    fn value() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            1 => Just(None),
            2 => Just(Some(String::new())),
            4 => "[\\t\\n\\r\\\\\"',;|a-z\\u{240A}\\u{240D}\\u{241B}N é日🦀\\x00-\\x1f]{0,24}".prop_map(Some),
            2 => any::<String>().prop_map(Some),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Any row of any values decodes back to exactly those values, and the encoded row
        /// holds exactly one line break (its end) and one delimiter fewer than its fields.
        #[test]
        fn every_row_round_trips(values in proptest::collection::vec(value(), 1..8)) {
            let mut out = Vec::new();
            push_row(&mut out, values.iter().map(|v| v.as_deref()));
            prop_assert_eq!(out.iter().filter(|&&b| b == b'\n' || b == b'\r').count(), 1);
            prop_assert_eq!(*out.last().unwrap(), b'\n');
            let decoded = decode_line(&out[..out.len() - 1]).unwrap();
            prop_assert_eq!(decoded, values);
        }
    }

    #[test]
    fn very_long_strings_survive() {
        let long: String = "x\ty\nz\\".repeat(100_000);
        let mut out = Vec::new();
        push_row(&mut out, [Some(long.as_str())]);
        assert_eq!(decode_line(&out[..out.len() - 1]).unwrap(), vec![Some(long)]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// The kept columns of any lines are what the whole-line decoder gives for them, NULL
        /// where a line is short; a field that is not kept never has to be UTF-8.
        #[test]
        fn kept_columns_decode_as_the_whole_line_does(
            lines in proptest::collection::vec(proptest::collection::vec(value(), 1..7), 1..6),
            kept in proptest::collection::btree_set(0usize..8, 0..5),
        ) {
            let kept: Vec<usize> = kept.into_iter().rev().collect();
            let mut cells = SerdeCells::new(&kept);
            let mut want: Vec<Vec<Option<String>>> = vec![Vec::new(); kept.len()];
            for values in &lines {
                let mut out = Vec::new();
                push_row(&mut out, values.iter().map(|v| v.as_deref()));
                let line = &out[..out.len() - 1];
                let whole = decode_line_as_serde(line).unwrap();
                for (slot, f) in kept.iter().enumerate() {
                    want[slot].push(whole.get(*f).cloned().flatten());
                }
                cells.push_line(line).unwrap();
            }
            prop_assert_eq!(cells.rows(), lines.len());
            for (slot, w) in want.iter().enumerate() {
                let got: Vec<Option<String>> = cells.columns()[slot].iter().map(|c| c.map(str::to_owned)).collect();
                prop_assert_eq!(&got, w);
            }
        }
    }

    #[test]
    fn a_refused_line_keeps_nothing() {
        let mut cells = SerdeCells::new(&[0, 2]);
        cells.push_line(b"a\tb\tc\\\\").unwrap();
        assert_eq!(cells.push_line(b"x\ty\tz\\"), Err(DecodeError::DanglingEscape));
        assert_eq!(cells.push_line(b"x\t\xff\tz"), Ok(()), "field 1 is not kept: not read");
        assert_eq!(cells.push_line(b"x\ty\t\xff"), Err(DecodeError::NotUtf8(2)));
        cells.push_line(b"n\ty\t\\N").unwrap();
        cells.push_line(b"only").unwrap();
        assert_eq!(cells.rows(), 4);
        let columns = cells.columns();
        assert_eq!(columns[0], [Some("a"), Some("x"), Some("n"), Some("only")]);
        assert_eq!(columns[1], [Some("c\\"), Some("z"), None, None]);
        // Nothing of the refused lines is left between the cells: each starts where the one
        // before it ends.
        assert_eq!(cells.column_bytes(0).0, b"axnonly");
        assert_eq!(cells.column_bytes(1).0, b"c\\z");
        cells.clear();
        assert_eq!((cells.rows(), cells.columns()[0].len()), (0, 0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// The cells a filter is tested on are the cells the line decodes to, whatever their
        /// escapes, NULLs and missing trailing fields; the test stops at the first that fails.
        #[test]
        fn tested_cells_are_the_decoded_cells(
            values in proptest::collection::vec(value(), 1..7),
            fields in proptest::collection::btree_set(0usize..8, 0..5),
            fail_at in proptest::option::of(0usize..5),
        ) {
            let fields: Vec<usize> = fields.into_iter().collect();
            let mut out = Vec::new();
            push_row(&mut out, values.iter().map(|v| v.as_deref()));
            let line = &out[..out.len() - 1];
            let whole = decode_line_as_serde(line).unwrap();
            let mut seen = Vec::new();
            let mut scratch = Vec::new();
            let passed = fields_pass(line, &fields, &mut scratch, |place, cell| {
                seen.push((place, cell.map(|c| String::from_utf8(c.to_vec()).unwrap())));
                Some(place) != fail_at
            })
            .unwrap();
            let tested = fail_at.map_or(fields.len(), |f| (f + 1).min(fields.len()));
            let want: Vec<(usize, Option<String>)> =
                fields.iter().take(tested).enumerate().map(|(p, f)| (p, whole.get(*f).cloned().flatten())).collect();
            prop_assert_eq!(seen, want);
            prop_assert_eq!(passed, fail_at.is_none_or(|f| f >= fields.len()));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The splitter's search finds the first delimiter or escape wherever it lies: in the
        /// first 16 bytes, a later block of 16, the bytes after the last whole block, or none.
        #[test]
        fn the_search_for_a_stop_finds_the_first_one(
            bytes in proptest::collection::vec(
                prop_oneof![8 => any::<u8>(), 1 => Just(FIELD_DELIMITER), 1 => Just(ESCAPE)],
                0..80,
            ),
            from in 0usize..80,
        ) {
            let rest = &bytes[from.min(bytes.len())..];
            prop_assert_eq!(find_stop(rest), rest.iter().position(|&b| b == FIELD_DELIMITER || b == ESCAPE));
        }
    }

    #[test]
    fn tested_fields_need_not_be_utf8_and_a_dangling_escape_is_an_error() {
        let mut scratch = Vec::new();
        let mut cells = Vec::new();
        let mut record = |_: usize, c: Option<&[u8]>| {
            cells.push(c.map(<[u8]>::to_vec));
            true
        };
        // Field 1 is not UTF-8 and the last field ends in a lone escape: neither is read.
        assert_eq!(fields_pass(b"a\\\\b\\\tc\t\xff\tz\t\\N\tq\\", &[0, 2], &mut scratch, &mut record), Ok(true));
        assert_eq!(cells, [Some(b"a\\b\tc".to_vec()), Some(b"z".to_vec())]);
        assert_eq!(fields_pass(b"a\tb\\", &[1], &mut scratch, |_, _| true), Err(DecodeError::DanglingEscape));
        assert_eq!(fields_pass(b"a\t\\N", &[1, 3], &mut scratch, |_, c| c.is_none()), Ok(true));
    }
}
