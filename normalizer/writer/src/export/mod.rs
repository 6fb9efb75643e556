//! Reading a DynamoDB export to S3 (`DYNAMODB_JSON`, full or incremental), for `ddb-lake backfill`.
//!
//! An export folder is `AWSDynamoDB/<export id>/` as the export wrote it: the manifests
//! `manifest-summary.json` (what was exported, as of when) and `manifest-files.json` (one
//! JSON line per data file: its key, item count and the base64 MD5 of its bytes). A full
//! export's data files are `data/<name>.json.gz` in its folder, gzip'd JSON lines
//! `{"Item": {…}}`; an incremental export's are in the folder shared by all incremental
//! exports to the prefix, `AWSDynamoDB/data/<name>.json.gz`, one line per changed item
//! (`{"Metadata": {"WriteTimestampMicros": …}, "Keys": …, "NewImage": …, "OldImage": …}`,
//! [`Change`]).
//!
//! [`Export::open`] reads and checks the manifests; [`DataFile::verify`] (in `data_file.rs`) reads one data file
//! through (its MD5, its gzip, every item, its item count), and [`DataFile::for_each_item`]
//! hands its items over one line at a time, so memory does not grow with the file. The data
//! files are always those the manifest names, never a listing of the folder. Every error
//! names the file and what to do about it. The folder may be local or in S3 ([`Source`]).

use std::io;
use std::path::{Path, PathBuf};

use crate::record::{message_of, without_quoted_text};
use base64::Engine as _;
use md5::{Digest, Md5};
use serde::Deserialize;

mod data_file;
mod source;

pub use data_file::{Change, DataFile, ExportLine, FileStats};
pub use source::{s3_export_folder, S3Files, Source};

/// The `version` of a full export's summary.
pub const FULL_EXPORT_VERSION: &str = "2020-06-30";

/// The `version` of an incremental export's summary.
pub const INCREMENTAL_EXPORT_VERSION: &str = "2023-08-01";

/// The window of an incremental export: the changes made from `from` (inclusive) to the
/// export's time (`exportToTime`, exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// `exportFromTime` as the summary writes it.
    pub from: String,
    /// `exportFromTime` in milliseconds since the Unix epoch.
    pub from_millis: i64,
    /// `outputView`: `NEW_AND_OLD_IMAGES` or `NEW_IMAGE`.
    pub view: String,
}

/// What is wrong with an export, named so that the user can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The folder is not an export's folder.
    #[error(
        "{dir} holds no manifest-summary.json: an export is named by its own folder, \
         AWSDynamoDB/<export id>/, with its manifests and data/ as the export wrote them \
         (s3://BUCKET/PREFIX/AWSDynamoDB/<export id>/ where DynamoDB wrote it, or a copy of that folder){}",
        match found.as_slice() {
            [] => String::new(),
            [one] => format!("; did you mean {}?", one.display()),
            many => format!("; exports below it: {}", many.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")),
        }
    )]
    NotAnExport {
        /// The folder given.
        dir: PathBuf,
        /// Export folders found below it (`<dir>/<id>/` or `<dir>/AWSDynamoDB/<id>/`).
        found: Vec<PathBuf>,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A manifest does not parse, or says something that cannot be.
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An export of a kind this version does not read.
    #[error("{path}: {what} is not supported yet; {fix}")]
    Unsupported {
        /// The summary manifest.
        path: PathBuf,
        /// What it is.
        what: String,
        /// What to do instead.
        fix: &'static str,
    },
    /// The manifest names a data file that is not in the folder.
    #[error(
        "manifest-files.json names {key}, which is not at {path}: the export folder is incomplete; \
         copy the whole folder again"
    )]
    MissingFile {
        /// The key in the manifest.
        key: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file's bytes do not have the MD5 its manifest gives.
    #[error("{path}: MD5 is {found}, its manifest says {expected}: the file is damaged or was not copied whole; copy it again")]
    Checksum {
        /// The data file.
        path: PathBuf,
        /// base64 MD5 in the manifest.
        expected: String,
        /// base64 MD5 of the file.
        found: String,
    },
    /// A data file holds another number of items than the manifest says.
    #[error("{path}: {found} items, manifest-files.json says {expected}: the export is inconsistent; export again")]
    ItemCount {
        /// The data file.
        path: PathBuf,
        /// Count in the manifest.
        expected: u64,
        /// Count in the file.
        found: u64,
    },
    /// A data file is not gzip'd JSON lines of items.
    #[error("{path}, line {line}: {message}")]
    Data {
        /// The data file.
        path: PathBuf,
        /// Line (1-based) in the decompressed text; 0 when the gzip stream itself is broken.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// An export, its manifests read and checked (the data files are checked by
/// [`DataFile::verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The export's folder.
    pub dir: PathBuf,
    /// The export id (`01768385930622-efd1a093`): the last part of the export ARN.
    pub export_id: String,
    /// `exportArn`.
    pub export_arn: String,
    /// `tableArn`.
    pub table_arn: String,
    /// `exportTime` as the summary writes it (ISO 8601 with milliseconds); an incremental
    /// export's `exportToTime`, the end of its window.
    pub export_time: String,
    /// `export_time` in milliseconds since the Unix epoch: the snapshot's instant.
    pub export_time_millis: i64,
    /// An incremental export's window; `None` for a full export.
    pub window: Option<Window>,
    /// `itemCount` in the summary.
    pub item_count: u64,
    /// The data files, in manifest order.
    pub files: Vec<DataFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an export summary {\"exportArn\": …, \"exportTime\": …, …}")]
struct SummaryWire {
    version: Option<String>,
    export_arn: Option<String>,
    table_arn: Option<String>,
    export_time: Option<String>,
    item_count: Option<u64>,
    output_format: Option<String>,
    export_type: Option<String>,
    export_from_time: Option<String>,
    export_to_time: Option<String>,
    output_view: Option<String>,
}

#[derive(Deserialize, Clone, PartialEq, Eq)]
#[serde(
    rename_all = "camelCase",
    expecting = "a data file entry {\"itemCount\": …, \"md5Checksum\": …, \"dataFileS3Key\": …}"
)]
struct FileWire {
    item_count: u64,
    md5_checksum: String,
    data_file_s3_key: String,
}

