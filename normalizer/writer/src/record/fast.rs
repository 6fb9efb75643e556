//! The decoder's fast path: a reader of exactly the JSON a DynamoDB stream event holds.
//!
//! serde_json's visitors cost about 40% of a batch's instructions (docs/performance.md); most
//! of it is the generic machinery between a few kinds of values. This reader knows the event's
//! shape: `{"Records": [record, ...]}`, each record's fields, attribute values `{"S": "…"}`. It
//! builds the same [`RecordWire`] that serde builds, from the same text, and hands it to the
//! same checks.
//!
//! It decides nothing about input it does not expect. Whatever it does not read as serde
//! would (a key or a value of another shape, a duplicate field, a bad number or base64, a
//! control character, a value nested past [`MAX_DEPTH`]) makes it give up, and serde reads
//! that part: the whole event when nothing was read yet ([`for_each_record`] returns
//! `None`), otherwise the one record ([`super::decode_record`] on its raw text, whose extent
//! serde finds). Strings with escapes, and the two numbers of a record, are handed to
//! serde_json itself, so that every value is the one serde makes. The tests compare both
//! readers on every fixture, on generated events and on malformed ones.

use std::borrow::Cow;

use serde::de;
use serde_json::value::RawValue;

use super::value::{check_base64, check_number};
use super::{decode_record, ChangeWire, RecordError, RecordWire, StreamRecord, UserIdentityWire};
use super::{AttributeValue, Item, Text};

/// The fast path gave up: serde reads this part.
#[derive(Debug)]
struct GiveUp;

type Fast<T> = Result<T, GiveUp>;

/// The type keys of attribute values.
#[derive(Clone, Copy)]
enum Tag {
    S,
    N,
    M,
    L,
    Bool,
    Null,
    Ss,
    Ns,
    B,
    Bs,
}

impl Tag {
    /// Every type key as DynamoDB writes it, the most frequent first.
    const ALL: [(&'static str, Tag); 10] = [
        ("S", Tag::S),
        ("N", Tag::N),
        ("M", Tag::M),
        ("L", Tag::L),
        ("BOOL", Tag::Bool),
        ("NULL", Tag::Null),
        ("SS", Tag::Ss),
        ("NS", Tag::Ns),
        ("B", Tag::B),
        ("BS", Tag::Bs),
    ];
}

/// A position in the event's text.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
    /// Objects and lists open around the position, counted from the record (or event) the
    /// reader started at.
    depth: u32,
}

/// The most objects and lists the fast path reads inside one another. serde_json refuses
/// a value nested 128 deep; DynamoDB allows 32 levels of attribute values (64 here, two per
/// level, plus the record's own), so no real record comes near either.
const MAX_DEPTH: u32 = 100;

/// Whether `b` ends the plain run of a string: the closing quote, an escape, or a character
/// JSON forbids inside a string (below U+0020).
#[inline]
fn stops_string(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// Where the first byte of `rest` that [`stops_string`] is.
///
/// On x86-64, 16 bytes at a time with SSE2 (part of every x86-64 CPU), inlined into the
/// reader: most strings of an event are names and values under 32 bytes, where one or two
/// such steps do the work of two to four steps of [`string_stop_words`]; the last bytes, and
/// other architectures, go eight at a time.
#[inline]
fn string_stop(rest: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let mut at = 0;
        // SAFETY: SSE2 is enabled on every x86-64 target, so its intrinsics can be called;
        // each load reads the 16 bytes of one `chunk`, with no alignment requirement.
        unsafe {
            let (quote, escape, control) = (_mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\\' as i8), _mm_set1_epi8(0x1f));
            for chunk in rest.chunks_exact(16) {
                let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                // A byte below 0x20 is its own unsigned minimum with 0x1F.
                let below = _mm_cmpeq_epi8(_mm_min_epu8(v, control), v);
                let stops = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, escape)), below);
                let hits = _mm_movemask_epi8(stops);
                if hits != 0 {
                    return Some(at + hits.trailing_zeros() as usize);
                }
                at += 16;
            }
        }
        string_stop_words(&rest[at..]).map(|i| at + i)
    }
    #[cfg(not(target_arch = "x86_64"))]
    string_stop_words(rest)
}

