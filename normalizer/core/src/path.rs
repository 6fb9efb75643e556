//! Attribute paths: how a value inside an item is named, in the spec and in the
//! `attributes` table's `path` column.
//!
//! Syntax (one rule, used for writing and reading): `schedule.intervalMinutes`,
//! `fieldMappings[3].fieldId`, `fieldMappings[].fieldId` (`[]`: every element, spec only),
//! and `["odd name"]` for a name that is not made of letters, digits, `_`, `-` and `$`
//! only (JSON string escapes inside the quotes). Called by the spec parser, by the
//! flattener (rendering), and by redaction matching.

use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A map key / attribute name.
    Name(String),
    /// A list (or set) position.
    Index(usize),
    /// Every element of a list or set (`[]`), used by `explode` and redaction rules.
    Each,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttributePath(pub Vec<Segment>);

/// Why a path does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("path `{path}` is not valid at character {position}: {message}")]
pub struct PathError {
    /// The path text.
    pub path: String,
    /// Zero-based character offset of the problem.
    pub position: usize,
    /// What was expected.
    pub message: &'static str,
}

fn is_bare_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$'
}

/// [`is_bare_char`] by byte: every bare character is ASCII, and no byte of any other
/// character is.
static BARE_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 128 {
        t[b] = (b as u8).is_ascii_alphanumeric() || b == b'_' as usize || b == b'-' as usize || b == b'$' as usize;
        b += 1;
    }
    t
};

/// Whether `name` can be written without quotes (asked for every attribute of every item:
/// a table lookup per byte).
pub fn is_bare_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| BARE_BYTES[usize::from(b)])
}

/// Appends `name` to a rendered path (`.name`, or `["name"]` when it needs quoting).
pub fn push_name(out: &mut String, name: &str) {
    if is_bare_name(name) {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(name);
    } else {
        out.push('[');
        // serde_json writes a valid JSON string; writing to a String cannot fail.
        let quoted = serde_json::to_string(name).unwrap_or_default();
        out.push_str(&quoted);
        out.push(']');
    }
}

/// Appends a list position to a rendered path.
pub fn push_index(out: &mut String, index: usize) {
    // By hand: the flattener calls this for every element of every list, and `write!` took
    // about 1,400 instructions a call (callgrind), this about 70.
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = index;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push('[');
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
    out.push(']');
}

