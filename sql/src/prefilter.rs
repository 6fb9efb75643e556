//! Filters the text scan tests on a line's decoded cells, so that a row no query could keep
//! never becomes Arrow: `col = 'text'`, `col IN ('a', 'b', …)` (or such equalities on one
//! column joined by OR) and `strpos(col, 'text') = 0` on a stored text column, and `col`
//! (`col = true`, `col IS TRUE`) on a stored boolean column. These are the shapes of the canned
//! questions' filters, such as popular_settings' `strpos(path, '[') = 0 AND type IN ('S', 'N',
//! 'BOOL')` and most_changed_settings' `event_name = 'MODIFY' AND changed`.
//!
//! The scan tells DataFusion these filters are exact: it tests every row it hands on, on the
//! column's cell whether the query reads that column or not, and DataFusion does not apply
//! them again. So a test must hold for exactly the rows whose filter is true: a row whose cell
//! fails it makes the filter false or NULL (a WHERE keeps only rows that make it true), and a
//! row whose cell passes makes it true. The cell is the decoded text the column's value is
//! made of; equality is byte for byte, as DataFusion compares strings; for valid UTF-8, a
//! byte match of a text is a match of its characters, which is what `strpos` finds. A NULL
//! cell fails every test (`NULL = 'x'`, `NULL IN (…)` and `strpos(NULL, 'x') = 0` are NULL).

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

/// What one cell must be for its row to pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CellTest {
    /// One of these texts, byte for byte (`=`, `IN`).
    OneOf(Vec<Vec<u8>>),
    /// Without this text in it (`strpos(col, text) = 0`; the text is not empty).
    Lacks(Vec<u8>),
    /// A boolean cell that reads as true (`col`, `col = true`, `col IS TRUE`).
    True,
}

/// A test on the cell of one stored column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowTest {
    /// The column's place in the table's schema.
    pub column: usize,
    pub test: CellTest,
}

impl RowTest {
    /// The test `filter` makes on one of the first `stored` columns of `schema` (the ones the
    /// objects hold), when that column is text and the filter has one of the shapes above.
    pub(crate) fn from_filter(filter: &Expr, schema: &Schema, stored: usize) -> Option<RowTest> {
        let text_column = |e: &Expr| -> Option<usize> {
            let Expr::Column(c) = e else { return None };
            let i = schema.index_of(&c.name).ok()?;
            (i < stored && schema.field(i).data_type() == &DataType::Utf8).then_some(i)
        };
        let boolean_column = |e: &Expr| -> Option<usize> {
            let Expr::Column(c) = e else { return None };
            let i = schema.index_of(&c.name).ok()?;
            (i < stored && schema.field(i).data_type() == &DataType::Boolean).then_some(i)
        };
        let is_true = |column: usize| Some(RowTest { column, test: CellTest::True });
        match filter {
            Expr::Column(_) => is_true(boolean_column(filter)?),
            Expr::IsTrue(e) => is_true(boolean_column(e)?),
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => {
                for (a, b) in [(left, right), (right, left)] {
                    if let (Some(column), Expr::Literal(ScalarValue::Boolean(Some(true)), _)) =
                        (boolean_column(a), b.as_ref())
                    {
                        return is_true(column);
                    }
                    if let (Some(column), Some(text)) = (text_column(a), text_literal(b)) {
                        return Some(RowTest { column, test: CellTest::OneOf(vec![text]) });
                    }
                    if is_zero(b) {
                        if let Some((column, text)) = strpos_of(a).and_then(|(c, t)| Some((text_column(c)?, t))) {
                            return (!text.is_empty()).then_some(RowTest { column, test: CellTest::Lacks(text) });
                        }
                    }
                }
                None
            }
            // DataFusion writes a short IN list as equalities joined by OR.
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
                let (a, b) = (Self::from_filter(left, schema, stored)?, Self::from_filter(right, schema, stored)?);
                match (a.test, b.test) {
                    (CellTest::OneOf(mut texts), CellTest::OneOf(more)) if a.column == b.column => {
                        texts.extend(more);
                        Some(RowTest { column: a.column, test: CellTest::OneOf(texts) })
                    }
                    _ => None,
                }
            }
            Expr::InList(in_list) if !in_list.negated => {
                let column = text_column(&in_list.expr)?;
                let texts = in_list.list.iter().map(text_literal).collect::<Option<Vec<_>>>()?;
                Some(RowTest { column, test: CellTest::OneOf(texts) })
            }
            _ => None,
        }
    }

    /// Whether a row whose cell of [`RowTest::column`] is `cell` (decoded; `None` for NULL)
    /// can pass the filter.
    pub(crate) fn passes(&self, cell: Option<&[u8]>) -> bool {
        let Some(cell) = cell else { return false };
        match &self.test {
            CellTest::OneOf(texts) => texts.iter().any(|t| t.as_slice() == cell),
            // One byte (popular_settings' "["): memchr, which a cell this short costs less
            // than memmem's set-up.
            CellTest::Lacks(text) => match text.as_slice() {
                [byte] => memchr::memchr(*byte, cell).is_none(),
                _ => memchr::memmem::find(cell, text).is_none(),
            },
            CellTest::True => crate::columns::boolean_cell(cell) == Some(true),
        }
    }
}

