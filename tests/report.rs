//! `ddb-lake report` on a generated lake, rendered by a real browser: headless Debian
//! `chromium` takes a screenshot of the page, and each chart's own colour must cover what its
//! answer says (a bar chart: the bars' lengths from the values of `ddb-lake sql run`; a line
//! chart: its points). The page references nothing outside itself, and its tables hold every
//! answer cell for cell. Needs `chromium` (./scripts/test installs Debian's package as root;
//! otherwise `apt-get install chromium`): without it the test fails saying so.

mod helpers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use helpers::ddb_lake_ok as ok;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 14000;
/// sql/src/report.rs: a bar is 16 px high and at most 560 px long; at most 25 are drawn.
const BAR_HEIGHT: f64 = 16.0;
const CHART_WIDTH: f64 = 560.0;
const MAX_BARS: usize = 25;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chromium() -> PathBuf {
    for candidate in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new(candidate).arg("--version").output() {
            if out.status.success() {
                return PathBuf::from(candidate);
            }
        }
    }
    panic!(
        "the report test renders the page in headless Chromium, which is not installed: \
         `apt-get install chromium` (./scripts/test does it when run as root)"
    );
}

/// An answer as `ddb-lake sql run NAME --format csv` gives it.
fn answer(lake: &Path, spec: &Path, name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = ok(&[
        "sql",
        "run",
        name,
        "--local",
        lake.to_str().unwrap(),
        "--spec",
        spec.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let columns = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    (columns, rows)
}

/// The `-- chart:` column of a question's file, read here.
fn chart_column(name: &str) -> Option<String> {
    let text = std::fs::read_to_string(root().join(format!("sql/questions/{name}.sql"))).unwrap();
    text.lines().find_map(|l| l.strip_prefix("-- chart: ").map(|c| c.trim().to_owned()))
}

/// The text of every `<td>` in `html`, entities decoded.
fn cells(html: &str) -> Vec<String> {
    html.split("<td")
        .skip(1)
        .map(|part| {
            let text = &part[part.find('>').unwrap() + 1..part.find("</td>").unwrap()];
            text.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

fn rgb(hex: &str) -> [u8; 3] {
    let n = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    [(n >> 16) as u8, (n >> 8) as u8, n as u8]
}

#[test]
fn the_report_renders_a_chart_per_answer_in_chromium() {
    let browser = chromium();
    let dir = tempfile::tempdir().unwrap();
    let spec = root().join("docs/examples/sync-configurations.toml");
    let (events, lake, page) =
        (dir.path().join("events.jsonl"), dir.path().join("lake"), dir.path().join("report.html"));
    ok(&["generate", "--items", "400", "--days", "9", "--out", events.to_str().unwrap()]);
    ok(&[
        "normalize",
        "--spec",
        spec.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
        "--out",
        lake.to_str().unwrap(),
        "-q",
    ]);
    let said = ok(&[
        "report",
        "--local",
        lake.to_str().unwrap(),
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(said.starts_with(&format!("wrote {}: 11 questions, 11 answered (", page.display())), "{said}");

    // Nothing from elsewhere: no script, no stylesheet, image or font by reference.
    for banned in ["<script", "<link", "src=", "href=", "url(", "@import", "http://", "https://", "<iframe"] {
        assert!(!html.contains(banned), "the page holds {banned}");
    }

    // Each section: its table is the answer, cell for cell; what its chart must cover.
    let mut expected: Vec<(String, String, f64, f64)> = Vec::new(); // (name, colour, least, most) pixels
    let sections: Vec<&str> = html.split("<section id=\"").skip(1).collect();
    assert_eq!(sections.len(), 11);
    for section in sections {
        let name = &section[..section.find('"').unwrap()];
        let colour = section.split("data-colour=\"").nth(1).unwrap()[..7].to_string();
        let (columns, rows) = answer(&lake, &spec, name);
        let want: Vec<String> =
            rows.iter().flatten().map(|c| if c.is_empty() { "NULL".to_string() } else { c.clone() }).collect();
        let got = cells(section);
        // The CSV writes NULL as an empty field; the page writes NULL.
        assert_eq!(got.len(), want.len(), "{name}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g == w || (w == "NULL" && g.is_empty()) || (g == "NULL" && w.is_empty()), "{name}: {g:?} vs {w:?}");
        }
        if rows.is_empty() {
            assert!(!section.contains("<svg"), "{name}: nothing to draw");
            expected.push((name.to_string(), colour, 0.0, 0.0));
            continue;
        }
        let numeric = |c: usize| rows.iter().all(|r| r[c].is_empty() || r[c].parse::<f64>().is_ok());
        let value = chart_column(name)
            .and_then(|h| columns.iter().position(|c| *c == h))
            .or_else(|| (1..columns.len()).find(|&c| numeric(c)))
            .unwrap_or_else(|| panic!("{name}: no value column"));
        let days: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        let values: Vec<f64> = rows.iter().map(|r| r[value].parse().unwrap_or(0.0)).collect();
        if (columns[0] == "dt" || columns[0] == "day") && days.len() > 1 {
            assert!(section.contains("class=\"chart lines\""), "{name}: a per-day series is lines");
            // A 6×6 square per point (points of one day and value may coincide), and the lines.
            let points: std::collections::BTreeSet<(&str, String)> =
                rows.iter().zip(&values).map(|(r, v)| (r[0].as_str(), format!("{v}"))).collect();
            expected.push((name.to_string(), colour, 36.0 * points.len() as f64 * 0.5, f64::MAX));
        } else {
            assert!(section.contains("class=\"chart bars\""), "{name}: a ranking is bars");
            let max = values.iter().take(MAX_BARS).cloned().fold(0.0, f64::max);
            let area: f64 = values.iter().take(MAX_BARS).map(|v| (v / max * CHART_WIDTH).round() * BAR_HEIGHT).sum();
            expected.push((name.to_string(), colour, area * 0.97, area * 1.03));
        }
    }

    // The browser's picture.
    let shot = dir.path().join("report.png");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&shot).unwrap();
    let mut decoder = zune_png::PngDecoder::new(&bytes);
    let buffer = decoder.decode_raw().unwrap();
    let (width, height) = decoder.get_dimensions().unwrap();
    assert_eq!((width as u32, height as u32), (WIDTH, HEIGHT));
    let channels = decoder.get_colorspace().unwrap().num_components();
    let mut counts: BTreeMap<[u8; 3], f64> = BTreeMap::new();
    for px in buffer.chunks(channels) {
        *counts.entry([px[0], px[1], px[2]]).or_default() += 1.0;
    }
    // The page ends inside the picture: its bottom rows are background.
    let last_row = &buffer[buffer.len() - WIDTH as usize * channels..];
    assert!(last_row.chunks(channels).all(|p| p[..3] == [255, 255, 255]), "the page is taller than {HEIGHT} px");
    for (name, colour, least, most) in &expected {
        let got = counts.get(&rgb(colour)).copied().unwrap_or(0.0);
        assert!(got >= *least && got <= *most, "{name}: {got} pixels of {colour}, expected {least}..{most}");
        if *most > 0.0 {
            assert!(got > 0.0, "{name}: its chart drew nothing");
        }
    }
}
