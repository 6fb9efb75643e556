//! Printing answers: an aligned table (with a bar chart for questions that rank things),
//! RFC 4180 CSV with a header, or JSON.
//!
//! Called by `ddb-lake sql run|query` and `ddb-lake demo`.

use std::fmt::Write as _;

use crate::local::Answer;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// RFC 4180 CSV with a header row; NULL is an empty field.
    Csv,
    /// A JSON array of objects; NULL is `null`.
    Json,
}

/// Widest bar, in characters.
const BAR_WIDTH: usize = 30;

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.parse::<f64>().is_ok()
}

/// Renders `answer`; `chart` names a numeric column to draw as bars (table format only).
pub fn render(answer: &Answer, format: Format, chart: Option<&str>) -> String {
    match format {
        Format::Table => table(answer, chart),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record(&answer.columns);
            for r in &answer.rows {
                let _ = w.write_record(r.iter().map(|v| v.as_deref().unwrap_or("")));
            }
            String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
        }
        Format::Json => {
            let rows: Vec<serde_json::Value> = answer
                .rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        answer
                            .columns
                            .iter()
                            .cloned()
                            .zip(r.iter().map(|v| v.clone().map_or(serde_json::Value::Null, serde_json::Value::String)))
                            .collect(),
                    )
                })
                .collect();
            serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
        }
    }
}

/// A value as a terminal shows it safely: control characters (C0, DEL, C1) and the bidi
/// controls that reorder what a terminal shows are written as visible escapes (`\x1b`,
/// `\t`, `\n`, `\r`, `\u{202e}`) and a backslash as `\\`, so a stored value cannot clear the
/// screen, move the cursor or disguise the text around it. Only the table format does this;
/// CSV and JSON stay byte-exact.
fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn table(answer: &Answer, chart: Option<&str>) -> String {
    let cell = |v: &Option<String>| v.as_deref().map(visible).unwrap_or_else(|| "NULL".into());
    let mut widths: Vec<usize> = answer.columns.iter().map(|c| visible(c).chars().count()).collect();
    for r in &answer.rows {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell(v).chars().count().min(60));
        }
    }
    let numeric: Vec<bool> = (0..answer.columns.len())
        .map(|i| !answer.rows.is_empty() && answer.rows.iter().all(|r| r[i].as_deref().is_none_or(is_number)))
        .collect();
    let chart_col = chart.and_then(|c| answer.columns.iter().position(|n| n == c)).filter(|&i| numeric[i]);
    let max = chart_col
        .map(|i| answer.rows.iter().filter_map(|r| r[i].as_deref()?.parse::<f64>().ok()).fold(0.0, f64::max))
        .unwrap_or(0.0);
    let mut out = String::new();
    let line = |out: &mut String, values: Vec<String>, bar: Option<String>| {
        let mut parts = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let shown: String =
                if v.chars().count() > 60 { v.chars().take(59).chain(['…']).collect() } else { v.clone() };
            let pad = widths[i].saturating_sub(shown.chars().count());
            parts.push(if numeric[i] {
                format!("{}{shown}", " ".repeat(pad))
            } else {
                format!("{shown}{}", " ".repeat(pad))
            });
        }
        let mut l = parts.join("  ");
        if let Some(b) = bar {
            l.push_str("  ");
            l.push_str(&b);
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    line(&mut out, answer.columns.iter().map(|c| visible(c)).collect(), None);
    line(&mut out, widths.iter().map(|w| "─".repeat(*w)).collect(), None);
    for r in &answer.rows {
        let bar = chart_col.map(|i| {
            let v = r[i].as_deref().and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
            let n = if max > 0.0 { ((v / max) * BAR_WIDTH as f64).round() as usize } else { 0 };
            "█".repeat(n.max(usize::from(v > 0.0)))
        });
        line(&mut out, r.iter().map(cell).collect(), bar);
    }
    let _ = writeln!(out, "({} row{})", answer.rows.len(), if answer.rows.len() == 1 { "" } else { "s" });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Answer {
        Answer {
            columns: vec!["field_id".into(), "n".into()],
            rows: vec![vec![Some("summary".into()), Some("10".into())], vec![Some("a,\"b\"\nc".into()), None]],
        }
    }

    #[test]
    fn formats() {
        let t = render(&answer(), Format::Table, Some("n"));
        assert!(t.lines().nth(2).unwrap().ends_with(&"█".repeat(30)), "{t}");
        assert!(t.contains("NULL") && t.ends_with("(2 rows)\n"), "{t}");
        let c = render(&answer(), Format::Csv, None);
        assert_eq!(c, "field_id,n\nsummary,10\n\"a,\"\"b\"\"\nc\",\n");
        let j: serde_json::Value = serde_json::from_str(&render(&answer(), Format::Json, None)).unwrap();
        assert_eq!(j[1]["n"], serde_json::Value::Null);
    }

    #[test]
    fn table_output_shows_control_characters_and_never_writes_them() {
        let value = "\u{1b}[2J\u{1b}[Hgone\rback\ttab\\ \u{7}\u{9b}31m \u{202e}txt.exe";
        let a = Answer { columns: vec!["v".into()], rows: vec![vec![Some(value.into())]] };
        let t = render(&a, Format::Table, None);
        assert!(!t.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f), "a raw control byte: {t:?}");
        assert!(!t.contains('\u{9b}') && !t.contains('\u{202e}'), "{t:?}");
        assert_eq!(t.lines().nth(2).unwrap(), r"\x1b[2J\x1b[Hgone\rback\ttab\\ \x07\u{9b}31m \u{202e}txt.exe");
        // CSV and JSON keep the bytes.
        assert!(render(&a, Format::Csv, None).contains(value));
        let j: serde_json::Value = serde_json::from_str(&render(&a, Format::Json, None)).unwrap();
        assert_eq!(j[0]["v"], value);
    }
}
