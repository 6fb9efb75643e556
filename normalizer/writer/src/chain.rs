//! Whether an incremental export chains to what the lake has (docs/snapshots.md, "A chain of
//! exports").
//!
//! The views use an incremental export only in a chain: the latest whole full snapshot at
//! T0, then incremental windows `[from, to)` each starting at or before the end of those
//! before it. A window after a gap is never used, so a backfill checks before it writes: the
//! exports it knows are those whole in the lake (their `snapshots` rows, [`read_lake`]) and
//! those beside the export in its folder ([`crate::export::Export::siblings`]), which may be
//! backfilled in any order. [`check`] says whether the export chains, through which exports
//! the lake does not have yet, or which window is missing.

use std::collections::{BTreeMap, BTreeSet};

use ddb_lake_core::object_key::ObjectKey;
use ddb_lake_core::rowfmt::decode_object;

use crate::export::Export;
use crate::sink::{LakeReader, SinkError};

/// An export as the chain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The export id.
    pub id: String,
    /// Its time: a full export's `exportTime`, an incremental export's `exportToTime` (the
    /// end of its window, exclusive), in milliseconds since the epoch.
    pub time_millis: i64,
    /// An incremental export's `exportFromTime` (inclusive); `None` for a full export.
    pub window_start_millis: Option<i64>,
    /// Whether the lake has it whole (every data file has its `snapshots` row).
    pub in_lake: bool,
}

impl Link {
    /// The link of `export`.
    pub fn of_export(export: &Export, in_lake: bool) -> Self {
        Link {
            id: export.export_id.clone(),
            time_millis: export.export_time_millis,
            window_start_millis: export.window.as_ref().map(|w| w.from_millis),
            in_lake,
        }
    }
}

/// Why the lake's exports could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// An object could not be listed or read.
    #[error(transparent)]
    Read(#[from] SinkError),
    /// A `snapshots` object does not hold the table's rows.
    #[error("{key}: {message}; the object is not one ddb-lake wrote: move it out of the lake")]
    Row {
        /// The object.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The exports whole in `lake`, from its `snapshots` objects (one small object per data file
/// of each export backfilled).
pub async fn read_lake<S: LakeReader + Sync>(lake: &S) -> Result<Vec<Link>, ChainError> {
    let mut objects = Vec::new();
    for key in lake.snapshot_markers().await? {
        let body = lake.get(&key).await?;
        objects.push((key, body));
    }
    links_in_lake(&objects)
}

/// [`read_lake`] from the objects' keys and (gzip'd) bodies.
pub fn links_in_lake(objects: &[(ObjectKey, Vec<u8>)]) -> Result<Vec<Link>, ChainError> {
    // By export: its time, window start, data files, and the data files that have their row.
    let mut exports: BTreeMap<String, (i64, Option<i64>, u64, BTreeSet<String>)> = BTreeMap::new();
    for (key, body) in objects {
        let row_error = |message: String| ChainError::Row { key: key.to_string(), message };
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(body.as_slice()), &mut text)
            .map_err(|e| row_error(format!("not gzip ({e})")))?;
        let (header, rows) = decode_object(&text).map_err(|e| row_error(e.to_string()))?;
        let column = |name: &str| header.iter().position(|h| h == name);
        let (Some(id), Some(time), Some(file), Some(files)) =
            (column("snapshot_id"), column("snapshot_time"), column("data_file"), column("data_files"))
        else {
            return Err(row_error(format!("its header {header:?} is not the snapshots table's")));
        };
        let start = column("window_start");
        for row in rows {
            let cell = |i: usize| row.get(i).cloned().flatten();
            let (Some(id), Some(time), Some(file), Some(files)) = (cell(id), cell(time), cell(file), cell(files))
            else {
                return Err(row_error("a row without its snapshot_id, snapshot_time, data_file or data_files".into()));
            };
            let time = parse_time(&time).ok_or_else(|| row_error(format!("snapshot_time {time:?} is not a time")))?;
            let start = match start.and_then(cell) {
                None => None,
                Some(t) => Some(parse_time(&t).ok_or_else(|| row_error(format!("window_start {t:?} is not a time")))?),
            };
            let files: u64 = files.parse().map_err(|_| row_error(format!("data_files {files:?} is not a count")))?;
            let entry = exports.entry(id).or_insert_with(|| (time, start, files, BTreeSet::new()));
            entry.3.insert(file);
        }
    }
    Ok(exports
        .into_iter()
        .filter(|(_, (_, _, files, have))| have.len() as u64 == *files)
        .map(|(id, (time_millis, window_start_millis, _, _))| Link {
            id,
            time_millis,
            window_start_millis,
            in_lake: true,
        })
        .collect())
}

/// A lake timestamp (`2026-11-05 12:00:00.000`, UTC) in milliseconds since the epoch.
fn parse_time(text: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc().timestamp_millis())
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A full export: it starts a chain of its own.
    Full,
    /// The window chains to the full export `base`; `through` are the exports it chains
    /// through (`base` included) that the lake does not have yet: the views use the window
    /// once they are backfilled too.
    Chains {
        /// The full export under the chain.
        base: Link,
        /// Exports of the chain not in the lake yet, in chain order.
        through: Vec<String>,
    },
    /// The chain before the window ends at `from_millis`, before the window starts at
    /// `to_millis`: the changes of `[from_millis, to_millis)` are in no export known.
    Gap {
        /// The full export under the chain.
        base: Link,
        /// The end of the chain.
        from_millis: i64,
        /// The window's start.
        to_millis: i64,
    },
    /// No full export before the window's end, in the lake or beside the export.
    NoFullExport,
}