fn read_text(source: &Source, path: &Path) -> Result<Option<String>, ExportError> {
    source.read_text(path).map_err(|e| ExportError::Io { path: path.to_owned(), source: e })
}

/// Reads a manifest and, when its `.md5` file is there (the export writes one beside each
/// manifest), checks it against the base64 MD5 it holds.
fn read_manifest(source: &Source, path: &Path) -> Result<String, ExportError> {
    let Some(text) = read_text(source, path)? else {
        let missing = io::Error::new(io::ErrorKind::NotFound, "it is not there");
        return Err(ExportError::Io { path: path.to_owned(), source: missing });
    };
    if let Some(expected) = read_text(source, &path.with_extension("md5"))? {
        let expected = expected.trim().to_owned();
        let found = base64::engine::general_purpose::STANDARD.encode(Md5::digest(text.as_bytes()));
        if expected != found {
            return Err(ExportError::Checksum { path: path.to_owned(), expected, found });
        }
    }
    Ok(text)
}

fn manifest_error(path: &Path, message: impl Into<String>) -> ExportError {
    ExportError::Manifest { path: path.to_owned(), message: message.into() }
}

/// An export id as S3 export writes it: digits, `-`, lowercase hex. Checked because it names
/// lake objects.
fn is_export_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
}

/// Longest data file name accepted (S3 export writes 26 characters).
const MAX_DATA_FILE_NAME: usize = 128;

/// What makes `name` unusable as a data file's name, if anything. The name becomes a file
/// on this machine (under the export's `data/` folder) and, escaped, part of lake object
/// names, so it must be one plain path component: ASCII letters, digits, `_`, `-` and `.`,
/// not starting with `.`. (S3 export writes 26 characters of `a-z` and `2-7`; a copy made
/// by another tool may use others, and that is fine.)
fn data_file_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("its name is empty".into());
    }
    if name.len() > MAX_DATA_FILE_NAME {
        return Some(format!("its name is {} bytes long, more than {MAX_DATA_FILE_NAME}", name.len()));
    }
    if name.starts_with('.') {
        return Some("its name starts with `.`, which could name a folder above data/ or a hidden file".into());
    }
    name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))).map(|c| {
        format!(
            "its name holds {c:?}, which is not an ASCII letter, digit, `_`, `-` or `.` (a name must stay one \
             file inside data/)"
        )
    })
}

impl Export {
    /// Reads and checks the manifests of the export in `dir` (`AWSDynamoDB/<export id>/`): a
    /// full `DYNAMODB_JSON` export whose every data file is present. Reads no data file.
    pub fn open(dir: &Path) -> Result<Export, ExportError> {
        Self::open_from(dir, Source::Local)
    }

    /// [`Export::open`] for the export at `dir` in `source`: a local folder, or in S3
    /// (`dir` is then `s3://bucket/prefix/AWSDynamoDB/<export id>`).
    pub fn open_from(dir: &Path, source: Source) -> Result<Export, ExportError> {
        Self::read(dir, source, Lookup::All).map(|(export, _)| export)
    }

    /// The export at `dir` in `source` for the one data file whose manifest entry is `entry`
    /// (a line of `manifest-files.json`, as a Step Functions Distributed Map hands it to a
    /// child): the manifests are read and checked as [`Export::open`] does, `entry` must be
    /// one of them, and only its data file is looked up (a child does not look up every file
    /// of the export). Returns the export, whose `files` is that one file, and the number of
    /// data files of the whole export (the snapshot's `data_files`).
    pub fn open_one(dir: &Path, source: Source, entry: &str) -> Result<(Export, usize), ExportError> {
        let files_path = dir.join("manifest-files.json");
        let wire: FileWire = serde_json::from_str(entry).map_err(|e| {
            let message = without_quoted_text(&message_of(&e));
            manifest_error(&files_path, format!("the data file entry given is not one of its lines: {message}"))
        })?;
        Self::read(dir, source, Lookup::One(wire)).map(|(export, names)| (export, names.len()))
    }

    /// The manifests of the export at `dir` in `source`, read and checked as [`Export::open`]
    /// does, but no data file looked up (`files` is empty): what a plan of the whole export
    /// needs without one request per data file. Returns the export and the names of all its
    /// data files ([`DataFile::name`]), in manifest order.
    pub fn open_manifests(dir: &Path, source: Source) -> Result<(Export, Vec<String>), ExportError> {
        Self::read(dir, source, Lookup::Nothing)
    }

