//! Attribute values as DynamoDB sends them, decoded without loss: [`Text`] (borrowed from the
//! event text when it holds no JSON escapes), [`AttributeValue`] (numbers as their decimal
//! text, binary as its base64 text, both checked) and [`Item`] (a map in event order, looked
//! up by name through [`ByName`] when it is wide). Stream records ([`super::StreamRecord`]) and
//! export items are made of them.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A string borrowed from the event text when it holds no JSON escapes, owned otherwise.
#[derive(Debug, Clone, Eq, PartialOrd, Ord)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        same_str(self.as_str(), other.as_str())
    }
}

impl std::hash::Hash for Text<'_> {
    /// As the string hashes (equal texts are equal strings).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

/// Whether `a` and `b` are the same string. Attribute names and most values are short, and
/// the lookups by name and a MODIFY's comparisons ask this hundreds of thousands of times a
/// batch: up to 16 bytes are compared in at most two overlapping words each, in line,
/// instead of a call to `memcmp` (its calls were 4% of a perf profile's samples with the
/// example spec, four fifths of them from these).
#[inline]
pub(crate) fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    #[inline(always)]
    fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
        s[at..at + N].try_into().unwrap_or([0; N])
    }
    let word4 = |s: &[u8], at: usize| u32::from_ne_bytes(word(s, at));
    let word8 = |s: &[u8], at: usize| u64::from_ne_bytes(word(s, at));
    match n {
        0 => true,
        // The first, middle and last bytes are all the bytes.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// One DynamoDB attribute value, exactly as the stream carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue<'a> {
    /// `S`: a string (may be empty).
    S(Text<'a>),
    /// `N`: a number as DynamoDB's decimal text (up to 38 significant digits).
    N(Text<'a>),
    /// `B`: binary, as the base64 text of the event (validated standard base64).
    B(Text<'a>),
    /// `SS`: a string set, in the order the event lists it.
    Ss(Vec<Text<'a>>),
    /// `NS`: a number set.
    Ns(Vec<Text<'a>>),
    /// `BS`: a binary set (base64 texts).
    Bs(Vec<Text<'a>>),
    /// `M`: a map, in the order the event lists it.
    M(Item<'a>),
    /// `L`: a list.
    L(Vec<AttributeValue<'a>>),
    /// `NULL`.
    Null,
    /// `BOOL`.
    Bool(bool),
}

impl AttributeValue<'_> {
    /// The DynamoDB type descriptor: `S`, `N`, `B`, `SS`, `NS`, `BS`, `M`, `L`, `NULL`, `BOOL`.
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
            AttributeValue::M(_) => "M",
            AttributeValue::L(_) => "L",
            AttributeValue::Null => "NULL",
            AttributeValue::Bool(_) => "BOOL",
        }
    }

    /// The text of a scalar (`S`, `N`, `B` as base64), `None` for anything else.
    pub fn scalar_text(&self) -> Option<&str> {
        match self {
            AttributeValue::S(t) | AttributeValue::N(t) | AttributeValue::B(t) => Some(t.as_str()),
            _ => None,
        }
    }
}

/// An item (or a map value): attribute names and values in event order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item<'a>(Vec<(Text<'a>, AttributeValue<'a>)>);

impl<'a> Item<'a> {
    /// The empty item.
    pub const EMPTY: Item<'static> = Item(Vec::new());

    /// An item of these attributes, in this order.
    pub fn new(entries: Vec<(Text<'a>, AttributeValue<'a>)>) -> Self {
        Item(entries)
    }

    /// The value of the attribute called `name`, if present (the first, should an event
    /// repeat a name). A scan: for many lookups into one item, use [`Item::by_name`].
    pub fn get(&self, name: &str) -> Option<&AttributeValue<'a>> {
        self.0.iter().find(|(n, _)| same_str(n.as_str(), name)).map(|(_, v)| v)
    }

    /// Lookups by name for many names: a binary search when the map is large. An item may
    /// hold tens of thousands of top-level attributes within DynamoDB's 400 KB, and the
    /// flattener looks every attribute of a MODIFY's new image up in its old image.
    pub fn by_name(&self) -> ByName<'_, 'a> {
        let mut sorted = Vec::new();
        let mut repeats = false;
        if self.0.len() > ByName::SCAN_UP_TO {
            let name = |i: u32| self.0[i as usize].0.as_str();
            sorted = (0..self.0.len() as u32).collect();
            // Stable: the first of a repeated name comes first.
            sorted.sort_by(|&a, &b| name(a).cmp(name(b)));
            repeats = sorted.windows(2).any(|w| name(w[0]) == name(w[1]));
        }
        ByName { item: self, sorted, repeats }
    }

    /// The attributes, in event order.
    pub fn iter(&self) -> std::slice::Iter<'_, (Text<'a>, AttributeValue<'a>)> {
        self.0.iter()
    }

    /// How many attributes the item has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the item has no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An item's attributes by name ([`Item::by_name`]).
#[derive(Debug)]
pub struct ByName<'i, 'a> {
    item: &'i Item<'a>,
    /// Positions sorted by name; empty for a small map, which is scanned.
    sorted: Vec<u32>,
    /// Whether a name of a sorted map comes twice.
    repeats: bool,
}

impl<'i, 'a> ByName<'i, 'a> {
    /// Maps of at most this many attributes are scanned.
    pub const SCAN_UP_TO: usize = 16;

    /// The value of the attribute called `name` (the first, should an event repeat a name).
    pub fn get(&self, name: &str) -> Option<&'i AttributeValue<'a>> {
        let entries = &self.item.0;
        if self.sorted.is_empty() {
            return self.item.get(name);
        }
        let at = self.sorted.partition_point(|&i| entries[i as usize].0.as_str() < name);
        let (n, v) = &entries[*self.sorted.get(at)? as usize];
        same_str(n.as_str(), name).then_some(v)
    }

    /// [`ByName::get`], looking first at position `at`: where a map with the same names in
    /// the same order has it, as an item's new and old images of a MODIFY usually do. One
    /// comparison instead of a binary search's several (these lookups were 4% of the
    /// normalizer's instructions); a small map is scanned as by `get`.
    pub fn get_at(&self, at: usize, name: &str) -> Option<&'i AttributeValue<'a>> {
        if !self.sorted.is_empty() && !self.repeats {
            if let Some((n, v)) = self.item.0.get(at) {
                if same_str(n.as_str(), name) {
                    return Some(v);
                }
            }
        }
        self.get(name)
    }
}

impl<'i, 'a> IntoIterator for &'i Item<'a> {
    type Item = &'i (Text<'a>, AttributeValue<'a>);
    type IntoIter = std::slice::Iter<'i, (Text<'a>, AttributeValue<'a>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Item<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = Item<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of attribute names to DynamoDB attribute values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Item::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((name, value)) = map.next_entry::<Text<'de>, AttributeValue<'de>>()? {
                    entries.push((name, value));
                }
                Ok(Item::new(entries))
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}

/// A list of values that must all be strings (the elements of a set).
struct TextList<'a>(Vec<Text<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for TextList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = TextList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(t) = seq.next_element::<Text<'de>>()? {
                    out.push(t);
                }
                Ok(TextList(out))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}

/// A list of attribute values (`L`).
struct ValueList<'a>(Vec<AttributeValue<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for ValueList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = ValueList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of DynamoDB attribute values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(v) = seq.next_element::<AttributeValue<'de>>()? {
                    out.push(v);
                }
                Ok(ValueList(out))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}

pub(super) fn check_number<E: de::Error>(t: &Text<'_>) -> Result<(), E> {
    if ddb_lake_core::number::is_dynamodb_number(t.as_str()) {
        Ok(())
    } else {
        Err(E::custom(format_args!(
            "`{}` is not a DynamoDB number (N must be decimal text such as 12, -0.5 or 1.5E+3)",
            crate::record::clip(t.as_str())
        )))
    }
}

pub(super) fn check_base64<E: de::Error>(t: &Text<'_>) -> Result<(), E> {
    // Decoding is the only complete check; binary values are rare and small.
    base64::engine::general_purpose::STANDARD
        .decode(t.as_str())
        .map(|_| ())
        .map_err(|e| E::custom(format_args!("binary value is not standard base64: {e}")))
}

/// Shortens a value for an error message (errors never carry whole item values).
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for AttributeValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = AttributeValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a DynamoDB attribute value such as {\"S\": \"text\"}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let Some(tag) = map.next_key::<Text<'de>>()? else {
                    return Err(de::Error::custom("empty attribute value {}: expected one type key such as \"S\""));
                };
                let value = match tag.as_str() {
                    "S" => AttributeValue::S(map.next_value()?),
                    "N" => {
                        let t: Text<'de> = map.next_value()?;
                        check_number(&t)?;
                        AttributeValue::N(t)
                    }
                    "B" => {
                        let t: Text<'de> = map.next_value()?;
                        check_base64(&t)?;
                        AttributeValue::B(t)
                    }
                    "SS" => AttributeValue::Ss(map.next_value::<TextList<'de>>()?.0),
                    "NS" => {
                        let l = map.next_value::<TextList<'de>>()?.0;
                        for t in &l {
                            check_number(t)?;
                        }
                        AttributeValue::Ns(l)
                    }
                    "BS" => {
                        let l = map.next_value::<TextList<'de>>()?.0;
                        for t in &l {
                            check_base64(t)?;
                        }
                        AttributeValue::Bs(l)
                    }
                    "M" => AttributeValue::M(map.next_value()?),
                    "L" => AttributeValue::L(map.next_value::<ValueList<'de>>()?.0),
                    "NULL" => {
                        let _: bool = map.next_value()?;
                        AttributeValue::Null
                    }
                    "BOOL" => AttributeValue::Bool(map.next_value()?),
                    other => {
                        return Err(de::Error::custom(format_args!(
                        "unknown DynamoDB attribute type `{}` (expected one of S, N, B, SS, NS, BS, M, L, NULL, BOOL)",
                        clip(other)
                    )))
                    }
                };
                if let Some(extra) = map.next_key::<Text<'de>>()? {
                    return Err(de::Error::custom(format_args!(
                        "attribute value has two type keys `{}` and `{}`; exactly one is allowed",
                        tag.as_str(),
                        clip(extra.as_str())
                    )));
                }
                Ok(value)
            }
        }
        deserializer.deserialize_map(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::same_str;

    proptest! {
        /// `same_str` is `==`: for equal strings, for strings one byte apart at any position
        /// of any length up to 40, and for unrelated ones.
        #[test]
        fn same_str_is_equality(a in "[a-c\u{e9}]{0,40}", at in any::<prop::sample::Index>(), other in "[a-c]{0,40}") {
            prop_assert!(same_str(&a, &a.clone()));
            prop_assert_eq!(same_str(&a, &other), a == other);
            let mut changed = a.clone().into_bytes();
            if !changed.is_empty() {
                let i = at.index(changed.len());
                changed[i] ^= 0x01;
                if let Ok(changed) = String::from_utf8(changed) {
                    prop_assert!(!same_str(&a, &changed), "{:?} and {:?}", a, changed);
                }
            }
        }
    }
}
