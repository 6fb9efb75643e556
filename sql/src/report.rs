//! Answers as one self-contained HTML page (`ddb-lake report`): per question, a chart drawn
//! as inline SVG (horizontal bars for a ranking, lines for a per-day series), the question in
//! words, the table beneath; when and from what lake it was made. No script, no stylesheet or
//! font from elsewhere: the file opens offline, mailed or attached to a ticket, and every value
//! is escaped, so no answer can add markup.
//!
//! Which chart: the value is the column the question's header names for its bar chart
//! (`-- chart:`), else its first column after the first whose values are all numbers. A question whose first
//! column is the day (`dt`) and that has more than one day is a line per series (the other
//! text columns name the series); any other is a bar per row, labelled by its other columns.
//! Each chart has its own colour, so a screenshot tells which chart drew what.

use std::fmt::Write as _;

use crate::local::Answer;

/// One question's part of the report.
#[derive(Debug, Clone)]
pub struct Section<'a> {
    /// The question's name.
    pub name: &'a str,
    /// The question, in words.
    pub question: &'a str,
    /// Its version.
    pub version: u32,
    /// The parameters it ran with (name, value).
    pub params: Vec<(String, String)>,
    /// The column its header names for the chart, if any.
    pub chart: Option<&'a str>,
    /// The answer, or why there is none.
    pub answer: Result<Answer, String>,
}

/// What the report says about itself.
#[derive(Debug, Clone)]
pub struct Meta<'a> {
    /// The lake and engine, in words (e.g. `local lake ./lake, embedded engine`).
    pub source: &'a str,
    /// When it was made (RFC 3339, UTC).
    pub made_at: &'a str,
}

/// One colour per chart, in order (the screenshot test tells the charts apart by them).
pub const PALETTE: [&str; 12] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#0b3d91", "#6b8e23",
];

/// Width of a chart's drawing area, in CSS pixels.
pub const CHART_WIDTH: f64 = 560.0;
/// Height of one bar, in CSS pixels.
pub const BAR_HEIGHT: f64 = 16.0;
/// Width of the label column left of the bars.
const LABEL_WIDTH: f64 = 300.0;
/// Height of a line chart's drawing area.
const LINE_HEIGHT: f64 = 180.0;
/// Rows drawn at most (the table shows them all).
pub const MAX_BARS: usize = 25;

/// The chart a question's answer gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chart {
    /// One bar per row: `labels` columns name it, `value` sizes it.
    Bars {
        /// Columns joined into the bar's label.
        labels: Vec<usize>,
        /// The value column.
        value: usize,
    },
    /// One line per series over the days of column `x`.
    Lines {
        /// The day column.
        x: usize,
        /// Columns joined into the series' name.
        series: Vec<usize>,
        /// The value column.
        value: usize,
    },
    /// Nothing to draw (no numeric column, or no rows).
    None,
}

fn number(cell: &Option<String>) -> Option<f64> {
    cell.as_deref().and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite())
}

/// The chart for `answer`, given the header's chart column.
pub fn chart_for(answer: &Answer, hint: Option<&str>) -> Chart {
    if answer.rows.is_empty() {
        return Chart::None;
    }
    let numeric = |c: usize| answer.rows.iter().all(|r| r.get(c).is_some_and(|v| v.is_none() || number(v).is_some()));
    let value = hint
        .and_then(|h| answer.columns.iter().position(|c| c == h))
        .or_else(|| (1..answer.columns.len()).find(|&c| numeric(c)));
    let Some(value) = value else { return Chart::None };
    let others: Vec<usize> = (0..answer.columns.len()).filter(|&c| c != value).collect();
    let days: std::collections::BTreeSet<&str> =
        answer.rows.iter().filter_map(|r| r.first().and_then(|v| v.as_deref())).collect();
    if matches!(answer.columns.first().map(String::as_str), Some("dt" | "day")) && value != 0 && days.len() > 1 {
        let series = others.into_iter().filter(|&c| c != 0 && !numeric(c)).collect();
        return Chart::Lines { x: 0, series, value };
    }
    Chart::Bars { labels: others.into_iter().filter(|&c| !numeric(c) || c == 0).collect(), value }
}

/// `text` escaped for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars().take(max - 1).collect::<String>() + "…"
    }
}