    /// The summary of the export at `dir` in `source` (`manifest-summary.json`, checked against
    /// its `.md5`): the export as [`Export::open`] gives it, but no data file (`files` empty).
    pub fn read_summary(dir: &Path, source: &Source) -> Result<Export, ExportError> {
        let summary_path = dir.join("manifest-summary.json");
        if read_text(source, &summary_path)?.is_none() {
            let found = if *source == Source::Local { exports_below(dir) } else { Vec::new() };
            return Err(ExportError::NotAnExport { dir: dir.to_owned(), found });
        }
        let summary: SummaryWire = serde_json::from_str(&read_manifest(source, &summary_path)?).map_err(|e| {
            let message = without_quoted_text(&message_of(&e));
            manifest_error(
                &summary_path,
                format!("line {}, column {}: not an export summary: {message}", e.line(), e.column()),
            )
        })?;
        let incremental = match (summary.version.as_deref(), summary.export_type.as_deref()) {
            (Some(FULL_EXPORT_VERSION) | None, None | Some("FULL_EXPORT")) => false,
            (Some(INCREMENTAL_EXPORT_VERSION), Some("INCREMENTAL_EXPORT")) => true,
            (version, kind) => {
                return Err(ExportError::Unsupported {
                    path: summary_path,
                    what: format!(
                        "an export of version {} and exportType {}",
                        version.unwrap_or("none"),
                        kind.unwrap_or("none")
                    ),
                    fix: "backfill from a full export (version 2020-06-30) or an incremental one (version \
                          2023-08-01, exportType INCREMENTAL_EXPORT) that DynamoDB wrote",
                })
            }
        };
        match summary.output_format.as_deref() {
            Some("DYNAMODB_JSON") | None => {}
            Some(other) => {
                return Err(ExportError::Unsupported {
                    path: summary_path,
                    what: format!("output format {other}"),
                    fix: "export again with ExportFormat DYNAMODB_JSON",
                })
            }
        }
        let export_arn = summary
            .export_arn
            .ok_or_else(|| manifest_error(&summary_path, "has no exportArn: not a DynamoDB export summary"))?;
        let export_id = export_arn.rsplit('/').next().unwrap_or_default().to_owned();
        if !is_export_id(&export_id) {
            return Err(manifest_error(
                &summary_path,
                format!("exportArn {export_arn} does not end in an export id such as 01768385930622-efd1a093"),
            ));
        }
        let time = |name: &str, value: Option<String>| -> Result<(String, i64), ExportError> {
            let text = value.ok_or_else(|| {
                manifest_error(&summary_path, format!("has no {name}: not a DynamoDB export summary"))
            })?;
            let millis = chrono::DateTime::parse_from_rfc3339(&text)
                .map_err(|e| manifest_error(&summary_path, format!("{name} {text:?} is not an ISO 8601 time: {e}")))?
                .timestamp_millis();
            Ok((text, millis))
        };
        let (export_time, export_time_millis, window) = if incremental {
            let (from, from_millis) = time("exportFromTime", summary.export_from_time)?;
            let (to, to_millis) = time("exportToTime", summary.export_to_time)?;
            if from_millis >= to_millis {
                return Err(manifest_error(
                    &summary_path,
                    format!(
                        "exportFromTime {from} is not before exportToTime {to}: the summary is damaged; export again"
                    ),
                ));
            }
            let view = match summary.output_view.as_deref() {
                Some(v @ ("NEW_AND_OLD_IMAGES" | "NEW_IMAGE")) => v.to_owned(),
                other => {
                    return Err(ExportError::Unsupported {
                        path: summary_path,
                        what: format!("an incremental export with outputView {}", other.unwrap_or("none")),
                        fix: "export again with ExportViewType NEW_AND_OLD_IMAGES or NEW_IMAGE",
                    })
                }
            };
            (to, to_millis, Some(Window { from, from_millis, view }))
        } else {
            let (at, millis) = time("exportTime", summary.export_time)?;
            (at, millis, None)
        };
        let item_count = summary
            .item_count
            .ok_or_else(|| manifest_error(&summary_path, "has no itemCount: not a DynamoDB export summary"))?;

        Ok(Export {
            dir: dir.to_owned(),
            export_id,
            export_arn,
            table_arn: summary.table_arn.unwrap_or_default(),
            export_time,
            export_time_millis,
            window,
            item_count,
            files: Vec::new(),
        })
    }

    fn read(dir: &Path, source: Source, lookup: Lookup) -> Result<(Export, Vec<String>), ExportError> {
        let summary = Self::read_summary(dir, &source)?;
        let (export_id, item_count, incremental) = (&summary.export_id, summary.item_count, summary.window.is_some());
        let files_path = dir.join("manifest-files.json");
        let text = read_manifest(&source, &files_path)?;
        // A full export's data files are in its own folder; an incremental export's in the
        // folder shared by every incremental export to the prefix, beside the export folders.
        let (folder, data_dir) = if incremental {
            ("AWSDynamoDB/data/".to_owned(), dir.parent().unwrap_or(dir).join("data"))
        } else {
            (format!("AWSDynamoDB/{export_id}/data/"), dir.join("data"))
        };
        let mut files: Vec<DataFile> = Vec::new();
        let mut lines = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut listed = 0u64;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let wire: FileWire = serde_json::from_str(line).map_err(|e| {
                let message = without_quoted_text(&message_of(&e));
                let at = format!("line {}, column {}", n + 1, e.column());
                manifest_error(&files_path, format!("{at}: not a data file entry: {message}"))
            })?;
            listed += wire.item_count;
            let name = data_file_name(&folder, &files_path, n + 1, &wire.data_file_s3_key)?;
            // Only the data files asked for are looked up.
            let file = match &lookup {
                Lookup::All => Some(data_file(&source, &data_dir, &name, wire.clone(), incremental)?),
                Lookup::One(only) if *only == wire => {
                    Some(data_file(&source, &data_dir, &name, wire.clone(), incremental)?)
                }
                Lookup::One(_) | Lookup::Nothing => None,
            };
            // A file listed twice would count twice in the snapshot's `data_files`, and a
            // snapshot whose count never matches is one every view ignores.
            if let Some(first) = keys.iter().position(|k| *k == wire.data_file_s3_key).map(|k| lines[k]) {
                return Err(manifest_error(
                    &files_path,
                    format!(
                        "line {}: lists data file {} a second time (first on line {first}): the manifest is damaged; export again",
                        n + 1,
                        wire.data_file_s3_key
                    ),
                ));
            }
            lines.push(n + 1);
            keys.push(wire.data_file_s3_key);
            names.push(name);
            files.extend(file);
        }
        if let Lookup::One(o) = &lookup {
            if files.is_empty() {
                return Err(manifest_error(
                    &files_path,
                    format!("lists no data file {} with the itemCount and md5Checksum given", o.data_file_s3_key),
                ));
            }
        }
        if listed != item_count {
            return Err(manifest_error(
                &files_path,
                format!(
                    "the itemCount of its {} data files adds up to {listed}, manifest-summary.json says \
                     {item_count}: the manifests disagree; export again",
                    keys.len()
                ),
            ));
        }
        Ok((Export { files, ..summary }, names))
    }

    /// The other exports of the same table beside this one (in the same `AWSDynamoDB/`
    /// folder), by their summaries; folders that hold no readable summary (an export still
    /// running, a copy without its manifests) are left out. One listing and one read per
    /// export.
    pub fn siblings(&self, source: &Source) -> Result<Vec<Export>, ExportError> {
        let Some(parent) = self.dir.parent() else { return Ok(Vec::new()) };
        let folders =
            source.child_folders(parent).map_err(|e| ExportError::Io { path: parent.to_owned(), source: e })?;
        Ok(folders
            .iter()
            .filter(|d| d.file_name() != self.dir.file_name() && d.file_name().is_some_and(|n| n != "data"))
            .filter_map(|d| Self::read_summary(d, source).ok())
            .filter(|e| e.table_arn == self.table_arn && e.export_id != self.export_id)
            .collect())
    }

    /// Gzip'd bytes of all data files.
    pub fn size_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size_bytes).sum()
    }
}