/// Whether `candidate` chains to a full export among `known` (the lake's exports and those
/// beside it; `candidate` itself, if among them, is left out).
pub fn check(candidate: &Link, known: &[Link]) -> Verdict {
    let Some(from) = candidate.window_start_millis else { return Verdict::Full };
    // Each export once, as the lake has it if it does.
    let mut by_id: BTreeMap<&str, &Link> = BTreeMap::new();
    for link in known.iter().filter(|l| l.id != candidate.id) {
        let entry = by_id.entry(&link.id).or_insert(link);
        if link.in_lake {
            *entry = link;
        }
    }
    // The latest full export the window can extend (the views use the lake's latest; one
    // after the window makes the window unneeded, not wrong).
    let base = by_id
        .values()
        .filter(|l| l.window_start_millis.is_none() && l.time_millis < candidate.time_millis)
        .max_by_key(|l| (l.time_millis, l.in_lake));
    let Some(base) = base.copied() else { return Verdict::NoFullExport };
    let mut windows: Vec<&Link> = by_id
        .values()
        .copied()
        .filter(|l| l.window_start_millis.is_some() && l.time_millis > base.time_millis)
        .collect();
    windows.sort_by_key(|l| (l.window_start_millis, l.time_millis));
    let mut reach = base.time_millis;
    let mut through: Vec<String> = if base.in_lake { Vec::new() } else { vec![base.id.clone()] };
    for w in windows {
        if reach >= from || w.window_start_millis.is_some_and(|s| s > reach) {
            break;
        }
        if w.time_millis > reach {
            reach = w.time_millis;
            if !w.in_lake {
                through.push(w.id.clone());
            }
        }
    }
    if reach >= from {
        Verdict::Chains { base: base.clone(), through }
    } else {
        Verdict::Gap { base: base.clone(), from_millis: reach, to_millis: from }
    }
}

/// `millis` as ISO 8601 UTC.
fn iso(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| millis.to_string())
}

/// An incremental export's shortest and longest window, in seconds.
const WINDOW_SECONDS: (i64, i64) = (15 * 60, 24 * 60 * 60);

