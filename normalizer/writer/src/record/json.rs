//! Attribute values as text: a scalar as it is, everything else as plain JSON (numbers exact,
//! binary as its base64 text), and an item's key as canonical JSON.

use std::borrow::Cow;

use super::{AttributeValue, Item, Text};

/// A value as text: scalars as they are, BOOL as true/false, everything else as JSON.
pub fn value_text(v: &AttributeValue<'_>) -> String {
    value_str(v).into_owned()
}

/// [`value_text`], borrowed where it can be: a scalar's own text, `true` or `false`; only a
/// container's JSON is made (the flattener asks this for every declared cell and key).
pub fn value_str<'v>(v: &'v AttributeValue<'_>) -> Cow<'v, str> {
    match v {
        AttributeValue::S(t) | AttributeValue::N(t) | AttributeValue::B(t) => Cow::Borrowed(t.as_str()),
        AttributeValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        other => {
            let mut s = String::new();
            write_json(other, &mut s);
            Cow::Owned(s)
        }
    }
}

/// `s` as a JSON string, escaped as serde_json escapes it. Most strings (every key of the
/// example table) need no escape and are copied between quotes; the others go to serde_json.
pub(crate) fn json_string(s: &str, out: &mut String) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

fn is_json_number(s: &str) -> bool {
    s.parse::<serde_json::Number>().is_ok()
}

/// `s` as a JSON number when it is one (DynamoDB's text, exact), else as a string.
pub(crate) fn json_number(s: &str, out: &mut String) {
    if is_json_number(s) {
        out.push_str(s);
    } else {
        json_string(s, out);
    }
}

/// Plain JSON of a value: maps → objects, lists and sets → arrays, numbers exact, binary as
/// base64 strings.
pub fn write_json(v: &AttributeValue<'_>, out: &mut String) {
    match v {
        AttributeValue::S(t) | AttributeValue::B(t) => json_string(t.as_str(), out),
        AttributeValue::N(t) => json_number(t.as_str(), out),
        AttributeValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        AttributeValue::Null => out.push_str("null"),
        AttributeValue::Ss(s) | AttributeValue::Bs(s) => {
            out.push('[');
            for (i, e) in s.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(e.as_str(), out);
            }
            out.push(']');
        }
        AttributeValue::Ns(s) => {
            out.push('[');
            for (i, e) in s.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_number(e.as_str(), out);
            }
            out.push(']');
        }
        AttributeValue::L(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(e, out);
            }
            out.push(']');
        }
        AttributeValue::M(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k.as_str(), out);
                out.push(':');
                write_json(e, out);
            }
            out.push('}');
        }
    }
}

/// The item key as canonical JSON: names sorted, values as text.
pub fn item_key_json(keys: &Item<'_>) -> String {
    let mut names: Vec<&(Text<'_>, AttributeValue<'_>)> = keys.iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = String::with_capacity(64);
    s.push('{');
    for (i, (k, v)) in names.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_string(k.as_str(), &mut s);
        s.push(':');
        json_string(&value_str(v), &mut s);
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::json_string;

    proptest! {
        /// Escaped or copied, a string is the JSON serde_json writes for it: any characters,
        /// quotes, backslashes and control characters among them.
        #[test]
        fn json_strings_are_serde_jsons(s in "(\\PC|[\"\\\\\u{0}-\u{1f}\u{7f}])*") {
            let mut out = String::from("x");
            json_string(&s, &mut out);
            prop_assert_eq!(out, format!("x{}", serde_json::to_string(&s).unwrap()));
        }
    }
}
