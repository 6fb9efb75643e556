//! Lake columns as Arrow sees them: a Glue column type's Arrow type, a table's Arrow schema
//! (its columns, then `dt`), and one column's text values decoded into an Arrow array the way
//! Athena reads them (a value that does not parse as the column's type is NULL). Used by the
//! embedded engine to register tables ([`crate::local`]) and by the scan that decodes their
//! objects ([`crate::scan`]).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder, StringArray,
    StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ddb_lake_core::rowfmt::Cell;
use ddb_lake_glue_schema::definition::TableDefinition;

fn arrow_type(glue_type: &str) -> DataType {
    let t = glue_type.to_ascii_lowercase();
    match t.as_str() {
        "bigint" => DataType::Int64,
        "int" => DataType::Int32,
        "double" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "timestamp" => DataType::Timestamp(TimeUnit::Millisecond, None),
        _ => match t.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')).and_then(|r| r.split_once(',')) {
            Some((p, s)) => DataType::Decimal128(p.trim().parse().unwrap_or(38), s.trim().parse().unwrap_or(0)),
            None => DataType::Utf8,
        },
    }
}

/// The Arrow schema of a table: its columns, then `dt`.
pub fn table_schema(def: &TableDefinition) -> SchemaRef {
    let mut fields: Vec<Field> =
        def.storage_descriptor.columns.iter().map(|c| Field::new(&c.name, arrow_type(&c.kind), true)).collect();
    fields.extend(def.partition_keys.iter().map(|c| Field::new(&c.name, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = scale.max(0) as usize;
    if frac.len() > scale {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(frac.bytes()).chain(std::iter::repeat_n(b'0', scale - frac.len())) {
        v = v.checked_mul(10)?.checked_add((b - b'0') as i128)?;
    }
    Some(if neg { -v } else { v })
}

/// A timestamp cell as Athena reads it (`yyyy-mm-dd hh:mm:ss[.fffffffff]`), in milliseconds
/// since the epoch; `None` when it does not parse.
fn parse_timestamp(text: &str) -> Option<i64> {
    canonical_timestamp(text.as_bytes()).or_else(|| chrono_timestamp(text))
}

/// [`parse_timestamp`] by chrono's parser: every shape it takes.
fn chrono_timestamp(text: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc().timestamp_millis())
}

/// Days from 0001-01-01 (chrono's day 1 of the common era) to 1970-01-01.
const EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// [`parse_timestamp`] of the shape the lake writes, every field its full width: four-digit
/// year, two-digit month to second, then nothing or a dot and one to nine digits; `None` for
/// any other text (chrono's parser, which also takes the shapes around it, decides those).
/// chrono spent the most of a scan of `attributes` reading its format string again for every
/// cell (docs/performance.md).
fn canonical_timestamp(b: &[u8]) -> Option<i64> {
    use chrono::Datelike;
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let number =
        |digits: &[u8]| digits.iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')));
    let (year, month, day) = (number(&b[0..4])?, number(&b[5..7])?, number(&b[8..10])?);
    let (hour, minute, second) = (number(&b[11..13])?, number(&b[14..16])?, number(&b[17..19])?);
    let millis = match &b[19..] {
        [] => 0,
        // Digits past the third are dropped, as chrono's milliseconds drop them.
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            number(fraction)?;
            let first = &fraction[..fraction.len().min(3)];
            number(first)? * 10u32.pow(3 - first.len() as u32)
        }
        _ => return None,
    };
    // A leap second (60) is left to chrono.
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let days = i64::from(date.num_days_from_ce()) - EPOCH_DAYS_FROM_CE;
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(seconds * 1000 + i64::from(millis))
}

/// One column of a batch of rows → an Arrow array: `cells` are ranges of `text`, `None` for
/// NULL (unparseable values are NULL too, as in Athena). `None` when the text is not UTF-8
/// (or a string column's is too long for 32-bit offsets).
/// A `boolean` cell's value: `true` or `false` in any case, NULL for any other text (as Hive
/// reads it). The scan's test of a boolean filter reads a cell by this too
/// ([`crate::prefilter`]).
pub(crate) fn boolean_cell(text: &[u8]) -> Option<bool> {
    if text.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if text.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

pub(crate) fn column_array(kind: &DataType, text: &[u8], cells: &[Cell]) -> Option<ArrayRef> {
    if *kind == DataType::Utf8 {
        return string_array(text, cells);
    }
    let text = std::str::from_utf8(text).ok()?;
    let values = cells.iter().map(|cell| cell.map(|(a, b)| &text[a..b]));
    Some(match kind {
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(cells.len());
            values.for_each(|v| b.append_option(v.and_then(|t| t.trim().parse().ok())));
            Arc::new(b.finish())
        }
        DataType::Int32 => {
            let mut b = Int32Builder::with_capacity(cells.len());
            values.for_each(|v| b.append_option(v.and_then(|t| t.trim().parse().ok())));
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(cells.len());
            values.for_each(|v| b.append_option(v.and_then(|t| t.trim().parse().ok())));
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(cells.len());
            values.for_each(|v| b.append_option(v.and_then(|t| boolean_cell(t.as_bytes()))));
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, _) => {
            let mut b = TimestampMillisecondBuilder::with_capacity(cells.len());
            values.for_each(|v| b.append_option(v.and_then(parse_timestamp)));
            Arc::new(b.finish())
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::with_capacity(cells.len());
            values.for_each(|v| b.append_option(v.and_then(|t| parse_decimal(t, *s))));
            Arc::new(b.finish().with_precision_and_scale(*p, *s).unwrap_or_else(|_| Decimal128Builder::new().finish()))
        }
        _ => {
            let mut b = StringBuilder::with_capacity(cells.len(), text.len());
            values.for_each(|v| b.append_option(v));
            Arc::new(b.finish())
        }
    })
}

/// A string column of a batch as an Arrow array made from the column's decoded text at once
/// (one copy of the buffer, its offsets from the cells), where a builder copied each value on
/// its own; Arrow checks the text is UTF-8 and every offset a character boundary. `None`
/// when it is not, or when the text is too long for 32-bit offsets.
fn string_array(text: &[u8], cells: &[Cell]) -> Option<ArrayRef> {
    let mut offsets = Vec::with_capacity(cells.len() + 1);
    offsets.push(0i32);
    let mut end = 0;
    for cell in cells {
        if let Some((a, b)) = *cell {
            debug_assert_eq!(a, end, "the cells lie one after another");
            end = b;
        }
        offsets.push(i32::try_from(end).ok()?);
    }
    let nulls = cells.iter().any(Option::is_none).then(|| NullBuffer::from_iter(cells.iter().map(Option::is_some)));
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    let array = StringArray::try_new(offsets, Buffer::from_slice_ref(&text[..end]), nulls).ok()?;
    Some(Arc::new(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_like_the_serde() {
        assert_eq!(
            parse_decimal("-12345678901234567890123456789012345678", 0),
            Some(-12345678901234567890123456789012345678)
        );
        assert_eq!(parse_decimal("1.50", 2), Some(150));
        assert_eq!(parse_decimal("1.505", 2), None);
        assert_eq!(parse_decimal("abc", 0), None);
        assert_eq!(parse_timestamp("2026-11-02 10:00:00.250"), Some(1_793_613_600_250));
        assert_eq!(parse_timestamp("2026-11-02 10:00:00"), Some(1_793_613_600_000));
        assert_eq!(parse_timestamp("2026-11-02 10:00:00.2"), Some(1_793_613_600_200));
        assert_eq!(parse_timestamp("2026-11-02 10:00:00.123456789"), Some(1_793_613_600_123));
        assert_eq!(parse_timestamp("2026-02-30 10:00:00"), None);
        assert_eq!(parse_timestamp("2026-11-02 24:00:00"), None);
        let a = column_array(&DataType::Int64, b"5x", &[Some((0, 1)), Some((1, 2)), None]).unwrap();
        assert_eq!((a.null_count(), a.len()), (2, 3));
    }

    #[test]
    fn a_string_column_is_its_text_and_offsets() {
        use datafusion::arrow::array::{Array, AsArray};
        // "ab", NULL, "", "é" lie one after another in the text.
        let text = "abé".as_bytes();
        let a = string_array(text, &[Some((0, 2)), None, Some((2, 2)), Some((2, 4))]).unwrap();
        let a = a.as_string::<i32>();
        assert_eq!(a.len(), 4);
        assert_eq!((a.value(0), a.is_null(1), a.value(2), a.value(3)), ("ab", true, "", "é"));
        assert_eq!(a.null_count(), 1);
        // A cell that ends inside a character, though the text as a whole is UTF-8.
        assert!(string_array(text, &[Some((0, 3)), Some((3, 4))]).is_none());
        assert!(string_array(&[b'a', 0xff], &[Some((0, 2))]).is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Every time chrono can write with four-digit years, with 0 to 9 fraction digits,
        /// reads back as chrono reads it.
        #[test]
        fn canonical_timestamps_read_as_chrono_reads_them(
            millis in -62_135_596_800_000i64..253_402_300_800_000,
            nanos in 0u32..1_000_000,
            digits in 0usize..=9,
        ) {
            let t = chrono::DateTime::from_timestamp_millis(millis).unwrap().naive_utc()
                + chrono::Duration::nanoseconds(i64::from(nanos));
            let mut text = t.format("%Y-%m-%d %H:%M:%S").to_string();
            if digits > 0 {
                let fraction = format!("{:09}", t.and_utc().timestamp_subsec_nanos());
                text.push('.');
                text.push_str(&fraction[..digits]);
            }
            proptest::prop_assert!(canonical_timestamp(text.as_bytes()).is_some(), "{}", text);
            proptest::prop_assert_eq!(parse_timestamp(&text), chrono_timestamp(&text), "{}", text);
        }

        /// Any text near that shape (a character changed, cut or added) reads as chrono reads it.
        #[test]
        fn other_cells_read_as_chrono_reads_them(
            millis in -62_135_596_800_000i64..253_402_300_800_000,
            at in 0usize..24,
            with in proptest::prop_oneof![
                proptest::char::range('0', '9'),
                proptest::prop_oneof![proptest::strategy::Just(' '), proptest::strategy::Just(':'),
                    proptest::strategy::Just('-'), proptest::strategy::Just('.'), proptest::strategy::Just('+'),
                    proptest::strategy::Just('é')],
            ],
            edit in 0u8..3,
        ) {
            let t = chrono::DateTime::from_timestamp_millis(millis).unwrap().naive_utc();
            let mut text: Vec<char> = t.format("%Y-%m-%d %H:%M:%S%.3f").to_string().chars().collect();
            let at = at.min(text.len());
            match edit {
                0 if at < text.len() => text[at] = with,
                1 => text.insert(at, with),
                _ => text.truncate(at),
            }
            let text: String = text.into_iter().collect();
            proptest::prop_assert_eq!(parse_timestamp(&text), chrono_timestamp(&text), "{}", text);
        }
    }
}