/// [`string_stop`] eight bytes at a time, in a `u64`.
#[inline]
fn string_stop_words(rest: &[u8]) -> Option<usize> {
    // A byte equal to `c` is a zero byte of `w ^ c…c`, and the lowest flagged byte of
    // `(x - 0x01…01) & !x & 0x80…80` is the first zero byte of x (the borrow can flag bytes
    // after it, never before). `< 0x20` works the same with 0x20…20.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let flags = |x: u64, below: u64| x.wrapping_sub(ONES * below) & !x;
    let mut at = 0;
    while let Some(word) = rest.get(at..at + 8) {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let found =
            (flags(w ^ (ONES * u64::from(b'"')), 1) | flags(w ^ (ONES * u64::from(b'\\')), 1) | flags(w, 0x20)) & HIGH;
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    rest[at..].iter().position(|&b| stops_string(b)).map(|i| at + i)
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader { text, pos: 0, depth: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not JSON whitespace (not consumed).
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.pos) {
            // Every byte above the space is not whitespace: one comparison for most tokens.
            if b > b' ' || !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// Consumes `c` (after whitespace), or gives up.
    #[inline]
    fn eat(&mut self, c: u8) -> Fast<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// Consumes the literal `word` (after whitespace) when it is next.
    fn literal(&mut self, word: &str) -> bool {
        if self.peek().is_some() && self.bytes()[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// `null` when it is next (consumed).
    fn null(&mut self) -> bool {
        self.literal("null")
    }

    /// After a member or element: `,` (more follow) or `close` (the end), else give up.
    #[inline]
    fn more(&mut self, close: u8) -> Fast<bool> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(GiveUp),
        }
    }

    /// Consumes `open` and tells whether the object or list holds anything (an empty one is
    /// consumed whole).
    #[inline]
    fn open(&mut self, open: u8, close: u8) -> Fast<bool> {
        self.eat(open)?;
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// One more level of nesting; too deep is serde's to refuse.
    #[inline]
    fn nest(&mut self) -> Fast<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(GiveUp);
        }
        Ok(())
    }

    /// An object's members: `each` reads the value of each key (the colon is consumed).
    #[inline]
    fn members(&mut self, mut each: impl FnMut(&mut Self, Text<'a>) -> Fast<()>) -> Fast<()> {
        self.nest()?;
        if self.open(b'{', b'}')? {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                each(self, key)?;
                if !self.more(b'}')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// A list's elements, each read by `each`.
    #[inline]
    fn elements<T>(&mut self, mut each: impl FnMut(&mut Self) -> Fast<T>) -> Fast<Vec<T>> {
        self.nest()?;
        let mut out = Vec::with_capacity(4);
        if self.open(b'[', b']')? {
            loop {
                out.push(each(self)?);
                if !self.more(b']')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Ok(out)
    }

    /// Any JSON value, checked and skipped (a string or a number as serde_json checks it).
    fn any(&mut self) -> Fast<()> {
        match self.peek().ok_or(GiveUp)? {
            b'{' => self.members(|r, _| r.any()),
            b'[' => self.elements(Self::any).map(drop),
            b'"' => self.string().map(drop),
            b't' | b'f' => self.boolean().map(drop),
            b'n' if self.null() => Ok(()),
            _ => self.number::<de::IgnoredAny>().map(drop),
        }
    }

    /// A string: borrowed from the text when it holds no escape, unescaped by serde_json when
    /// it does.
    #[inline]
    fn string(&mut self) -> Fast<Text<'a>> {
        self.eat(b'"')?;
        let start = self.pos;
        let rest = &self.bytes()[start..];
        let end = string_stop(rest).ok_or(GiveUp)?;
        match rest[end] {
            b'"' => {
                self.pos = start + end + 1;
                Ok(Text(Cow::Borrowed(&self.text[start..start + end])))
            }
            b'\\' => self.escaped(start),
            _ => Err(GiveUp),
        }
    }

    /// A string that holds an escape, from its first byte after the quote at `start - 1`.
    fn escaped(&mut self, start: usize) -> Fast<Text<'a>> {
        let bytes = self.bytes();
        let mut at = start;
        loop {
            let i = at + memchr::memchr2(b'"', b'\\', &bytes[at..]).ok_or(GiveUp)?;
            if bytes[i] == b'"' {
                let unescaped: String = serde_json::from_str(&self.text[start - 1..=i]).map_err(|_| GiveUp)?;
                self.pos = i + 1;
                return Ok(Text(Cow::Owned(unescaped)));
            }
            // The escaped character is never the closing quote; a bad escape is serde's to refuse.
            at = i + 2;
            if at > bytes.len() {
                return Err(GiveUp);
            }
        }
    }

    /// A string, or `null` (`None`).
    fn optional_string(&mut self) -> Fast<Option<Text<'a>>> {
        if self.null() {
            return Ok(None);
        }
        self.string().map(Some)
    }

    /// `true` or `false`.
    fn boolean(&mut self) -> Fast<bool> {
        if self.literal("true") {
            Ok(true)
        } else if self.literal("false") {
            Ok(false)
        } else {
            Err(GiveUp)
        }
    }

    /// A number, read by serde_json (as `T`) from its text, so that it has serde's value.
    fn number<T: de::DeserializeOwned>(&mut self) -> Fast<T> {
        self.peek();
        let bytes = self.bytes();
        let start = self.pos;
        let len = bytes[start..]
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(bytes.len() - start);
        if len == 0 {
            return Err(GiveUp);
        }
        let value = serde_json::from_str(&self.text[start..start + len]).map_err(|_| GiveUp)?;
        self.pos = start + len;
        Ok(value)
    }

    /// A value of a field this reader does not keep: only a string or `null` is skipped here.
    fn skip(&mut self) -> Fast<()> {
        if !self.null() {
            self.string()?;
        }
        Ok(())
    }

    /// An item or map: `{name: value, ...}`, or `null` (empty).
    fn item(&mut self) -> Fast<Item<'a>> {
        if self.null() {
            return Ok(Item::default());
        }
        let mut entries = Vec::with_capacity(8);
        self.members(|r, name| {
            entries.push((name, r.value()?));
            Ok(())
        })?;
        Ok(Item::new(entries))
    }

    /// An item that may be absent (`null`: `None`).
    fn optional_item(&mut self) -> Fast<Option<Item<'a>>> {
        if self.null() {
            return Ok(None);
        }
        self.item().map(Some)
    }

    /// A list of strings (the elements of a set).
    fn texts(&mut self) -> Fast<Vec<Text<'a>>> {
        self.elements(Self::string)
    }

    /// The type key of an attribute value, and its colon.
    #[inline]
    fn tag(&mut self) -> Fast<Tag> {
        // Written as DynamoDB writes them (no escape), the keys are read without a search.
        if self.peek() == Some(b'"') {
            let rest = &self.bytes()[self.pos + 1..];
            for (name, tag) in Tag::ALL {
                if rest.len() > name.len() && rest.starts_with(name.as_bytes()) && rest[name.len()] == b'"' {
                    self.pos += name.len() + 2;
                    self.eat(b':')?;
                    return Ok(tag);
                }
            }
        }
        let name = self.string()?;
        self.eat(b':')?;
        Tag::ALL.into_iter().find(|(n, _)| *n == name.as_str()).map(|(_, tag)| tag).ok_or(GiveUp)
    }

    /// One attribute value: `{"TYPE": value}`.
    ///
    /// Each kind is closed (`}`) before its value is made, and the function is inlined into
    /// its callers (a map's members, a list's elements), so that the value is made where it
    /// is kept. Made here, returned and then moved into the map, a value was read back right
    /// after its pieces were written, and the processor's store forwarding stalled on it:
    /// half of this function's samples in a perf profile, then, with the value made last but
    /// not inlined, as many in the map's loop.
    #[inline(always)]
    fn value(&mut self) -> Fast<AttributeValue<'a>> {
        self.nest()?;
        self.eat(b'{')?;
        match self.tag()? {
            Tag::S => {
                let t = self.string()?;
                self.close_value()?;
                Ok(AttributeValue::S(t))
            }
            Tag::N => {
                let t = self.string()?;
                check_number::<de::value::Error>(&t).map_err(|_| GiveUp)?;
                self.close_value()?;
                Ok(AttributeValue::N(t))
            }
            Tag::M => {
                let m = self.item()?;
                self.close_value()?;
                Ok(AttributeValue::M(m))
            }
            Tag::L => {
                let l = self.elements(Self::value)?;
                self.close_value()?;
                Ok(AttributeValue::L(l))
            }
            Tag::Bool => {
                let b = self.boolean()?;
                self.close_value()?;
                Ok(AttributeValue::Bool(b))
            }
            Tag::Null => {
                self.boolean()?;
                self.close_value()?;
                Ok(AttributeValue::Null)
            }
            Tag::Ss => {
                let l = self.texts()?;
                self.close_value()?;
                Ok(AttributeValue::Ss(l))
            }
            Tag::Ns => {
                let l = self.texts()?;
                for t in &l {
                    check_number::<de::value::Error>(t).map_err(|_| GiveUp)?;
                }
                self.close_value()?;
                Ok(AttributeValue::Ns(l))
            }
            Tag::B => {
                let t = self.string()?;
                check_base64::<de::value::Error>(&t).map_err(|_| GiveUp)?;
                self.close_value()?;
                Ok(AttributeValue::B(t))
            }
            Tag::Bs => {
                let l = self.texts()?;
                for t in &l {
                    check_base64::<de::value::Error>(t).map_err(|_| GiveUp)?;
                }
                self.close_value()?;
                Ok(AttributeValue::Bs(l))
            }
        }
    }

    /// The end of an attribute value: exactly one type key, then `}`.
    #[inline]
    fn close_value(&mut self) -> Fast<()> {
        self.eat(b'}')?;
        self.depth -= 1;
        Ok(())
    }

    /// `userIdentity`: `{"type": …, "principalId": …}` or `null`.
    fn user_identity(&mut self) -> Fast<Option<UserIdentityWire<'a>>> {
        if self.null() {
            return Ok(None);
        }
        let (mut kind, mut principal_id) = (None, None);
        self.members(|r, key| match key.as_str() {
            "type" => once(&mut kind, r.optional_string()?),
            "principalId" => once(&mut principal_id, r.optional_string()?),
            _ => r.skip(),
        })?;
        Ok(Some(UserIdentityWire { kind: kind.flatten(), principal_id: principal_id.flatten() }))
    }

    /// The record's `dynamodb` object.
    fn change(&mut self) -> Fast<ChangeWire<'a>> {
        let (mut time, mut keys, mut new_image, mut old_image) = (None, None, None, None);
        let (mut sequence_number, mut size_bytes, mut view) = (None, None, None);
        self.members(|r, key| match key.as_str() {
            "ApproximateCreationDateTime" => {
                let t = if r.null() { None } else { Some(r.number::<f64>()?) };
                once(&mut time, t)
            }
            "Keys" => once(&mut keys, r.optional_item()?),
            "NewImage" => once(&mut new_image, r.optional_item()?),
            "OldImage" => once(&mut old_image, r.optional_item()?),
            "SequenceNumber" => once(&mut sequence_number, r.string()?),
            "SizeBytes" => {
                let n = if r.null() { None } else { Some(r.number::<i64>()?) };
                once(&mut size_bytes, n)
            }
            "StreamViewType" => once(&mut view, r.optional_string()?),
            _ => r.skip(),
        })?;
        Ok(ChangeWire {
            approximate_creation_date_time: time.flatten(),
            keys: keys.flatten(),
            new_image: new_image.flatten(),
            old_image: old_image.flatten(),
            sequence_number: sequence_number.ok_or(GiveUp)?,
            size_bytes: size_bytes.flatten(),
            stream_view_type: view.flatten(),
        })
    }

    /// One stream record, as serde's derive reads it from an object.
    fn record(&mut self) -> Fast<RecordWire<'a>> {
        let (mut event_id, mut event_name, mut arn, mut user, mut change) = (None, None, None, None, None);
        self.members(|r, key| match key.as_str() {
            "eventID" => once(&mut event_id, r.optional_string()?),
            "eventName" => once(&mut event_name, r.string()?),
            "eventSourceARN" => once(&mut arn, r.optional_string()?),
            "userIdentity" => once(&mut user, r.user_identity()?),
            "dynamodb" => once(&mut change, r.change()?),
            _ => r.skip(),
        })?;
        Ok(RecordWire {
            event_id: event_id.flatten(),
            event_name: event_name.ok_or(GiveUp)?,
            event_source_arn: arn.flatten(),
            user_identity: user.flatten(),
            change: change.ok_or(GiveUp)?,
        })
    }

    /// The head of an event up to its list: `{"Records":`.
    fn records_key(&mut self) -> Fast<()> {
        self.eat(b'{')?;
        if self.string()?.as_str() != "Records" {
            return Err(GiveUp);
        }
        self.eat(b':')
    }

    /// Whether only whitespace is left.
    fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }
}