/// A non-NULL text literal's bytes.
fn text_literal(e: &Expr) -> Option<Vec<u8>> {
    let Expr::Literal(value, _) = e else { return None };
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => {
            Some(s.as_bytes().to_vec())
        }
        _ => None,
    }
}

/// Whether `e` is the integer literal 0.
fn is_zero(e: &Expr) -> bool {
    let Expr::Literal(value, _) = e else { return false };
    matches!(
        value,
        ScalarValue::Int8(Some(0))
            | ScalarValue::Int16(Some(0))
            | ScalarValue::Int32(Some(0))
            | ScalarValue::Int64(Some(0))
            | ScalarValue::UInt8(Some(0))
            | ScalarValue::UInt16(Some(0))
            | ScalarValue::UInt32(Some(0))
            | ScalarValue::UInt64(Some(0))
    )
}

/// `strpos(expr, 'text')`, maybe cast to another integer type: the expression and the text.
fn strpos_of(e: &Expr) -> Option<(&Expr, Vec<u8>)> {
    let e = match e {
        Expr::Cast(cast) if cast.field.data_type().is_integer() => cast.expr.as_ref(),
        other => other,
    };
    let Expr::ScalarFunction(f) = e else { return None };
    if f.func.name() != "strpos" {
        return None;
    }
    match f.args.as_slice() {
        [haystack, needle] => Some((haystack, text_literal(needle)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;
    use datafusion::prelude::{col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("path", DataType::Utf8, true),
            Field::new("type", DataType::Utf8, true),
            Field::new("size_bytes", DataType::Int64, true),
            Field::new("changed", DataType::Boolean, true),
            Field::new("dt", DataType::Utf8, true),
        ])
    }

    fn strpos(e: Expr, needle: &str) -> Expr {
        datafusion::functions::unicode::expr_fn::strpos(e, lit(needle))
    }

    #[test]
    fn the_shapes_it_knows_become_tests() {
        let s = schema();
        let test = |e: Expr| RowTest::from_filter(&e, &s, 4);
        assert_eq!(
            test(col("type").eq(lit("S"))),
            Some(RowTest { column: 1, test: CellTest::OneOf(vec![b"S".to_vec()]) })
        );
        assert_eq!(
            test(lit("S").eq(col("type"))),
            Some(RowTest { column: 1, test: CellTest::OneOf(vec![b"S".to_vec()]) })
        );
        assert_eq!(
            test(col("type").in_list(vec![lit("S"), lit("BOOL")], false)),
            Some(RowTest { column: 1, test: CellTest::OneOf(vec![b"S".to_vec(), b"BOOL".to_vec()]) })
        );
        assert_eq!(
            test(col("type").eq(lit("S")).or(col("type").eq(lit("N")).or(lit("BOOL").eq(col("type"))))),
            Some(RowTest { column: 1, test: CellTest::OneOf(vec![b"S".to_vec(), b"N".to_vec(), b"BOOL".to_vec()]) })
        );
        assert_eq!(
            test(strpos(col("path"), "[").eq(lit(0i64))),
            Some(RowTest { column: 0, test: CellTest::Lacks(b"[".to_vec()) })
        );
        assert_eq!(
            test(lit(0i32).eq(strpos(col("path"), "["))),
            Some(RowTest { column: 0, test: CellTest::Lacks(b"[".to_vec()) })
        );
        let changed = Some(RowTest { column: 3, test: CellTest::True });
        assert_eq!(test(col("changed")), changed);
        assert_eq!(test(col("changed").eq(lit(true))), changed);
        assert_eq!(test(lit(true).eq(col("changed"))), changed);
        assert_eq!(test(col("changed").is_true()), changed);
    }

    #[test]
    fn other_shapes_are_left_to_datafusion() {
        let s = schema();
        let test = |e: Expr| RowTest::from_filter(&e, &s, 4);
        // Negations, other operators, other positions, an empty needle (strpos is then 1).
        assert_eq!(test(col("type").not_eq(lit("S"))), None);
        assert_eq!(test(col("type").in_list(vec![lit("S")], true)), None);
        assert_eq!(test(strpos(col("path"), "[").eq(lit(1i64))), None);
        assert_eq!(test(strpos(col("path"), "").eq(lit(0i64))), None);
        // A list with a non-text or NULL item, a NULL literal.
        assert_eq!(test(col("type").in_list(vec![lit("S"), lit(1i64)], false)), None);
        assert_eq!(test(col("type").eq(lit(ScalarValue::Utf8(None)))), None);
        // A column that is not text, one the objects do not hold (dt), one not in the table.
        assert_eq!(test(col("size_bytes").eq(lit("1"))), None);
        assert_eq!(test(col("dt").eq(lit("2026-11-01"))), None);
        assert_eq!(test(col("nope").eq(lit("S"))), None);
        // A boolean column tested for anything but true; a text column as a predicate.
        assert_eq!(test(col("changed").eq(lit(false))), None);
        assert_eq!(test(col("changed").is_not_true()), None);
        assert_eq!(test(!col("changed")), None);
        assert_eq!(test(col("changed").eq(lit("true"))), None);
        assert_eq!(test(col("path")), None);
        assert_eq!(test(col("path").is_true()), None);
        // Two columns; an OR of tests on two columns, or of a test and something else.
        assert_eq!(test(col("type").eq(col("path"))), None);
        assert_eq!(test(col("type").eq(lit("S")).or(col("path").eq(lit("S")))), None);
        assert_eq!(test(col("type").eq(lit("S")).or(strpos(col("type"), "[").eq(lit(0i64)))), None);
        assert_eq!(test(col("type").eq(lit("S")).or(col("size_bytes").gt(lit(1i64)))), None);
    }

    #[test]
    fn a_cell_passes_only_what_the_filter_could_keep() {
        let one_of = RowTest { column: 1, test: CellTest::OneOf(vec![b"S".to_vec(), b"".to_vec()]) };
        assert!(one_of.passes(Some(b"S")));
        assert!(one_of.passes(Some(b"")));
        assert!(!one_of.passes(Some(b"SS")));
        assert!(!one_of.passes(Some(b"s")));
        assert!(!one_of.passes(None));
        let lacks = RowTest { column: 0, test: CellTest::Lacks("[é".as_bytes().to_vec()) };
        assert!(lacks.passes(Some(b"settings.a")));
        assert!(lacks.passes(Some("a[e".as_bytes())));
        assert!(!lacks.passes(Some("mappings[é]".as_bytes())));
        assert!(!lacks.passes(None));
        let lacks_byte = RowTest { column: 0, test: CellTest::Lacks(b"[".to_vec()) };
        assert!(lacks_byte.passes(Some(b"settings.a")));
        assert!(lacks_byte.passes(Some(b"")));
        assert!(!lacks_byte.passes(Some(b"mappings[3].id")));
        assert!(!lacks_byte.passes(Some(b"[")));
        assert!(!lacks_byte.passes(None));
        // As the scan reads a boolean cell: `true` in any case; `false`, other text and NULL fail.
        let is_true = RowTest { column: 3, test: CellTest::True };
        for (cell, passes) in [(Some(&b"true"[..]), true), (Some(b"TRUE"), true), (Some(b"True"), true)]
            .into_iter()
            .chain([(Some(&b"false"[..]), false), (Some(b"1"), false), (Some(b" true"), false), (Some(b""), false)])
            .chain([(None, false)])
        {
            assert_eq!(is_true.passes(cell), passes, "{cell:?}");
            assert_eq!(crate::columns::boolean_cell(cell.unwrap_or(b"\\N")) == Some(true), passes, "{cell:?}");
        }
    }
}