/// Export folders one or two levels below `dir` (`<id>/`, `AWSDynamoDB/<id>/`), for a hint.
fn exports_below(dir: &Path) -> Vec<PathBuf> {
    let children = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut found: Vec<PathBuf> = Vec::new();
    for child in children(dir) {
        if child.join("manifest-summary.json").is_file() {
            found.push(child);
        } else {
            found.extend(children(&child).into_iter().filter(|g| g.join("manifest-summary.json").is_file()));
        }
    }
    found
}

/// The local file of one manifest entry. The key may or may not start with the export's S3
/// prefix; what follows `<export id>/` must be `data/<name>.json.gz`.
/// Which data files [`Export::read`] looks up (a request each, in S3).
enum Lookup {
    /// Every one.
    All,
    /// The one of this manifest line.
    One(FileWire),
    /// None: the manifests only.
    Nothing,
}

/// The name of the data file `key` names (line `line` of `manifest`), checked: the key must
/// be `<folder><name>.json.gz`, perhaps after the export's S3 prefix.
fn data_file_name(folder: &str, manifest: &Path, line: usize, key: &str) -> Result<String, ExportError> {
    let rest = key.find(folder).map(|at| &key[at + folder.len()..]);
    let Some(name) = rest.and_then(|r| r.strip_suffix(".json.gz")) else {
        return Err(manifest_error(
            manifest,
            format!("line {line}: dataFileS3Key {key:?} is not {folder}<name>.json.gz"),
        ));
    };
    if let Some(problem) = data_file_name_problem(name) {
        return Err(manifest_error(manifest, format!("line {line}: dataFileS3Key {key:?}: {problem}")));
    }
    Ok(name.to_owned())
}

