//! Lake columns as Arrow sees them: a Glue column type's Arrow type, a table's Arrow schema
//! (its columns, then `dt`), and one column's text values decoded into an Arrow array the way
//! Athena reads them (a value that does not parse as the column's type is NULL). Used by the
//! embedded engine to register tables ([`crate::local`]) and by the scan that decodes their
//! objects ([`crate::scan`]).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
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

fn parse_timestamp(text: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc().timestamp_millis())
}

/// One column's values → an Arrow array (unparseable values are NULL, as in Athena).
pub(crate) fn column_array(kind: &DataType, values: &[Option<&str>]) -> ArrayRef {
    match kind {
        DataType::Int64 => {
            let mut b = Int64Builder::new();
            values.iter().for_each(|v| b.append_option(v.and_then(|t| t.trim().parse().ok())));
            Arc::new(b.finish())
        }
        DataType::Int32 => {
            let mut b = Int32Builder::new();
            values.iter().for_each(|v| b.append_option(v.and_then(|t| t.trim().parse().ok())));
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::new();
            values.iter().for_each(|v| b.append_option(v.and_then(|t| t.trim().parse().ok())));
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::new();
            values.iter().for_each(|v| {
                b.append_option(v.and_then(|t| {
                    if t.eq_ignore_ascii_case("true") {
                        Some(true)
                    } else if t.eq_ignore_ascii_case("false") {
                        Some(false)
                    } else {
                        None
                    }
                }))
            });
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, _) => {
            let mut b = TimestampMillisecondBuilder::new();
            values.iter().for_each(|v| b.append_option(v.and_then(parse_timestamp)));
            Arc::new(b.finish())
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::new();
            values.iter().for_each(|v| b.append_option(v.and_then(|t| parse_decimal(t, *s))));
            Arc::new(b.finish().with_precision_and_scale(*p, *s).unwrap_or_else(|_| Decimal128Builder::new().finish()))
        }
        _ => {
            let mut b = StringBuilder::new();
            values.iter().for_each(|v| b.append_option(*v));
            Arc::new(b.finish())
        }
    }
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
        let a = column_array(&DataType::Int64, &[Some("5"), Some("x"), None]);
        assert_eq!((a.null_count(), a.len()), (2, 3));
    }
}
