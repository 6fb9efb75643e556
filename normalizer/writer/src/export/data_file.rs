//! One data file of an export: its manifest entry ([`DataFile`]) and reading it, checked
//! (its MD5 as the bytes go by, its gzip, every line an item or, in an incremental export, a
//! change, the item count), one line at a time so that memory does not grow with the file.

use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

use base64::Engine as _;
use md5::{Digest, Md5};
use serde::Deserialize;

use super::ExportError;
use crate::record::{message_of, without_quoted_text, AttributeValue, Item, Text};

/// One data file of an export, as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Where the file is read from.
    pub source: super::Source,
    /// `dataFileS3Key` in the manifest.
    pub manifest_key: String,
    /// Where it is: a local path, or `s3://bucket/key`.
    pub path: PathBuf,
    /// The file's name without `.json.gz` (26 characters `a-z2-7`): names its objects.
    pub name: String,
    /// `itemCount` in the manifest.
    pub item_count: u64,
    /// `md5Checksum` in the manifest: base64 of the MD5 of the gzip'd bytes.
    pub md5: String,
    /// Size of the gzip'd file.
    pub size_bytes: u64,
    /// Whether it is an incremental export's: its lines are [`Change`]s, not items.
    pub incremental: bool,
}

/// One line of a data file.
#[derive(Debug)]
pub enum ExportLine<'a> {
    /// A full export's item.
    Item(Item<'a>),
    /// An incremental export's changed item.
    Change(Change<'a>),
}

impl<'a> ExportLine<'a> {
    /// The item as the line leaves it: a full export's item, a change's new image (`None`
    /// when the change deleted it).
    pub fn image(&self) -> Option<&Item<'a>> {
        match self {
            ExportLine::Item(item) => Some(item),
            ExportLine::Change(change) => change.new_image.as_ref(),
        }
    }
}

/// An item an incremental export writes: its state after its last write in the window
/// (`NewImage`; none when that write deleted it), the time of that write, its key, and with
/// `NEW_AND_OLD_IMAGES` its state before the window (`OldImage`; none when it was created
/// in the window).
#[derive(Debug)]
pub struct Change<'a> {
    /// `Metadata.WriteTimestampMicros`: microseconds since the epoch, canonical decimal digits.
    pub write_micros: Text<'a>,
    /// `Keys`: the item's key attributes.
    pub keys: Item<'a>,
    /// `NewImage`: the item after the write; `None` when the write deleted it.
    pub new_image: Option<Item<'a>>,
    /// `OldImage`: the item before the window, when the view writes it.
    pub old_image: Option<Item<'a>>,
}

impl Change<'_> {
    /// The write's time in microseconds since the epoch.
    pub fn write_micros(&self) -> i64 {
        // Checked when the line was read.
        self.write_micros.as_str().parse().unwrap_or_default()
    }
}

#[derive(Deserialize)]
#[serde(expecting = "an incremental export line {\"Metadata\": {…}, \"Keys\": {…}, \"NewImage\": {…}}")]
struct ChangeWire<'a> {
    #[serde(rename = "Metadata", borrow)]
    metadata: Item<'a>,
    #[serde(rename = "Keys", borrow)]
    keys: Item<'a>,
    #[serde(rename = "NewImage", default, borrow)]
    new_image: Option<Item<'a>>,
    #[serde(rename = "OldImage", default, borrow)]
    old_image: Option<Item<'a>>,
}

/// Largest `WriteTimestampMicros` accepted: 9999-12-31T23:59:59.999999Z.
const LAST_WRITE_MICROS: i64 = 253_402_300_799_999_999;

impl<'a> ChangeWire<'a> {
    fn check(self) -> Result<Change<'a>, String> {
        let write_micros = match self.metadata.get("WriteTimestampMicros") {
            Some(AttributeValue::N(t)) => t,
            Some(other) => {
                return Err(format!(
                    "Metadata.WriteTimestampMicros is a {}, not an N: not a line DynamoDB writes",
                    other.type_name()
                ))
            }
            None => return Err("has no Metadata.WriteTimestampMicros: not a line DynamoDB writes".into()),
        };
        let text = write_micros.as_str();
        let canonical = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'))
            && text.parse::<i64>().is_ok_and(|m| m <= LAST_WRITE_MICROS);
        if !canonical {
            return Err(format!(
                "Metadata.WriteTimestampMicros {:?} is not microseconds since 1970 up to the year 9999",
                crate::record::clip(text)
            ));
        }
        Ok(Change {
            write_micros: write_micros.clone(),
            keys: self.keys,
            new_image: self.new_image,
            old_image: self.old_image,
        })
    }
}

/// What reading a data file through found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStats {
    /// Items read.
    pub items: u64,
    /// Bytes of JSON after gunzip.
    pub json_bytes: u64,
}

#[derive(Deserialize)]
#[serde(expecting = "an export item {\"Item\": {…}}")]
struct LineWire<'a> {
    #[serde(rename = "Item", borrow)]
    item: Item<'a>,
}

/// Passes bytes through, keeping their MD5 and count.
struct Md5Reader<R> {
    inner: R,
    md5: Md5,
    bytes: u64,
}