impl AttributePath {
    /// Parses path text.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let err = |position: usize, message: &'static str| PathError { path: text.to_owned(), position, message };
        let chars: Vec<char> = text.chars().collect();
        let mut segments = Vec::new();
        let mut i = 0;
        if chars.is_empty() {
            return Err(err(0, "a path needs at least one attribute name"));
        }
        while i < chars.len() {
            let c = chars[i];
            if c == '[' {
                i += 1;
                match chars.get(i) {
                    Some(']') => {
                        if segments.is_empty() {
                            return Err(err(i, "a path starts with an attribute name, not a list position"));
                        }
                        segments.push(Segment::Each);
                        i += 1;
                    }
                    Some('"') => {
                        // Find the closing quote, honouring backslash escapes.
                        let start = i;
                        i += 1;
                        while i < chars.len() && chars[i] != '"' {
                            if chars[i] == '\\' {
                                i += 1;
                            }
                            i += 1;
                        }
                        if i >= chars.len() {
                            return Err(err(start, "unterminated quoted name"));
                        }
                        let literal: String = chars[start..=i].iter().collect();
                        let name: String = serde_json::from_str(&literal)
                            .map_err(|_| err(start, "bad escape in quoted name (use JSON string escapes)"))?;
                        if name.is_empty() {
                            return Err(err(start, "attribute names cannot be empty"));
                        }
                        segments.push(Segment::Name(name));
                        i += 1;
                        if chars.get(i) != Some(&']') {
                            return Err(err(i, "expected `]` after the quoted name"));
                        }
                        i += 1;
                    }
                    Some(d) if d.is_ascii_digit() => {
                        if segments.is_empty() {
                            return Err(err(i, "a path starts with an attribute name, not a list position"));
                        }
                        let start = i;
                        while i < chars.len() && chars[i].is_ascii_digit() {
                            i += 1;
                        }
                        let digits: String = chars[start..i].iter().collect();
                        let n = digits.parse().map_err(|_| err(start, "list position too large"))?;
                        segments.push(Segment::Index(n));
                        if chars.get(i) != Some(&']') {
                            return Err(err(i, "expected `]` after the list position"));
                        }
                        i += 1;
                    }
                    _ => return Err(err(i, "expected a list position, `]` or a quoted name after `[`")),
                }
            } else {
                if !segments.is_empty() {
                    if c != '.' {
                        return Err(err(i, "expected `.`, `[` or the end of the path"));
                    }
                    i += 1;
                }
                let start = i;
                while i < chars.len() && is_bare_char(chars[i]) {
                    i += 1;
                }
                if start == i {
                    return Err(err(
                        i,
                        "expected an attribute name (letters, digits, `_`, `-`, `$`; quote others as [\"name\"])",
                    ));
                }
                segments.push(Segment::Name(chars[start..i].iter().collect()));
            }
        }
        Ok(AttributePath(segments))
    }

    /// Whether the path contains `[]`.
    pub fn has_each(&self) -> bool {
        self.0.contains(&Segment::Each)
    }

    /// Whether `self` equals `prefix` or lies under it (`[]` in `prefix` matches any position).
    pub fn starts_with(&self, prefix: &AttributePath) -> bool {
        prefix.0.len() <= self.0.len()
            && prefix.0.iter().zip(&self.0).all(|(p, s)| match (p, s) {
                (Segment::Each, Segment::Each | Segment::Index(_)) => true,
                (a, b) => a == b,
            })
    }

    /// Whether some value at `self` can lie at or under some value at `prefix`: as
    /// [`AttributePath::starts_with`], and a position in `prefix` also matches `[]` in `self`
    /// (`cards[0]` reaches the first element of `cards[]`).
    pub fn may_start_with(&self, prefix: &AttributePath) -> bool {
        prefix.0.len() <= self.0.len()
            && prefix.0.iter().zip(&self.0).all(|(p, s)| match (p, s) {
                (Segment::Each | Segment::Index(_), Segment::Each) | (Segment::Each, Segment::Index(_)) => true,
                (a, b) => a == b,
            })
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for s in &self.0 {
            match s {
                Segment::Name(n) => push_name(&mut out, n),
                Segment::Index(i) => push_index(&mut out, *i),
                Segment::Each => out.push_str("[]"),
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_list_position_is_written_in_brackets() {
        for index in [0, 7, 9, 10, 99, 100, 123_456, u32::MAX as usize, usize::MAX] {
            let mut out = String::from("a.b");
            push_index(&mut out, index);
            assert_eq!(out, format!("a.b[{index}]"));
        }
    }

    #[test]
    fn parses_the_forms() {
        let p = AttributePath::parse("fieldMappings[3].fieldId").unwrap();
        assert_eq!(
            p.0,
            vec![Segment::Name("fieldMappings".into()), Segment::Index(3), Segment::Name("fieldId".into())]
        );
        let p = AttributePath::parse(r#"a["x.y"][].b"#).unwrap();
        assert_eq!(
            p.0,
            vec![Segment::Name("a".into()), Segment::Name("x.y".into()), Segment::Each, Segment::Name("b".into())]
        );
        assert_eq!(p.to_string(), r#"a["x.y"][].b"#);
    }

    #[test]
    fn a_name_is_bare_exactly_when_each_of_its_characters_is() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let one = c.to_string();
            assert_eq!(is_bare_name(&one), is_bare_char(c), "{c:?}");
            assert_eq!(is_bare_name(&format!("a{c}_")), is_bare_char(c), "{c:?} inside a name");
        }
        assert!(!is_bare_name(""));
    }

    #[test]
    fn rejects_with_position() {
        let e = AttributePath::parse("a..b").unwrap_err();
        assert_eq!(e.position, 2);
        assert!(AttributePath::parse("").is_err());
        assert!(AttributePath::parse("[0]").is_err());
        assert!(AttributePath::parse("a[x]").is_err());
        assert!(AttributePath::parse("a b").is_err());
        assert!(AttributePath::parse(r#"a["x"#).is_err());
    }

    #[test]
    fn prefix_matching() {
        let rule = AttributePath::parse("fieldMappings[].secret").unwrap();
        assert!(AttributePath::parse("fieldMappings[2].secret.x").unwrap().starts_with(&rule));
        assert!(!AttributePath::parse("fieldMappings[2].other").unwrap().starts_with(&rule));
    }

    proptest! {
        #[test]
        fn rendering_parses_back(names in proptest::collection::vec(any::<String>().prop_filter("non-empty", |s| !s.is_empty()), 1..5), idx in 0usize..50) {
            let mut out = String::new();
            let mut expect = Vec::new();
            for (k, n) in names.iter().enumerate() {
                push_name(&mut out, n);
                expect.push(Segment::Name(n.clone()));
                if k == 0 {
                    push_index(&mut out, idx);
                    expect.push(Segment::Index(idx));
                }
            }
            prop_assert_eq!(AttributePath::parse(&out).unwrap().0, expect);
        }
    }
}