/// The data file `name` in the folder `data_dir`, looked up in `source`.
fn data_file(
    source: &Source,
    data_dir: &Path,
    name: &str,
    wire: FileWire,
    incremental: bool,
) -> Result<DataFile, ExportError> {
    let key = wire.data_file_s3_key;
    let path = data_dir.join(format!("{name}.json.gz"));
    let size_bytes = match source.size_of(&path) {
        Ok(Some(size)) => size,
        Ok(None) => return Err(ExportError::MissingFile { key, path }),
        Err(e) => return Err(ExportError::Io { path, source: e }),
    };
    Ok(DataFile {
        source: source.clone(),
        manifest_key: key,
        path,
        name: name.to_owned(),
        item_count: wire.item_count,
        md5: wire.md5_checksum,
        size_bytes,
        incremental,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AttributeValue;
    use std::io::Write;

    const EXPORT_ID: &str = "01793880000000-5a1c0e42";

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/exports/sync-configurations/AWSDynamoDB")
            .join(EXPORT_ID)
    }

    /// A copy of the fixture to break.
    fn copy() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(EXPORT_ID);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        for entry in std::fs::read_dir(fixture()).unwrap().chain(std::fs::read_dir(fixture().join("data")).unwrap()) {
            let path = entry.unwrap().path();
            if path.is_file() {
                let rel = path.strip_prefix(fixture()).unwrap();
                std::fs::copy(&path, dir.join(rel)).unwrap();
            }
        }
        (tmp, dir)
    }

    /// A copy whose manifests can be edited (without the `.md5` files that would catch it).
    fn editable_copy() -> (tempfile::TempDir, PathBuf) {
        let (tmp, dir) = copy();
        for name in ["manifest-files.md5", "manifest-summary.md5"] {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        (tmp, dir)
    }

    #[test]
    fn the_manifests_alone_name_every_data_file_without_looking_one_up() {
        let (_tmp, dir) = copy();
        let listed: Vec<String> = std::fs::read_to_string(dir.join("manifest-files.json"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let key = v["dataFileS3Key"].as_str().unwrap().to_owned();
                key.rsplit('/').next().unwrap().trim_end_matches(".json.gz").to_owned()
            })
            .collect();
        std::fs::remove_file(dir.join("data").join(format!("{}.json.gz", listed[1]))).unwrap();
        let (export, names) = Export::open_manifests(&dir, Source::Local).unwrap();
        assert_eq!(names, listed, "every data file, in manifest order");
        assert!(export.files.is_empty());
        assert_eq!(export.export_id, EXPORT_ID);
        // Opening it for its data files finds the one missing.
        assert!(matches!(Export::open(&dir).unwrap_err(), ExportError::MissingFile { .. }));
        // A key that names no data file is still refused from the manifest alone.
        let (_tmp, dir) = editable_copy();
        edit(&dir.join("manifest-files.json"), |t| t.replacen("/data/", "/other/", 1));
        let e = Export::open_manifests(&dir, Source::Local).unwrap_err().to_string();
        assert!(e.contains("line 1: dataFileS3Key"), "{e}");
    }

    #[test]
    fn an_edited_manifest_fails_its_md5() {
        let (_tmp, dir) = copy();
        edit(&dir.join("manifest-files.json"), |t| t.replacen("\"itemCount\":2", "\"itemCount\":3", 1));
        let e = Export::open(&dir).unwrap_err();
        assert!(matches!(e, ExportError::Checksum { .. }), "{e}");
        assert!(e.to_string().contains("manifest-files.json: MD5"), "{e}");
    }

    fn edit(path: &Path, f: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(path).unwrap();
        std::fs::write(path, f(text)).unwrap();
    }

    /// Replaces a data file's items and gives the manifest its new checksum and count, as
    /// an export would have written them.
    fn rewrite_data_file(dir: &Path, name: &str, lines: &[&str]) {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for l in lines {
            gz.write_all(l.as_bytes()).unwrap();
            gz.write_all(b"\n").unwrap();
        }
        let body = gz.finish().unwrap();
        std::fs::write(dir.join("data").join(format!("{name}.json.gz")), &body).unwrap();
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body));
        let manifest = dir.join("manifest-files.json");
        let mut total = 0;
        let mut out = String::new();
        for line in std::fs::read_to_string(&manifest).unwrap().lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["dataFileS3Key"].as_str().unwrap().contains(name) {
                v["md5Checksum"] = md5.clone().into();
                v["itemCount"] = lines.len().into();
            }
            total += v["itemCount"].as_u64().unwrap();
            out.push_str(&v.to_string());
            out.push('\n');
        }
        std::fs::write(&manifest, out).unwrap();
        edit(&dir.join("manifest-summary.json"), |t| {
            let mut v: serde_json::Value = serde_json::from_str(&t).unwrap();
            v["itemCount"] = total.into();
            v.to_string()
        });
    }

    fn keys_of(file: &DataFile) -> Vec<String> {
        let mut keys = Vec::new();
        file.for_each_item(
            |_| {},
            |item, _| {
                let text =
                    |n: &str| item.image().unwrap().get(n).and_then(|v| v.scalar_text()).unwrap_or("?").to_owned();
                keys.push(format!("{} {}", text("pk"), text("sk")));
                Ok(())
            },
        )
        .unwrap();
        keys
    }

    #[test]
    fn the_fixture_reads_as_the_export_wrote_it() {
        let export = Export::open(&fixture()).unwrap();
        assert_eq!(export.export_id, EXPORT_ID);
        assert_eq!(
            export.export_arn,
            format!("arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations/export/{EXPORT_ID}")
        );
        assert_eq!(export.export_time, "2026-11-05T12:00:00.000Z");
        let noon = chrono::NaiveDate::from_ymd_opt(2026, 11, 5).and_then(|d| d.and_hms_opt(12, 0, 0)).unwrap();
        assert_eq!(export.export_time_millis, noon.and_utc().timestamp_millis());
        assert_eq!(export.item_count, 3);
        let names: Vec<(&str, u64)> = export.files.iter().map(|f| (f.name.as_str(), f.item_count)).collect();
        assert_eq!(
            names,
            [("k7q3mlx2vbd4ne5oyfc6hzta2u", 2), ("r2ppwq6a3dm5tbxhoz4ycgnk7e", 0), ("c5vjy4e6u7hwstqlmbaz23xrfo", 1)]
        );
        // The empty data file is a 20-byte gzip, as in real exports.
        assert_eq!(export.files[1].size_bytes, 20);
        for f in &export.files {
            assert_eq!(f.verify(|_| {}, |_| Ok(())).unwrap().items, f.item_count);
        }
        assert_eq!(keys_of(&export.files[0]), ["CUSTOMER#acme SYNC#0001", "CUSTOMER#acme SYNC#0002"]);
        assert!(keys_of(&export.files[1]).is_empty());
        assert_eq!(keys_of(&export.files[2]), ["CUSTOMER#globex SYNC#0001"]);
        let number = |file: &DataFile| {
            let mut found = None;
            file.for_each_item(
                |_| {},
                |item, _| {
                    if let Some(AttributeValue::M(m)) = item.image().unwrap().get("counters") {
                        found = m.get("runs").and_then(|v| v.scalar_text()).map(str::to_owned);
                    }
                    Ok(())
                },
            )
            .unwrap();
            found
        };
        assert_eq!(number(&export.files[0]).as_deref(), Some("12345678901234567890123456789012345678"));
    }

    #[test]
    fn data_keys_with_the_s3_prefix_in_front_are_accepted() {
        let (_tmp, dir) = editable_copy();
        edit(&dir.join("manifest-files.json"), |t| t.replace("\"AWSDynamoDB/", "\"exports/prod/AWSDynamoDB/"));
        let export = Export::open(&dir).unwrap();
        assert_eq!(
            export.files[0].manifest_key,
            format!("exports/prod/AWSDynamoDB/{EXPORT_ID}/data/k7q3mlx2vbd4ne5oyfc6hzta2u.json.gz")
        );
        assert_eq!(export.files[0].path, dir.join("data/k7q3mlx2vbd4ne5oyfc6hzta2u.json.gz"));
    }

    #[test]
    fn a_folder_that_is_not_an_export_says_which_folder_to_name() {
        let (_tmp, dir) = editable_copy();
        let e = Export::open(dir.parent().unwrap()).unwrap_err();
        assert!(matches!(e, ExportError::NotAnExport { .. }), "{e}");
        assert!(e.to_string().contains("AWSDynamoDB/<export id>/"), "{e}");
        assert!(e.to_string().ends_with(&format!("; did you mean {}?", dir.display())), "{e}");
        let e = Export::open(&dir.join("data")).unwrap_err();
        assert!(e.to_string().ends_with("where DynamoDB wrote it, or a copy of that folder)"), "{e}");
    }

    #[test]
    fn a_missing_data_file_is_named_before_anything_is_read() {
        let (_tmp, dir) = editable_copy();
        std::fs::remove_file(dir.join("data/c5vjy4e6u7hwstqlmbaz23xrfo.json.gz")).unwrap();
        let e = Export::open(&dir).unwrap_err();
        assert!(matches!(e, ExportError::MissingFile { .. }), "{e}");
        assert!(
            e.to_string().contains(&format!("AWSDynamoDB/{EXPORT_ID}/data/c5vjy4e6u7hwstqlmbaz23xrfo.json.gz")),
            "{e}"
        );
    }

    #[test]
    fn a_wrong_checksum_and_a_damaged_file_are_checksum_errors() {
        let (_tmp, dir) = editable_copy();
        edit(&dir.join("manifest-files.json"), |t| t.replace("VpPZYIIe0ID/Entg3ZJfBw==", "AAAAAAAAAAAAAAAAAAAAAA=="));
        let export = Export::open(&dir).unwrap();
        let e = export.files[0].verify(|_| {}, |_| Ok(())).unwrap_err();
        assert!(matches!(&e, ExportError::Checksum { expected, .. } if expected == "AAAAAAAAAAAAAAAAAAAAAA=="), "{e}");
        assert!(e.to_string().contains("k7q3mlx2vbd4ne5oyfc6hzta2u.json.gz"), "{e}");

        // One flipped byte in the middle of the compressed data.
        let path = dir.join("data/c5vjy4e6u7hwstqlmbaz23xrfo.json.gz");
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&path, bytes).unwrap();
        let e = export.files[2].verify(|_| {}, |_| Ok(())).unwrap_err();
        assert!(matches!(e, ExportError::Checksum { .. }), "{e}");
        assert!(e.to_string().contains("copy it again"), "{e}");
    }

    #[test]
    fn bad_items_name_their_line() {
        let (_tmp, dir) = editable_copy();
        let good = r#"{"Item":{"pk":{"S":"a"},"sk":{"S":"b"}}}"#;
        rewrite_data_file(&dir, "c5vjy4e6u7hwstqlmbaz23xrfo", &[good, r#"{"Item":{"pk":{"S":"a"},"v":{"X":"1"}}}"#]);
        let export = Export::open(&dir).unwrap();
        let e = export.files[2].verify(|_| {}, |_| Ok(())).unwrap_err();
        assert!(matches!(e, ExportError::Data { line: 2, .. }), "{e}");
        assert!(e.to_string().contains("unknown DynamoDB attribute type `X`"), "{e}");

        rewrite_data_file(&dir, "c5vjy4e6u7hwstqlmbaz23xrfo", &[good, "not json"]);
        let e = Export::open(&dir).unwrap().files[2].verify(|_| {}, |_| Ok(())).unwrap_err();
        assert!(matches!(e, ExportError::Data { line: 2, .. }), "{e}");

        // Hostile input 7: one line number, the file's (a blank line counts), and the column.
        rewrite_data_file(&dir, "c5vjy4e6u7hwstqlmbaz23xrfo", &[good, "", r#"{"Item":{"pk":{"S":"a"},}}"#]);
        let e = Export::open(&dir).unwrap().files[2].verify(|_| {}, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains(".json.gz, line 3: not an export item"), "{e}");
        assert!(e.ends_with("(column 25)") && !e.contains("at line"), "{e}");
        assert!(!e.contains("Wire"), "{e}");

        // A broken gzip stream, and text that is not UTF-8, each said once and plainly.
        let path = dir.join("data/c5vjy4e6u7hwstqlmbaz23xrfo.json.gz");
        let mut body = std::fs::read(&path).unwrap();
        let middle = body.len() / 2;
        body[middle..].iter_mut().for_each(|b| *b = !*b);
        std::fs::write(&path, &body).unwrap();
        let e = Export::open(&dir).unwrap().files[2].for_each_item(|_| {}, |_, _| Ok(())).unwrap_err().to_string();
        assert!(e.contains("cannot be read: a broken gzip stream ("), "{e}");
        rewrite_data_file(&dir, "c5vjy4e6u7hwstqlmbaz23xrfo", &[good]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"Item\":{\"pk\":{\"S\":\"\xFF\"}}}\n").unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let e = Export::open(&dir).unwrap().files[2].for_each_item(|_| {}, |_, _| Ok(())).unwrap_err().to_string();
        assert!(e.contains(", line 1: is not UTF-8 text ("), "{e}");
    }

    #[test]
    fn counts_that_disagree_are_errors() {
        let (_tmp, dir) = editable_copy();
        edit(&dir.join("manifest-files.json"), |t| t.replacen("\"itemCount\":2", "\"itemCount\":3", 1));
        let e = Export::open(&dir).unwrap_err();
        assert!(
            e.to_string().contains("the itemCount of its 3 data files adds up to 4, manifest-summary.json says 3"),
            "{e}"
        );
        edit(&dir.join("manifest-summary.json"), |t| t.replace("\"itemCount\":3", "\"itemCount\":4"));
        let export = Export::open(&dir).unwrap();
        let e = export.files[0].verify(|_| {}, |_| Ok(())).unwrap_err();
        assert!(matches!(e, ExportError::ItemCount { expected: 3, found: 2, .. }), "{e}");
    }

    #[test]
    fn one_data_file_of_an_export_as_a_map_child_gets_it() {
        let dir = fixture();
        let manifest = std::fs::read_to_string(dir.join("manifest-files.json")).unwrap();
        let whole = Export::open(&dir).unwrap();
        for (n, line) in manifest.lines().enumerate() {
            // The Map hands the entry over as a JSON object, with its fields in any order.
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            let (one, count) = Export::open_one(&dir, Source::Local, &entry.to_string()).unwrap();
            assert_eq!(count, 3);
            assert_eq!(one.files, [whole.files[n].clone()]);
            assert_eq!((one.export_id.as_str(), one.export_time_millis), (EXPORT_ID, whole.export_time_millis));
        }
        let mut other: serde_json::Value = serde_json::from_str(manifest.lines().next().unwrap()).unwrap();
        other["itemCount"] = 99.into();
        let e = Export::open_one(&dir, Source::Local, &other.to_string()).unwrap_err().to_string();
        assert!(e.contains("manifest-files.json: lists no data file") && e.contains("with the itemCount"), "{e}");
        let e = Export::open_one(&dir, Source::Local, "{\"x\": 1}").unwrap_err().to_string();
        assert!(e.contains("the data file entry given is not one of its lines"), "{e}");
    }

    /// Hostile input 4: a data file listed twice would make a snapshot no view ever uses.
    #[test]
    fn a_data_file_listed_twice_is_refused_naming_it() {
        let (_tmp, dir) = editable_copy();
        let path = dir.join("manifest-files.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let second = text.lines().nth(1).unwrap().to_owned();
        let name =
            serde_json::from_str::<serde_json::Value>(&second).unwrap()["dataFileS3Key"].as_str().unwrap().to_owned();
        std::fs::write(&path, format!("{text}{second}\n")).unwrap();
        let e = Export::open(&dir).unwrap_err().to_string();
        assert!(e.contains(&format!("line 4: lists data file {name} a second time (first on line 2)")), "{e}");
    }

    #[test]
    fn ion_and_incremental_exports_are_refused_with_what_to_do() {
        let (_tmp, dir) = editable_copy();
        edit(&dir.join("manifest-summary.json"), |t| t.replace("\"DYNAMODB_JSON\"", "\"ION\""));
        let e = Export::open(&dir).unwrap_err();
        assert!(
            e.to_string()
                .contains("output format ION is not supported yet; export again with ExportFormat DYNAMODB_JSON"),
            "{e}"
        );
        // A summary of a version this release does not know.
        edit(&dir.join("manifest-summary.json"), |t| {
            t.replace("\"ION\"", "\"DYNAMODB_JSON\"").replace("2020-06-30", "2031-01-01")
        });
        let e = Export::open(&dir).unwrap_err();
        assert!(matches!(e, ExportError::Unsupported { .. }), "{e}");
        assert!(
            e.to_string().contains("an export of version 2031-01-01 and exportType none is not supported yet"),
            "{e}"
        );
        // An incremental export's summary without its window, or with a view it cannot have.
        edit(&dir.join("manifest-summary.json"), |t| {
            t.replace("2031-01-01", "2023-08-01")
                .replace("\"DYNAMODB_JSON\"", "\"DYNAMODB_JSON\",\"exportType\":\"INCREMENTAL_EXPORT\"")
        });
        let e = Export::open(&dir).unwrap_err().to_string();
        assert!(e.contains("manifest-summary.json: has no exportFromTime"), "{e}");
        edit(&dir.join("manifest-summary.json"), |t| {
            t.replace(
                "\"exportType\"",
                "\"exportFromTime\":\"2026-11-05T13:00:00.000Z\",\"exportToTime\":\"2026-11-05T12:00:00.000Z\",\"exportType\"",
            )
        });
        let e = Export::open(&dir).unwrap_err().to_string();
        assert!(e.contains("exportFromTime 2026-11-05T13:00:00.000Z is not before exportToTime"), "{e}");
        edit(&dir.join("manifest-summary.json"), |t| {
            t.replace(
                "T13:00:00.000Z\",\"exportToTime\":\"2026-11-05T12",
                "T11:00:00.000Z\",\"exportToTime\":\"2026-11-05T12",
            )
            .replace("\"exportType\"", "\"outputView\":\"KEYS_ONLY\",\"exportType\"")
        });
        let e = Export::open(&dir).unwrap_err().to_string();
        assert!(e.contains("an incremental export with outputView KEYS_ONLY is not supported yet"), "{e}");
    }

    fn incremental_fixture(export_id: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/exports/sync-configurations-incremental/AWSDynamoDB")
            .join(export_id)
    }

    /// What each line of a data file is: `(pk, sk, WriteTimestampMicros, has NewImage, has OldImage)`.
    fn changes_of(file: &DataFile) -> Vec<(String, String, String, bool, bool)> {
        let mut out = Vec::new();
        file.for_each_item(
            |_| {},
            |line, _| {
                let ExportLine::Change(c) = line else { panic!("a change") };
                let text = |n: &str| c.keys.get(n).and_then(|v| v.scalar_text()).unwrap_or("?").to_owned();
                let micros = c.write_micros.as_str().to_owned();
                out.push((text("pk"), text("sk"), micros, c.new_image.is_some(), c.old_image.is_some()));
                Ok(())
            },
        )
        .unwrap();
        out
    }

    #[test]
    fn an_incremental_export_reads_its_window_and_the_shared_data_folder() {
        let dir = incremental_fixture("01793883600000-1c1c1c1c");
        let export = Export::open(&dir).unwrap();
        assert_eq!(export.export_id, "01793883600000-1c1c1c1c");
        assert_eq!(
            export.window,
            Some(Window {
                from: "2026-11-05T12:00:00.000Z".into(),
                from_millis: 1_793_880_000_000,
                view: "NEW_AND_OLD_IMAGES".into()
            })
        );
        // Its time is the window's end.
        assert_eq!(
            (export.export_time.as_str(), export.export_time_millis),
            ("2026-11-05T13:00:00.000Z", 1_793_883_600_000)
        );
        assert_eq!(export.item_count, 4);
        assert_eq!(export.files.len(), 3);
        for f in &export.files {
            assert!(f.incremental);
            assert_eq!(f.path, dir.parent().unwrap().join("data").join(format!("{}.json.gz", f.name)));
            assert_eq!(f.manifest_key, format!("AWSDynamoDB/data/{}.json.gz", f.name));
            f.verify(|_| {}, |_| Ok(())).unwrap();
        }
        let micros = |minute: i64, extra: i64| ((1_793_880_000 + minute * 60) * 1_000_000 + extra).to_string();
        let acme = |sk: &str| ("CUSTOMER#acme".to_owned(), sk.to_owned());
        let initech = |sk: &str| ("CUSTOMER#initech".to_owned(), sk.to_owned());
        let row = |(pk, sk): (String, String), m: String, new, old| (pk, sk, m, new, old);
        assert_eq!(
            changes_of(&export.files[0]),
            [
                row(acme("SYNC#0001"), micros(10, 123_456), true, true),
                row(acme("SYNC#0002"), micros(20, 1), false, true),
            ]
        );
        assert_eq!(
            changes_of(&export.files[1]),
            [
                row(initech("SYNC#0001"), micros(30, 500_000), true, false),
                row(initech("SYNC#0002"), micros(45, 0), false, false)
            ]
        );
        assert!(changes_of(&export.files[2]).is_empty());

        // NEW_IMAGE: a delete is its keys alone.
        let export = Export::open(&incremental_fixture("01793887200000-2d2d2d2d")).unwrap();
        assert_eq!(export.window.as_ref().unwrap().view, "NEW_IMAGE");
        assert_eq!(
            changes_of(&export.files[0])[0],
            ("CUSTOMER#globex".into(), "SYNC#0001".into(), micros(65, 0), false, false)
        );
        // The manifests alone, as the state machine's plan reads them.
        let (export, names) = Export::open_manifests(&dir, Source::Local).unwrap();
        assert!(export.files.is_empty() && export.window.is_some());
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn an_incremental_line_that_is_not_one_names_its_line() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("AWSDynamoDB");
        let src = incremental_fixture("01793887200000-2d2d2d2d");
        let dir = root.join("01793887200000-2d2d2d2d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        for name in ["manifest-files.json", "manifest-summary.json"] {
            std::fs::copy(src.join(name), dir.join(name)).unwrap();
        }
        let export_of = |lines: &[&str]| {
            let manifest = std::fs::read_to_string(dir.join("manifest-files.json")).unwrap();
            let first = manifest.lines().next().unwrap();
            let name = first.split("AWSDynamoDB/data/").nth(1).unwrap().split(".json.gz").next().unwrap();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(lines.join("\n").as_bytes()).unwrap();
            let body = gz.finish().unwrap();
            std::fs::write(root.join("data").join(format!("{name}.json.gz")), &body).unwrap();
            let export = Export::open_manifests(&dir, Source::Local).unwrap().0;
            assert!(export.window.is_some());
            DataFile {
                source: Source::Local,
                manifest_key: String::new(),
                path: root.join("data").join(format!("{name}.json.gz")),
                name: name.into(),
                item_count: lines.len() as u64,
                md5: base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body)),
                size_bytes: body.len() as u64,
                incremental: true,
            }
        };
        for (line, says) in [
            (r#"{"Item":{"pk":{"S":"a"}}}"#, "line 1: not an incremental export line"),
            (r#"{"Keys":{"pk":{"S":"a"}},"NewImage":{}}"#, "line 1: not an incremental export line"),
            (r#"{"Metadata":{},"Keys":{"pk":{"S":"a"}}}"#, "line 1: has no Metadata.WriteTimestampMicros"),
            (
                r#"{"Metadata":{"WriteTimestampMicros":{"S":"1"}},"Keys":{}}"#,
                "Metadata.WriteTimestampMicros is a S, not an N",
            ),
            (
                r#"{"Metadata":{"WriteTimestampMicros":{"N":"1.5"}},"Keys":{}}"#,
                "\"1.5\" is not microseconds since 1970",
            ),
            (r#"{"Metadata":{"WriteTimestampMicros":{"N":"-1"}},"Keys":{}}"#, "\"-1\" is not microseconds since 1970"),
            (
                r#"{"Metadata":{"WriteTimestampMicros":{"N":"99999999999999999999"}},"Keys":{}}"#,
                "is not microseconds since 1970",
            ),
        ] {
            let file = export_of(&["", line]);
            let e = file.verify(|_| {}, |_| Ok(())).unwrap_err().to_string();
            assert!(e.contains(&says.replace("line 1", "line 2")), "{line}: {e}");
        }
    }

    #[test]
    fn keys_that_would_leave_the_folder_are_refused() {
        let (_tmp, dir) = editable_copy();
        edit(&dir.join("manifest-files.json"), |t| {
            t.replacen("data/k7q3mlx2vbd4ne5oyfc6hzta2u.json.gz", "data/../../../etc/passwd.json.gz", 1)
        });
        let e = Export::open(&dir).unwrap_err();
        assert!(e.to_string().contains("its name starts with `.`"), "{e}");
    }

    #[test]
    fn a_name_outside_base32_is_read_and_an_unsafe_one_names_its_character() {
        // A 0 and a 1 (not base32, as S3 export writes it), and a `.`: one plain file name.
        let (_tmp, dir) = editable_copy();
        let name = "kq3z0abcdefghij1.part";
        std::fs::rename(dir.join("data/k7q3mlx2vbd4ne5oyfc6hzta2u.json.gz"), dir.join(format!("data/{name}.json.gz")))
            .unwrap();
        edit(&dir.join("manifest-files.json"), |t| {
            t.replacen("data/k7q3mlx2vbd4ne5oyfc6hzta2u.json.gz", &format!("data/{name}.json.gz"), 1)
        });
        let export = Export::open(&dir).unwrap();
        let file = export.files.iter().find(|f| f.name == name).expect("the renamed data file");
        assert_eq!(keys_of(file).len(), 2, "its two items are read");

        let (_tmp, dir) = editable_copy();
        edit(&dir.join("manifest-files.json"), |t| {
            t.replacen("data/k7q3mlx2vbd4ne5oyfc6hzta2u.json.gz", "data/k7q3 x.json.gz", 1)
        });
        let e = Export::open(&dir).unwrap_err().to_string();
        assert!(e.contains("line 1: dataFileS3Key") && e.contains("its name holds ' ', which is not"), "{e}");
    }

    #[test]
    fn names_that_reach_paths_and_keys_are_strict() {
        assert!(is_export_id("01768385930622-efd1a093"));
        assert!(!is_export_id("../x") && !is_export_id("a/b") && !is_export_id(""));
        for ok in ["5mrfg3b44e3vhnfickkozoym6a", "x1", "a.b", "A_b-9"] {
            assert_eq!(data_file_name_problem(ok), None, "{ok}");
        }
        for bad in ["", "..", ".x", "a/b", "a\\b", "a\u{0}", "é", &"a".repeat(129)] {
            assert!(data_file_name_problem(bad).is_some(), "{bad:?}");
        }
    }
}