/// Sets a field the first time it is seen; a field seen twice is serde's to refuse.
fn once<T>(slot: &mut Option<T>, value: T) -> Fast<()> {
    if slot.is_some() {
        return Err(GiveUp);
    }
    *slot = Some(value);
    Ok(())
}

/// [`super::for_each_record`] on the fast path: `None` when the event does not start as
/// `{"Records": [` (nothing was handed to `f`; serde reads the event). Otherwise as there: the
/// number of records, or the error of the first record that does not decode (the records
/// before it were handed over). A record the reader gives up on is decoded by serde from its
/// raw text; whatever follows the `Records` list (more keys) makes it return an error, and the
/// caller reads the event again record by record, which is where serde's verdict on it is.
pub(super) fn for_each_record<'a>(
    event_json: &'a str,
    f: &mut impl FnMut(usize, StreamRecord<'a>),
) -> Option<Result<usize, RecordError>> {
    let mut r = Reader::new(event_json);
    let start = r.records_key().and_then(|()| r.open(b'[', b']'));
    let Ok(any) = start else { return None };
    Some(records(&mut r, any, f))
}

fn records<'a>(
    r: &mut Reader<'a>,
    any: bool,
    f: &mut impl FnMut(usize, StreamRecord<'a>),
) -> Result<usize, RecordError> {
    let mut index = 0;
    let mut more = any;
    while more {
        r.peek();
        let start = r.pos;
        r.depth = 0;
        let record = match r.record() {
            Ok(wire) => wire.check()?,
            Err(GiveUp) => {
                let mut stream = serde_json::Deserializer::from_str(&r.text[start..]).into_iter::<&RawValue>();
                let raw = match stream.next() {
                    Some(Ok(raw)) => raw,
                    Some(Err(e)) => return Err(RecordError::Shape(e)),
                    None => {
                        return Err(RecordError::Shape(de::Error::custom("the event ends inside its `Records` list")))
                    }
                };
                r.pos = start + stream.byte_offset();
                decode_record(raw.get())?
            }
        };
        f(index, record);
        index += 1;
        more = r.more(b']').map_err(|GiveUp| {
            RecordError::Shape(de::Error::custom("the records of the `Records` list are not separated by commas"))
        })?;
    }
    if r.eat(b'}').is_err() || !r.at_end() {
        return Err(RecordError::Shape(de::Error::custom(
            "the event goes on after its `Records` list; it is read again record by record",
        )));
    }
    Ok(index)
}