impl Verdict {
    /// Why `export` must not be backfilled, naming the window or export to take first; `None`
    /// when it may be.
    pub fn refusal(&self, export: &Export) -> Option<String> {
        let view = export.window.as_ref().map_or("NEW_AND_OLD_IMAGES", |w| w.view.as_str());
        let (from, id) = (export.window.as_ref().map_or(0, |w| w.from_millis), &export.export_id);
        match self {
            Verdict::Full | Verdict::Chains { .. } => None,
            Verdict::NoFullExport => Some(format!(
                "incremental export {id} holds only the changes of its window, and there is no full export before \
                 its end ({}) in the lake or beside it, so the lake has no state for them to change; take a full \
                 export at the window's start and backfill it first: aws dynamodb export-table-to-point-in-time \
                 --table-arn {} --export-time {} --s3-bucket BUCKET --s3-prefix PREFIX --export-format DYNAMODB_JSON",
                iso(export.export_time_millis),
                export.table_arn,
                iso(from),
            )),
            Verdict::Gap { base, from_millis, to_millis } => {
                // The API takes whole seconds; a window is 15 minutes to 24 hours (an
                // overlap with the exports around it is harmless: the latest write wins).
                let start = from_millis.div_euclid(1000);
                let end = (to_millis + 999).div_euclid(1000).max(start + WINDOW_SECONDS.0);
                let (end, more) = if end - start > WINDOW_SECONDS.1 {
                    (start + WINDOW_SECONDS.1, format!(", then further windows up to {}", iso(*to_millis)))
                } else {
                    (end, String::new())
                };
                let chain = if *from_millis == base.time_millis {
                    format!("the full export {} of {}", base.id, iso(base.time_millis))
                } else {
                    format!(
                        "the full export {} of {} and the incremental exports after it",
                        base.id,
                        iso(base.time_millis)
                    )
                };
                Some(format!(
                    "incremental export {id} starts at {}, but the chain it would extend ({chain}, in the lake or \
                     beside this export) ends at {}: the changes of [{}, {}) are in no export, and a window after a \
                     gap is never used; take an incremental export of that window and backfill it first: aws \
                     dynamodb export-table-to-point-in-time --table-arn {} --s3-bucket BUCKET --s3-prefix PREFIX \
                     --export-format DYNAMODB_JSON --export-type INCREMENTAL_EXPORT \
                     --incremental-export-specification ExportFromTime={},ExportToTime={},ExportViewType={view}{more} \
                     (or take a new full export and backfill that instead)",
                    iso(*to_millis),
                    iso(*from_millis),
                    iso(*from_millis),
                    iso(*to_millis),
                    export.table_arn,
                    iso(start * 1000).replace(".000Z", "Z"),
                    iso(end * 1000).replace(".000Z", "Z"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn full(id: &str, at: i64, in_lake: bool) -> Link {
        Link { id: id.into(), time_millis: at, window_start_millis: None, in_lake }
    }

    fn window(id: &str, from: i64, to: i64, in_lake: bool) -> Link {
        Link { id: id.into(), time_millis: to, window_start_millis: Some(from), in_lake }
    }

    #[test]
    fn a_window_chains_to_the_latest_full_export_through_the_windows_before_it() {
        let f = full("f", 10 * H, true);
        assert_eq!(check(&f, &[]), Verdict::Full);
        // Straight after the full export, or overlapping it.
        let w1 = window("w1", 10 * H, 11 * H, false);
        assert_eq!(check(&w1, std::slice::from_ref(&f)), Verdict::Chains { base: f.clone(), through: vec![] });
        let early = window("e", 9 * H, 11 * H, false);
        assert!(matches!(check(&early, std::slice::from_ref(&f)), Verdict::Chains { .. }));
        // Through a window the lake has, or one beside it not backfilled yet (any order).
        let w2 = window("w2", 11 * H, 12 * H, false);
        assert_eq!(
            check(&w2, &[f.clone(), Link { in_lake: true, ..w1.clone() }]),
            Verdict::Chains { base: f.clone(), through: vec![] }
        );
        assert_eq!(
            check(&w2, &[f.clone(), w1.clone()]),
            Verdict::Chains { base: f.clone(), through: vec!["w1".into()] }
        );
        // The full export itself beside it, not backfilled yet.
        let beside = Link { in_lake: false, ..f.clone() };
        assert_eq!(
            check(&w2, &[beside.clone(), w1.clone()]),
            Verdict::Chains { base: beside, through: vec!["f".into(), "w1".into()] }
        );
        // A window that only overlaps another still extends the chain.
        let long = window("long", 10 * H + 1, 13 * H, true);
        let w3 = window("w3", 13 * H, 14 * H, false);
        assert!(matches!(check(&w3, &[f.clone(), w1.clone(), long]), Verdict::Chains { .. }));
    }

    #[test]
    fn a_gap_or_no_full_export_is_named() {
        let f = full("f", 10 * H, true);
        let w1 = window("w1", 10 * H, 11 * H, true);
        let after_gap = window("w3", 12 * H, 13 * H, false);
        assert_eq!(
            check(&after_gap, &[f.clone(), w1.clone()]),
            Verdict::Gap { base: f.clone(), from_millis: 11 * H, to_millis: 12 * H }
        );
        // A window after the gap does not close it.
        let w4 = window("w4", 13 * H, 14 * H, true);
        assert!(matches!(check(&after_gap, &[f.clone(), w1.clone(), w4]), Verdict::Gap { .. }));
        // No full export, or only one after the window.
        assert_eq!(check(&w1, &[]), Verdict::NoFullExport);
        assert_eq!(check(&w1, &[full("later", 12 * H, true)]), Verdict::NoFullExport);
        // The latest full export before the window's end is the base: an older one does not
        // bridge a gap after the newer.
        let older = full("older", 5 * H, true);
        let w = window("w", 5 * H, 9 * H, true);
        assert!(
            matches!(check(&after_gap, &[older, w, f.clone()]), Verdict::Gap { from_millis, .. } if from_millis == 10 * H)
        );
    }

    #[test]
    fn the_lakes_exports_count_when_whole() {
        let marker = |id: &str, file: &str, files: usize, start: Option<i64>| {
            let mut row = Vec::new();
            ddb_lake_core::rows::SnapshotsRow {
                snapshot_id: id,
                snapshot_time_millis: 1_793_883_600_000,
                margin_seconds: 300,
                source: "arn",
                data_file: file,
                data_files: files,
                items: 1,
                window_start_millis: start,
            }
            .write(&mut row);
            let table = ddb_lake_core::schema::BuiltInTable::Snapshots.schema();
            let object = crate::assembler::LakeObject::of_rows(
                &table,
                ObjectKey::snapshot_marker("2026-11-05", id, file),
                &row,
                1,
                flate2::Compression::fast(),
            );
            (object.key, object.body)
        };
        let links = links_in_lake(&[
            marker("a", "f1", 2, None),
            marker("a", "f2", 2, None),
            marker("b", "f1", 2, Some(1_793_880_000_000)),
            marker("c", "f1", 1, Some(1_793_880_000_000)),
        ])
        .unwrap();
        assert_eq!(
            links,
            [
                Link { id: "a".into(), time_millis: 1_793_883_600_000, window_start_millis: None, in_lake: true },
                Link {
                    id: "c".into(),
                    time_millis: 1_793_883_600_000,
                    window_start_millis: Some(1_793_880_000_000),
                    in_lake: true
                },
            ],
            "b lacks a data file's row"
        );
        let e =
            links_in_lake(&[(ObjectKey::snapshot_marker("2026-11-05", "x", "y"), b"not gzip".to_vec())]).unwrap_err();
        assert!(e.to_string().contains("snapshots/dt=2026-11-05/snapshot_x_y.tsv.gz: not gzip"), "{e}");
    }
}