fn label(row: &[Option<String>], columns: &[usize]) -> String {
    columns
        .iter()
        .map(|&c| row.get(c).cloned().flatten().unwrap_or_else(|| "NULL".into()))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The bar chart's SVG.
fn bars(answer: &Answer, labels: &[usize], value: usize, colour: &str) -> String {
    let rows: Vec<(String, f64, &str)> = answer
        .rows
        .iter()
        .take(MAX_BARS)
        .map(|r| (label(r, labels), number(&r[value]).unwrap_or(0.0), r[value].as_deref().unwrap_or("NULL")))
        .collect();
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let height = rows.len() as f64 * (BAR_HEIGHT + 4.0) + 4.0;
    let width = LABEL_WIDTH + CHART_WIDTH + 120.0;
    let mut svg = format!(
        "<svg class=\"chart bars\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" shape-rendering=\"crispEdges\" role=\"img\">\n"
    );
    for (i, (text, v, shown)) in rows.iter().enumerate() {
        let y = 4.0 + i as f64 * (BAR_HEIGHT + 4.0);
        let w = if max > 0.0 { (v.max(0.0) / max * CHART_WIDTH).round() } else { 0.0 };
        let _ = writeln!(
            svg,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{t}</text>\
             <rect class=\"bar\" x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{w}\" height=\"{BAR_HEIGHT}\" fill=\"{colour}\"/>\
             <text x=\"{vx}\" y=\"{ty}\">{s}</text>",
            lx = LABEL_WIDTH - 8.0,
            ty = y + BAR_HEIGHT - 3.0,
            t = escape(&shorten(text, 48)),
            vx = LABEL_WIDTH + w + 6.0,
            s = escape(shown),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The line chart's SVG: one polyline per series (dashed differently), a square per point.
fn lines(answer: &Answer, x: usize, series: &[usize], value: usize, colour: &str) -> String {
    let days: Vec<String> = answer
        .rows
        .iter()
        .filter_map(|r| r[x].clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut by_series: std::collections::BTreeMap<String, Vec<(usize, f64)>> = Default::default();
    for r in &answer.rows {
        let (Some(day), Some(v)) = (r[x].as_deref(), number(&r[value])) else { continue };
        let at = days.iter().position(|d| d == day).unwrap_or(0);
        by_series.entry(label(r, series)).or_default().push((at, v));
    }
    let max = by_series.values().flatten().map(|p| p.1).fold(0.0_f64, f64::max);
    let (left, top) = (60.0, 10.0);
    let legend = by_series.len().min(13) as f64 * 18.0;
    let (width, height) = (left + CHART_WIDTH + 20.0, top + LINE_HEIGHT + 40.0 + legend);
    let px = |i: usize| left + if days.len() > 1 { i as f64 * CHART_WIDTH / (days.len() - 1) as f64 } else { 0.0 };
    let py = |v: f64| top + LINE_HEIGHT - if max > 0.0 { v / max * LINE_HEIGHT } else { 0.0 };
    let mut svg = format!(
        "<svg class=\"chart lines\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" shape-rendering=\"crispEdges\" role=\"img\">\n\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#444\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" stroke=\"#444\"/>\
         <text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{m}</text><text x=\"{lx}\" y=\"{b}\" text-anchor=\"end\">0</text>\n",
        b = top + LINE_HEIGHT,
        r = left + CHART_WIDTH,
        lx = left - 6.0,
        ty = top + 10.0,
        m = escape(&format!("{max}")),
    );
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = writeln!(
            svg,
            "<text x=\"{left}\" y=\"{y}\">{}</text><text x=\"{r}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            escape(first),
            escape(last),
            y = top + LINE_HEIGHT + 16.0,
            r = left + CHART_WIDTH,
        );
    }
    const DASHES: [&str; 4] = ["", "6 3", "2 3", "8 3 2 3"];
    // At most LEGEND series are named; the others are drawn all the same.
    const LEGEND: usize = 12;
    for (n, (name, points)) in by_series.iter().enumerate() {
        let dash = DASHES[n % DASHES.len()];
        let path: Vec<String> = points.iter().map(|&(i, v)| format!("{:.1},{:.1}", px(i), py(v))).collect();
        let _ = writeln!(
            svg,
            "<polyline class=\"line\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\" points=\"{}\"/>",
            path.join(" ")
        );
        for &(i, v) in points {
            let _ = write!(
                svg,
                "<rect class=\"point\" x=\"{:.1}\" y=\"{:.1}\" width=\"6\" height=\"6\" fill=\"{colour}\"/>",
                px(i) - 3.0,
                py(v) - 3.0
            );
        }
        if n > LEGEND {
            continue;
        }
        let y = top + LINE_HEIGHT + 34.0 + n as f64 * 18.0;
        if n == LEGEND {
            let _ =
                writeln!(svg, "<text x=\"{left}\" y=\"{}\">… and {} more</text>", y + 4.0, by_series.len() - LEGEND);
            continue;
        }
        let _ = writeln!(
            svg,
            "\n<line x1=\"{left}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>\
             <text x=\"{tx}\" y=\"{ty}\">{}</text>",
            escape(&shorten(if name.is_empty() { "all" } else { name }, 60)),
            x2 = left + 30.0,
            tx = left + 38.0,
            ty = y + 4.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

fn table(answer: &Answer) -> String {
    let mut html = String::from("<table>\n<thead><tr>");
    for c in &answer.columns {
        let _ = write!(html, "<th>{}</th>", escape(c));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for r in &answer.rows {
        html.push_str("<tr>");
        for cell in r {
            match cell {
                None => html.push_str("<td class=\"null\">NULL</td>"),
                Some(v) if number(cell).is_some() => {
                    let _ = write!(html, "<td class=\"num\">{}</td>", escape(v));
                }
                Some(v) => {
                    let _ = write!(html, "<td>{}</td>", escape(v));
                }
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>");
    html
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 2px}p{margin:2px 0 8px}\
.meta,.params{color:#555}.chart{display:block;margin:8px 0}.chart text{font:12px sans-serif;fill:#222}\
table{border-collapse:collapse;margin:6px 0 12px}th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}\
td.num{text-align:right;font-variant-numeric:tabular-nums}td.null{color:#999}.error{color:#a00}\
section{border-top:1px solid #ddd}";

/// The whole page.
pub fn html(meta: &Meta<'_>, sections: &[Section<'_>]) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>ddb-lake report: {}</title>", escape(meta.source));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(out, "<h1>ddb-lake report</h1>");
    let _ = writeln!(
        out,
        "<p class=\"meta\">Made {} from {}: {} questions.</p>",
        escape(meta.made_at),
        escape(meta.source),
        sections.len()
    );
    for (i, s) in sections.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let _ = writeln!(out, "<section id=\"{}\" data-colour=\"{colour}\">", escape(s.name));
        let _ =
            writeln!(out, "<h2>{}</h2>\n<p class=\"meta\">{} v{}</p>", escape(s.question), escape(s.name), s.version);
        if !s.params.is_empty() {
            let shown: Vec<String> = s.params.iter().map(|(k, v)| format!("{} = {}", escape(k), escape(v))).collect();
            let _ = writeln!(out, "<p class=\"params\">{}</p>", shown.join(", "));
        }
        match &s.answer {
            Err(why) => {
                let _ = writeln!(out, "<p class=\"error\">No answer: {}</p>", escape(why));
            }
            Ok(answer) => {
                let drawn = match chart_for(answer, s.chart) {
                    Chart::Bars { labels, value } => bars(answer, &labels, value, colour),
                    Chart::Lines { x, series, value } => lines(answer, x, &series, value, colour),
                    Chart::None => "<p class=\"meta\">(no rows to draw)</p>".into(),
                };
                let _ = writeln!(out, "{drawn}\n{}", table(answer));
            }
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(columns: &[&str], rows: &[&[Option<&str>]]) -> Answer {
        Answer {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows.iter().map(|r| r.iter().map(|c| c.map(str::to_owned)).collect()).collect(),
        }
    }

    #[test]
    fn rankings_are_bars_and_days_are_lines() {
        let ranking = answer(&["field_id", "mapping", "configurations"], &[&[Some("a"), Some("b"), Some("3")]]);
        assert_eq!(chart_for(&ranking, Some("configurations")), Chart::Bars { labels: vec![0, 1], value: 2 });
        let days = answer(
            &["dt", "event_name", "records"],
            &[&[Some("2026-11-01"), Some("INSERT"), Some("3")], &[Some("2026-11-02"), Some("INSERT"), Some("5")]],
        );
        assert_eq!(chart_for(&days, Some("records")), Chart::Lines { x: 0, series: vec![1], value: 2 });
        // Without a header column: the last numeric one.
        let hours = answer(&["hour", "writes"], &[&[Some("0"), Some("12")], &[Some("1"), Some("7")]]);
        assert_eq!(chart_for(&hours, None), Chart::Bars { labels: vec![0], value: 1 });
        assert_eq!(chart_for(&answer(&["a"], &[&[Some("x")]]), None), Chart::None);
        assert_eq!(chart_for(&answer(&["a", "n"], &[]), None), Chart::None);
    }

    #[test]
    fn no_value_adds_markup() {
        let evil = answer(&["<b>c</b>", "n"], &[&[Some("</td><script>alert(1)</script>\"'&"), Some("1")]]);
        let page = html(
            &Meta { source: "<lake>", made_at: "now" },
            &[Section {
                name: "q\"",
                question: "<i>?</i>",
                version: 1,
                params: vec![("p".into(), "<x>".into())],
                chart: None,
                answer: Ok(evil),
            }],
        );
        assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>") && !page.contains("<x>"));
        assert!(page.contains("&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"), "{page}");
    }
}