impl<R: Read> Read for Md5Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl DataFile {
    /// Reads the file through: checks its MD5, its gzip, that every line is an item (a
    /// change, in an incremental export) that passes `check` (whose message names the
    /// problem; the error adds the line), and its item count. Calls `progress` with the
    /// gzip'd bytes read so far, now and then.
    pub fn verify(
        &self,
        progress: impl FnMut(u64),
        mut check: impl FnMut(&ExportLine<'_>) -> Result<(), String>,
    ) -> Result<FileStats, ExportError> {
        let (stats, md5) = match self.read_items(progress, |line, _| check(&line)) {
            Ok(read) => read,
            // A damaged file usually breaks its gzip stream too: say that it is damaged.
            Err(e @ ExportError::Data { .. }) => match self.file_md5() {
                Ok(found) if found != self.md5 => {
                    return Err(ExportError::Checksum { path: self.path.clone(), expected: self.md5.clone(), found })
                }
                _ => return Err(e),
            },
            Err(e) => return Err(e),
        };
        if md5 != self.md5 {
            return Err(ExportError::Checksum { path: self.path.clone(), expected: self.md5.clone(), found: md5 });
        }
        if stats.items != self.item_count {
            return Err(ExportError::ItemCount {
                path: self.path.clone(),
                expected: self.item_count,
                found: stats.items,
            });
        }
        Ok(stats)
    }

    /// Hands every line of the file to `f` (an item, or an incremental export's change) with
    /// its text, one line at a time. Fails on the first line that is neither, or with what `f`
    /// returns (as the message of a [`ExportError::Data`] naming the line).
    pub fn for_each_item(
        &self,
        progress: impl FnMut(u64),
        f: impl FnMut(ExportLine<'_>, &str) -> Result<(), String>,
    ) -> Result<FileStats, ExportError> {
        self.read_items(progress, f).map(|(stats, _)| stats)
    }

    fn file_md5(&self) -> Result<String, ExportError> {
        let io_error = |source| ExportError::Io { path: self.path.clone(), source };
        let file = self.source.open(&self.path).map_err(io_error)?;
        let mut hashed = Md5Reader { inner: file, md5: Md5::new(), bytes: 0 };
        io::copy(&mut hashed, &mut io::sink()).map_err(io_error)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(hashed.md5.finalize()))
    }

    fn read_items(
        &self,
        mut progress: impl FnMut(u64),
        mut f: impl FnMut(ExportLine<'_>, &str) -> Result<(), String>,
    ) -> Result<(FileStats, String), ExportError> {
        let file =
            self.source.open(&self.path).map_err(|source| ExportError::Io { path: self.path.clone(), source })?;
        let mut hashed = Md5Reader { inner: file, md5: Md5::new(), bytes: 0 };
        let data_error = |line: u64, message: String| ExportError::Data { path: self.path.clone(), line, message };
        let mut stats = FileStats::default();
        {
            let mut lines = BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(&mut hashed));
            let mut line = String::new();
            let mut reported = 0u64;
            // The line of the decompressed text (blank lines count; they hold no item).
            let mut line_number = 0u64;
            loop {
                line.clear();
                let n = lines.read_line(&mut line).map_err(|e| {
                    let message = if e.kind() == io::ErrorKind::InvalidData {
                        format!("is not UTF-8 text ({e}); an export's data files are UTF-8 JSON lines")
                    } else {
                        format!("cannot be read: a broken gzip stream ({e})")
                    };
                    data_error(line_number + 1, message)
                })?;
                if n == 0 {
                    break;
                }
                line_number += 1;
                stats.json_bytes += n as u64;
                if line.trim().is_empty() {
                    continue;
                }
                let not_a = |what: &str, e: serde_json::Error| {
                    let message = without_quoted_text(&message_of(&e));
                    let at = if e.column() > 0 { format!(" (column {})", e.column()) } else { String::new() };
                    data_error(line_number, format!("not {what}: {message}{at}"))
                };
                let parsed = if self.incremental {
                    let wire: ChangeWire<'_> = serde_json::from_str(&line).map_err(|e| {
                        not_a("an incremental export line {\"Metadata\": {…}, \"Keys\": {…}, \"NewImage\": {…}}", e)
                    })?;
                    ExportLine::Change(wire.check().map_err(|m| data_error(line_number, m))?)
                } else {
                    let wire: LineWire<'_> =
                        serde_json::from_str(&line).map_err(|e| not_a("an export item {\"Item\": {…}}", e))?;
                    ExportLine::Item(wire.item)
                };
                f(parsed, line.trim_end()).map_err(|m| data_error(line_number, m))?;
                stats.items += 1;
                let read = lines.get_ref().get_ref().bytes;
                if read - reported >= 1 << 20 {
                    progress(read);
                    reported = read;
                }
            }
        }
        // Whatever follows the gzip data is part of the file's checksum too.
        io::copy(&mut hashed, &mut io::sink()).map_err(|source| ExportError::Io { path: self.path.clone(), source })?;
        progress(hashed.bytes);
        let md5 = base64::engine::general_purpose::STANDARD.encode(hashed.md5.finalize());
        Ok((stats, md5))
    }
}