/// Whether the fast path reads `event_json` as an event `{"Records": [...]}` whose records are
/// any JSON values, as [`super::split_event`] reads it: when this says yes, so does serde;
/// when it says no, only serde can tell.
pub(super) fn is_event(event_json: &str) -> bool {
    let mut r = Reader::new(event_json);
    let read = r.records_key().and_then(|()| r.elements(Reader::any)).and_then(|_| r.eat(b'}'));
    read.is_ok() && r.at_end()
}

/// [`super::decode_record`] on the fast path: the record's wire form, or `None` when serde
/// must read it.
pub(super) fn record(raw: &str) -> Option<RecordWire<'_>> {
    let mut r = Reader::new(raw);
    let wire = r.record().ok()?;
    r.at_end().then_some(wire)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::super::{for_each_record_serde, split_event};
    use super::*;

    /// The first stopping byte, found 16 and 8 at a time, is the one a byte-by-byte search
    /// finds: every byte value at every place of texts of 0 to 40 bytes, before and after
    /// other stops.
    #[test]
    fn string_stop_finds_the_first_quote_escape_or_control_byte() {
        let naive = |s: &[u8]| s.iter().position(|&b| stops_string(b));
        for len in 0..=40 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut text = vec![b'a'; len];
                    text[at] = b;
                    assert_eq!(string_stop(&text), naive(&text), "{b:#04x} at {at} of {len}");
                    assert_eq!(string_stop_words(&text), naive(&text), "{b:#04x} at {at} of {len}");
                    // A stop after it leaves the answer to the first.
                    text.push(b'"');
                    assert_eq!(string_stop(&text), naive(&text), "{b:#04x} at {at} of {len}, then a quote");
                }
            }
        }
        assert_eq!(string_stop("é✓ plain \u{1F600}".as_bytes()), None);
    }

    /// What the batch makes of an event (crate::batch): the records streamed in one pass, or,
    /// when that fails, the event split and each record decoded on its own. `fast`: this
    /// module's reader first; otherwise serde alone.
    fn read(event: &str, fast: bool) -> Result<Vec<Result<StreamRecord<'_>, String>>, String> {
        let mut streamed = Vec::new();
        let mut push = |index: usize, r| {
            assert_eq!(index, streamed.len());
            streamed.push(Ok(r));
        };
        let done = if fast {
            super::super::for_each_record(event, &mut push)
        } else {
            for_each_record_serde(event, &mut push)
        };
        if let Ok(n) = done {
            assert_eq!(n, streamed.len());
            return Ok(streamed);
        }
        let raws = split_event(event).map_err(|e| e.to_string())?;
        let mut decoded = Vec::new();
        for raw in raws {
            decoded.push(if fast {
                decode_record(raw.get())
            } else {
                serde_json::from_str::<RecordWire<'_>>(raw.get())
                    .map_err(RecordError::Shape)
                    .and_then(RecordWire::check)
            });
        }
        Ok(decoded.into_iter().map(|d| d.map_err(|e| e.to_string())).collect())
    }

    /// Both readers make the same of `event`.
    fn same(event: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(read(event, true), read(event, false), "event: {}", event);
        Ok(())
    }

    /// Whether the fast path reads the whole event without serde's help.
    fn fast_alone(event: &str) -> bool {
        let mut records = Vec::new();
        let mut r = Reader::new(event);
        let head = r.records_key().and_then(|()| r.open(b'[', b']'));
        let Ok(mut more) = head else { return false };
        while more {
            let Ok(wire) = r.record() else { return false };
            records.push(wire);
            more = matches!(r.more(b']'), Ok(true));
        }
        r.eat(b'}').is_ok() && r.at_end() && !records.is_empty()
    }

    #[test]
    fn every_fixture_is_read_by_the_fast_path_as_serde_reads_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/events");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        assert!(files.len() >= 8, "{files:?}");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            // As written (pretty, keys in the file's order), compact, and pretty again.
            for event in [text.clone(), value.to_string(), serde_json::to_string_pretty(&value).unwrap()] {
                assert!(fast_alone(&event), "{}: the fast path gave up", path.display());
                assert!(is_event(&event), "{}: the event check gave up", path.display());
                same(&event).unwrap();
                let records = read(&event, true).unwrap();
                assert!(!records.is_empty() && records.iter().all(Result::is_ok), "{}", path.display());
            }
        }
    }

    #[test]
    fn a_generated_event_is_read_by_the_fast_path_as_serde_reads_it() {
        let event = ddb_lake_synth::event_of_size(300_000, 7);
        assert!(fast_alone(&event));
        assert!(is_event(&event));
        let (fast, serde) = (read(&event, true).unwrap(), read(&event, false).unwrap());
        assert!(fast.len() > 50, "{}", fast.len());
        assert_eq!(fast, serde);
    }

    #[test]
    fn what_the_fast_path_does_not_read_serde_does() {
        let insert = crate::test_events::record("insert.json");
        let text = insert.to_string();
        let cases = [
            // Keys around the list, a list that is null or not a list.
            format!(r#"{{"x":1,"Records":[{text}]}}"#),
            format!(r#"{{"Records":[{text}],"x":[1,{{"y":null}}]}}"#),
            format!(r#"{{"Records":[{text}],"Records":[]}}"#),
            format!(r#"{{"Records":[{text}]}} x"#),
            format!(r#"{{"Records":[{text}]"#),
            format!(r#"{{"Records":[{text},]}}"#),
            format!(r#"{{"Records":[{text} {text}]}}"#),
            r#"{"Records":null}"#.to_owned(),
            r#"{"Records":[]}"#.to_owned(),
            r#"[{"Records":[]}]"#.to_owned(),
            r#"{"Records":[5, "x", null, [], {}]}"#.to_owned(),
            // A record as a list of its fields in order (serde reads a struct from a list too).
            format!(
                r#"{{"Records":[["e1","INSERT",null,null,{}]]}}"#,
                serde_json::to_string(&insert["dynamodb"]).unwrap()
            ),
        ];
        for event in &cases {
            same(event).unwrap();
            assert!(!is_event(event) || split_event(event).is_ok(), "{event}");
        }
        // Records that are other JSON values are events all the same.
        let others = r#"{"Records":[5, "x", null, [], {}, true, -1.5e-3, {"a":[{"b":"\u00e9"}]}]}"#;
        assert!(is_event(others) && split_event(others).is_ok());
        for not_event in [r#"{"Records":[1,]}"#, r#"{"Records":[01]}"#, r#"{"Records":[]}x"#, r#"{"Records":[tru]}"#] {
            assert!(!is_event(not_event) && split_event(not_event).is_err(), "{not_event}");
        }
        // A value nested deeper than serde decodes (128): serde's refusal, not the fast path's
        // reading (an event check gives up on it too; serde reads it as an event).
        let nested = |levels: usize| {
            let mut value = json!({"S": "leaf"});
            for _ in 0..levels {
                value = json!({ "L": [value] });
            }
            let mut record = insert.clone();
            record["dynamodb"]["NewImage"]["deep"] = value;
            crate::test_events::event_of(vec![record])
        };
        let (shallow, deep) = (nested(40), nested(70));
        assert!(fast_alone(&shallow) && is_event(&shallow));
        same(&shallow).unwrap();
        assert!(!fast_alone(&deep) && !is_event(&deep));
        let raws = split_event(&deep).unwrap();
        assert!(decode_record(raws[0].get()).is_err());
        same(&deep).unwrap();
        // Field by field: other shapes, escapes, duplicates, numbers.
        type Change = Box<dyn Fn(&mut Value)>;
        let variants: Vec<Change> = vec![
            Box::new(|r| r["eventVersion"] = json!({"nested": [1, 2.5, true]})),
            Box::new(|r| r["eventID"] = Value::Null),
            Box::new(|r| r["eventID"] = json!(17)),
            Box::new(|r| r["eventName"] = Value::Null),
            Box::new(|r| r["eventName"] = json!("UPSERT")),
            Box::new(|r| r["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})),
            Box::new(|r| r["userIdentity"] = json!({"type": null, "other": 1})),
            Box::new(|r| r["userIdentity"] = json!(["Service", "dynamodb.amazonaws.com"])),
            Box::new(|r| r["dynamodb"]["ApproximateCreationDateTime"] = json!(1793887200.123456)),
            Box::new(|r| r["dynamodb"]["ApproximateCreationDateTime"] = json!(1.7938872e9)),
            Box::new(|r| r["dynamodb"]["ApproximateCreationDateTime"] = json!("1793887200")),
            Box::new(|r| r["dynamodb"]["ApproximateCreationDateTime"] = Value::Null),
            Box::new(|r| r["dynamodb"]["ApproximateCreationDateTime"] = json!(-1)),
            Box::new(|r| r["dynamodb"]["SizeBytes"] = json!(12.5)),
            Box::new(|r| r["dynamodb"]["SizeBytes"] = json!(u64::MAX)),
            Box::new(|r| r["dynamodb"]["SizeBytes"] = Value::Null),
            Box::new(|r| r["dynamodb"]["SequenceNumber"] = Value::Null),
            Box::new(|r| r["dynamodb"]["SequenceNumber"] = json!("0012")),
            Box::new(|r| drop(r["dynamodb"].as_object_mut().unwrap().remove("SequenceNumber"))),
            Box::new(|r| drop(r.as_object_mut().unwrap().remove("dynamodb"))),
            Box::new(|r| r["dynamodb"]["StreamViewType"] = json!("BOGUS")),
            Box::new(|r| r["dynamodb"]["Keys"] = Value::Null),
            Box::new(|r| r["dynamodb"]["Keys"] = json!({"pk": {"S": ""}})),
            Box::new(|r| r["dynamodb"]["NewImage"] = Value::Null),
            Box::new(|r| r["dynamodb"]["NewImage"] = json!([])),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"S": "a", "N": "1"})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"S": null})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"M": null})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"NULL": false})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"NULL": "yes"})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"BOOL": 1})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"N": "1e400"})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"NS": ["1", "x"]})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"BS": ["c2hh", "%%"]})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"SS": []})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"L": [{"L": []}, {"M": {}}, {"S": ""}]})),
            Box::new(|r| r["dynamodb"]["NewImage"]["x"] = json!({"DATE": "x"})),
        ];
        for (i, change) in variants.iter().enumerate() {
            let mut record = insert.clone();
            change(&mut record);
            let event = crate::test_events::event_of(vec![insert.clone(), record.clone(), insert.clone()]);
            same(&event).map_err(|e| format!("variant {i}: {e}")).unwrap();
            same(&serde_json::to_string_pretty(&json!({"Records": [record]})).unwrap()).unwrap();
        }
        // Escapes in keys and values, raw control characters, a duplicate field.
        let escaped = [
            (r#""eventName""#, r#""event\u004eame""#),
            (r#""INSERT""#, r#""\u0049NSERT""#),
            (r#""S":"#, r#""\u0053":"#),
            (r#""pk""#, r#""p\"k""#),
            (r#""pk""#, "\"p\u{1}k\""),
            (r#""pk""#, "\"a string longer than the first look\u{1f}k\""),
            (r#""pk""#, "\"a string longer than the first look\tk\""),
            (r#""pk""#, r#""\ud83e\udd80 \\ \/ \b\f\n\r\t""#),
            (r#""pk""#, r#""\ud83e""#),
            (r#""pk""#, r#""\x""#),
            (r#""eventID""#, r#""eventID":"e0","eventID""#),
            (r#""SequenceNumber""#, r#""SizeBytes":1,"SequenceNumber""#),
        ];
        for (from, to) in escaped {
            let event = crate::test_events::event_of(vec![insert.clone()]).replacen(from, to, 1);
            assert_ne!(event, crate::test_events::event_of(vec![insert.clone()]), "{from}");
            same(&event).unwrap();
        }
    }

    /// Strings that find the corners of the string reader: empty, around its 16-byte look,
    /// escapes, multi-byte characters, a control character.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z]{1,40}",
            "[a-z\"\\\\\t\n\u{1}é🦀]{0,40}",
            (0usize..40, "[\"\\\\\u{7}]").prop_map(|(n, c)| format!("{}{c}{}", "x".repeat(n), "y".repeat(n))),
        ]
    }

    fn attribute_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            text().prop_map(|s| json!({ "S": s })),
            prop_oneof![Just("0"), Just("-12.5E+3"), Just("99999999999999999999999999999999999999"), Just("1.2.3")]
                .prop_map(|n| json!({ "N": n })),
            prop_oneof![Just("c2hh"), Just(""), Just("%%%")].prop_map(|b| json!({ "B": b })),
            any::<bool>().prop_map(|b| json!({ "BOOL": b })),
            any::<bool>().prop_map(|b| json!({ "NULL": b })),
            prop::collection::vec(text(), 0..3).prop_map(|l| json!({ "SS": l })),
            prop::collection::vec(prop_oneof![Just("1"), Just("2.5"), Just("x")], 0..3)
                .prop_map(|l| json!({ "NS": l })),
            Just(json!({"BS": ["c2hh"]})),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|l| json!({ "L": l })),
                prop::collection::btree_map(text(), inner, 0..4)
                    .prop_map(|m| json!({ "M": m.into_iter().collect::<serde_json::Map<_, _>>() })),
            ]
        })
    }

    fn stream_record() -> impl Strategy<Value = Value> {
        let image = || prop::option::of(prop::collection::btree_map(text(), attribute_value(), 0..5));
        (
            prop_oneof![Just("INSERT"), Just("MODIFY"), Just("REMOVE"), Just("OTHER")],
            (image(), image()),
            prop_oneof![Just(json!(1793887200)), Just(json!(1793887200.5)), Just(Value::Null)],
            prop_oneof![Just("NEW_AND_OLD_IMAGES"), Just("KEYS_ONLY"), Just("NEW_IMAGE")],
            text(),
            any::<bool>(),
        )
            .prop_map(|(name, (new, old), time, view, key, user)| {
                // The fixture's record, with the generated fields.
                let mut record = crate::test_events::record("insert.json");
                record["eventName"] = json!(name);
                let change = &mut record["dynamodb"];
                change["ApproximateCreationDateTime"] = time;
                change["Keys"] = json!({"pk": {"S": key}});
                change["StreamViewType"] = json!(view);
                let change = change.as_object_mut().unwrap();
                change.remove("NewImage");
                change.remove("OldImage");
                if let Some(new) = new {
                    record["dynamodb"]["NewImage"] = Value::Object(new.into_iter().collect());
                }
                if let Some(old) = old {
                    record["dynamodb"]["OldImage"] = Value::Object(old.into_iter().collect());
                }
                if user {
                    record["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
                }
                record
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Generated events, compact or pretty, whole or with one byte changed: both readers
        /// make the same records and the same errors of them.
        #[test]
        fn both_readers_agree_on_generated_events(
            records in prop::collection::vec(stream_record(), 1..4),
            pretty in any::<bool>(),
            change in prop::option::of((any::<prop::sample::Index>(), prop::sample::select(vec![
                "\"", "\\", ",", "}", "]", "{", "[", ":", " ", "x", "0", "\u{1}", "é",
            ]))),
        ) {
            let value = json!({ "Records": records });
            let mut event = if pretty { serde_json::to_string_pretty(&value).unwrap() } else { value.to_string() };
            if let Some((at, with)) = change {
                let mut at = at.index(event.len());
                while !event.is_char_boundary(at) {
                    at -= 1;
                }
                let end = at + event[at..].chars().next().map_or(0, char::len_utf8);
                event.replace_range(at..end, with);
            }
            same(&event)?;
            // The event check: when the fast path says yes, serde does too; untouched events
            // are events whatever their records hold.
            prop_assert!(!is_event(&event) || split_event(&event).is_ok(), "event: {}", event);
            prop_assert!(change.is_some() || is_event(&event), "event: {}", event);
        }
    }
}
