//! Partitions and object keys: where every object of a batch goes, relative to the lake prefix.
//!
//! `<table>/dt=YYYY-MM-DD/<source>_<first-seq>_<last-seq>.tsv.gz` for rows and
//! `_quarantine/<source>_<first-seq>_<last-seq>.jsonl.gz` for records that could not be
//! normalized; a snapshot's objects are named `snapshot_<snapshot id>_<data file>_<part>`
//! instead, and its `snapshots` rows `snapshot_<snapshot id>_<data file>`. Keys are a pure
//! function of the batch (or of the data file), so a retried batch overwrites its own
//! objects. Every component that could come from data goes through [`escape_component`],
//! so no value can add a folder, climb out of one (`..`), forge a `key=value` partition or
//! smuggle a control character into a key. Called by the writer's batch assembly; the sinks
//! take keys as they are. Sequence numbers are compared here too ([`compare_sequence_numbers`]):
//! the first and last of a batch name its objects.

use std::fmt;

use sha2::{Digest, Sha256};

/// Folder (under the lake prefix) that holds quarantined records.
pub const QUARANTINE_DIR: &str = "_quarantine";
/// Hive's name for a partition whose value is empty.
pub const EMPTY_COMPONENT: &str = "__HIVE_DEFAULT_PARTITION__";
/// Longest escaped component kept whole; longer ones are cut and get a hash suffix.
const MAX_COMPONENT: usize = 160;

/// Escapes text so that it is one safe key component: ASCII letters, digits, `_` and `-`
/// stay; every other byte becomes `%XX`. Empty text becomes `__HIVE_DEFAULT_PARTITION__`;
/// very long text is cut at 160 bytes and gets `~` and 16 hex digits of its SHA-256.
pub fn escape_component(text: &str) -> String {
    if text.is_empty() {
        return EMPTY_COMPONENT.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
    if out.len() > MAX_COMPONENT {
        let mut cut = MAX_COMPONENT;
        // Do not split a %XX group.
        while out.as_bytes()[cut - 1] == b'%' || out.as_bytes()[cut - 2] == b'%' {
            cut -= 1;
        }
        out.truncate(cut);
        let digest = Sha256::digest(text.as_bytes());
        out.push('~');
        for b in &digest[..8] {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// The UTC day of a time given in milliseconds since the epoch, as `YYYY-MM-DD`.
///
/// Called once per record, so the digits of years 0000-9999 are written as the timestamps'
/// are (`rowfmt::date_digits`) rather than by chrono's `format` (about 1% of a
/// batch's time in the profile of issue 43); chrono writes the years outside that range.
pub fn day_of(event_time_millis: i64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(event_time_millis) else {
        return EMPTY_COMPONENT.to_owned();
    };
    match crate::rowfmt::date_digits(&t) {
        Some(date) => date.iter().map(|&b| char::from(b)).collect(),
        None => t.format("%Y-%m-%d").to_string(),
    }
}

/// Identity of a batch: where it came from and its sequence-number range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchId {
    /// The shard id, or a short hash of the stream ARN when the shard is not known
    /// (Lambda does not pass the shard id to the function).
    pub source: String,
    /// Lowest sequence number in the batch.
    pub first_sequence: String,
    /// Highest sequence number in the batch.
    pub last_sequence: String,
}

impl BatchId {
    /// A source name from a stream ARN: `s` and 12 hex digits of its SHA-256.
    pub fn source_from_arn(arn: &str) -> String {
        let digest = Sha256::digest(arn.as_bytes());
        let mut s = String::from("s");
        for b in &digest[..6] {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// The identity of one batch: its source (`source` if given, else one from the stream
    /// ARN, else `local`) and the lowest and highest of its records' sequence numbers,
    /// compared as numbers (`None` for a record whose number could not be read). When no
    /// record carried one, the range is `none` and 16 hex digits of the SHA-256 of the
    /// event's text, so the same event still gets the same names.
    pub fn of_batch(
        sequence_numbers: &[Option<String>],
        source: Option<&str>,
        stream_arn: Option<&str>,
        event_json: &str,
    ) -> BatchId {
        let source = match (source, stream_arn) {
            (Some(s), _) => s.to_owned(),
            (None, Some(a)) => BatchId::source_from_arn(a),
            (None, None) => "local".to_owned(),
        };
        let mut known = sequence_numbers.iter().flatten();
        match known.next() {
            Some(first) => {
                let (mut lo, mut hi) = (first, first);
                for s in known {
                    if compare_sequence_numbers(s, lo).is_lt() {
                        lo = s;
                    }
                    if compare_sequence_numbers(s, hi).is_gt() {
                        hi = s;
                    }
                }
                BatchId { source, first_sequence: lo.clone(), last_sequence: hi.clone() }
            }
            None => {
                let d = Sha256::digest(event_json.as_bytes());
                let h: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
                BatchId { source, first_sequence: "none".into(), last_sequence: h }
            }
        }
    }

    /// The object name stem: `<source>_<first>_<last>`.
    pub fn stem(&self) -> String {
        // `_` is kept by escaping, so escaping the joined text equals joining the escaped
        // parts, and the length bound applies to the whole name.
        escape_component(&format!("{}_{}_{}", self.source, self.first_sequence, self.last_sequence))
    }
}

/// What the object names of a snapshot start with (a stream batch's start with its shard).
const SNAPSHOT_STEM: &str = "snapshot";
/// How the name of a `compactions` row starts.
const COMPACTION_STEM: &str = "compaction_";

/// The extension of a `compactions` row the Athena runner writes (uncompressed).
pub const MARKER_TEXT_EXTENSION: &str = "tsv";

/// The day of a `dt=YYYY-MM-DD` partition folder name, else `None`.
fn day_of_folder(folder: &str) -> Option<&str> {
    let day = folder.strip_prefix("dt=")?;
    let ok = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    ok.then_some(day)
}

/// Identity of one part of one data file of a snapshot: `snapshot_<snapshot id>_<data
/// file>_<part>`. A function of the input alone, so a data file written again overwrites its
/// own objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPart {
    /// The snapshot (an export id).
    pub snapshot_id: String,
    /// The data file's name.
    pub data_file: String,
    /// Which part of the data file (0, 1, …: a data file's rows are cut into parts of a
    /// bounded size, always at the same items).
    pub part: u32,
}

impl SnapshotPart {
    /// The object name stem.
    pub fn stem(&self) -> String {
        escape_component(&format!("{SNAPSHOT_STEM}_{}_{}_{:04}", self.snapshot_id, self.data_file, self.part))
    }
}

/// A key relative to the lake prefix, made only of safe components joined by `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// The key of a table's rows for one day of one batch. `table` must be a validated
    /// table name (the spec guarantees it); it is escaped all the same.
    pub fn rows(table: &str, day: &str, batch: &BatchId) -> Self {
        Self::in_partition(table, day, &batch.stem())
    }

    /// The key of a batch's quarantined records.
    pub fn quarantine(batch: &BatchId) -> Self {
        ObjectKey(format!("{QUARANTINE_DIR}/{}.jsonl.gz", batch.stem()))
    }

    /// The key of a table's rows from one part of one data file of a snapshot.
    pub fn snapshot_rows(table: &str, day: &str, part: &SnapshotPart) -> Self {
        Self::in_partition(table, day, &part.stem())
    }

    /// The key of the items of one part of a snapshot's data file that could not be
    /// normalized.
    pub fn snapshot_quarantine(part: &SnapshotPart) -> Self {
        ObjectKey(format!("{QUARANTINE_DIR}/{}.jsonl.gz", part.stem()))
    }

    /// The key of the `snapshots` row of one data file of a snapshot.
    pub fn snapshot_marker(day: &str, snapshot_id: &str, data_file: &str) -> Self {
        let stem = escape_component(&format!("{SNAPSHOT_STEM}_{snapshot_id}_{data_file}"));
        Self::in_partition(crate::schema::BuiltInTable::Snapshots.name(), day, &stem)
    }

    /// The key of a `compactions` row: `compactions/dt=<through>/compaction_<id>.<ext>`.
    pub fn compaction_marker(through: &str, compaction_id: &str) -> Self {
        let stem = escape_component(&format!("{COMPACTION_STEM}{compaction_id}"));
        Self::in_partition(crate::schema::BuiltInTable::Compactions.name(), through, &stem)
    }

    fn in_partition(table: &str, day: &str, stem: &str) -> Self {
        ObjectKey(format!(
            "{}/dt={}/{stem}.{}",
            escape_component(table),
            escape_component(day),
            crate::rowfmt::OBJECT_EXTENSION
        ))
    }

    /// The key of a quarantine object found by listing the quarantine folder: `name` must be a
    /// name this module gives (one safe component ending in `.jsonl.gz`), else `None`.
    pub fn quarantine_named(name: &str) -> Option<Self> {
        let stem = name.strip_suffix(".jsonl.gz")?;
        let safe = !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-%~".contains(&b));
        safe.then(|| ObjectKey(format!("{QUARANTINE_DIR}/{name}")))
    }

    /// The key of a `snapshots` object found by listing the table's folder: `day_folder` must
    /// be `dt=YYYY-MM-DD` and `name` a marker's name this module gives (one safe component
    /// starting `snapshot_`, ending in the object extension), else `None`.
    pub fn snapshot_marker_named(day_folder: &str, name: &str) -> Option<Self> {
        day_of_folder(day_folder)?;
        let stem = name.strip_prefix(SNAPSHOT_STEM)?.strip_prefix('_')?;
        let stem = stem.strip_suffix(crate::rowfmt::OBJECT_EXTENSION)?.strip_suffix('.')?;
        let safe = !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-%~.".contains(&b));
        safe.then(|| ObjectKey(format!("{}/{day_folder}/{name}", crate::schema::BuiltInTable::Snapshots.name())))
    }

    /// The key of a `compactions` row as the Athena runner writes it (the compaction state
    /// machine puts it with S3 PutObject, which cannot gzip):
    /// `compactions/dt=<through>/compaction_<id>.tsv`, the same row uncompressed.
    pub fn compaction_marker_text(through: &str, compaction_id: &str) -> Self {
        let table = escape_component(crate::schema::BuiltInTable::Compactions.name());
        let stem = escape_component(&format!("{COMPACTION_STEM}{compaction_id}"));
        ObjectKey(format!("{table}/dt={}/{stem}.{MARKER_TEXT_EXTENSION}", escape_component(through)))
    }

    /// The day of a `compactions` row found by listing (its `dt=<day>` folder and its name, as
    /// [`ObjectKey::compaction_marker`] or [`ObjectKey::compaction_marker_text`] give them),
    /// else `None`.
    pub fn compaction_marker_day<'a>(day_folder: &'a str, name: &str) -> Option<&'a str> {
        let day = day_of_folder(day_folder)?;
        let ends =
            name.ends_with(crate::rowfmt::OBJECT_EXTENSION) || name.ends_with(&format!(".{MARKER_TEXT_EXTENSION}"));
        (name.starts_with(COMPACTION_STEM) && ends).then_some(day)
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's folders and name.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Orders decimal sequence numbers as numbers (they may differ in length).
pub fn compare_sequence_numbers(a: &str, b: &str) -> std::cmp::Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Ordering;

    #[test]
    fn compaction_rows_are_found_gzipped_or_as_the_athena_runner_writes_them() {
        let id = "2026-12-03_20261205T233900000Z";
        for key in [ObjectKey::compaction_marker("2026-12-03", id), ObjectKey::compaction_marker_text("2026-12-03", id)]
        {
            let parts: Vec<&str> = key.components().collect();
            assert_eq!(parts[..2], ["compactions", "dt=2026-12-03"], "{key}");
            assert_eq!(ObjectKey::compaction_marker_day(parts[1], parts[2]), Some("2026-12-03"), "{key}");
        }
        assert!(ObjectKey::compaction_marker_text("2026-12-03", id).as_str().ends_with(&format!("{id}.tsv")));
        for (folder, name) in [
            ("dt=2026-12-03", "compaction_x.csv"),
            ("dt=2026-12-03", "20261205_uuid.tsv"),
            ("dt=2026-1-03", "compaction_x.tsv"),
            ("2026-12-03", "compaction_x.tsv.gz"),
        ] {
            assert_eq!(ObjectKey::compaction_marker_day(folder, name), None, "{folder}/{name}");
        }
    }

    #[test]
    fn only_names_this_module_gives_are_quarantine_keys() {
        let b = BatchId { source: "shardId-1".into(), first_sequence: "1".into(), last_sequence: "2".into() };
        let name = ObjectKey::quarantine(&b).as_str().rsplit('/').next().unwrap().to_owned();
        assert_eq!(ObjectKey::quarantine_named(&name), Some(ObjectKey::quarantine(&b)));
        for bad in ["../x.jsonl.gz", "a/b.jsonl.gz", ".jsonl.gz", "x.tsv.gz", "a b.jsonl.gz"] {
            assert_eq!(ObjectKey::quarantine_named(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_batch_is_named_by_its_numeric_sequence_range() {
        let seqs = [Some("900".to_owned()), None, Some("10000".to_owned()), Some("0950".to_owned())];
        let b = BatchId::of_batch(&seqs, None, Some("arn:aws:dynamodb:…/stream/x"), "{}");
        assert_eq!((b.first_sequence.as_str(), b.last_sequence.as_str()), ("900", "10000"));
        assert_eq!(b.source, BatchId::source_from_arn("arn:aws:dynamodb:…/stream/x"));
        assert_eq!(BatchId::of_batch(&seqs, Some("shardId-1"), Some("arn:x"), "{}").source, "shardId-1");
        assert_eq!(BatchId::of_batch(&seqs, None, None, "{}").source, "local");
        // No sequence number at all: named by the event's text, the first 8 bytes of its
        // SHA-256 (`printf '{"Records":[]}' | sha256sum`).
        let unnamed = BatchId::of_batch(&[None], None, None, r#"{"Records":[]}"#);
        assert_eq!((unnamed.first_sequence.as_str(), unnamed.last_sequence.as_str()), ("none", "26a792db36a3afba"));
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert_eq!(compare_sequence_numbers("99", "100"), Ordering::Less);
        assert_eq!(compare_sequence_numbers("0100", "100"), Ordering::Equal);
        assert_eq!(compare_sequence_numbers("1234567890123456789012345678901234567890", "999"), Ordering::Greater);
    }

    #[test]
    fn layout() {
        let b = BatchId { source: "shardId-00001".into(), first_sequence: "100".into(), last_sequence: "200".into() };
        assert_eq!(
            ObjectKey::rows("changes", "2026-11-01", &b).as_str(),
            "changes/dt=2026-11-01/shardId-00001_100_200.tsv.gz"
        );
        assert_eq!(ObjectKey::quarantine(&b).as_str(), "_quarantine/shardId-00001_100_200.jsonl.gz");
        assert_eq!(day_of(1_700_000_000_000), "2023-11-14");
    }

    proptest! {
        /// The day is what chrono's format writes, for any time chrono holds (years with a
        /// sign before 0000 and after 9999), and the empty component beyond.
        #[test]
        fn days_are_written_as_chrono_formats_them(millis in prop_oneof![
            any::<i64>(),
            -62_167_219_200_000i64..253_402_300_800_000,
            Just(i64::MIN), Just(i64::MAX), Just(0i64), Just(-1i64),
            Just(-62_167_219_200_001i64), Just(253_402_300_799_999i64), Just(253_402_300_800_000i64),
        ]) {
            let want = match chrono::DateTime::from_timestamp_millis(millis) {
                Some(t) => t.format("%Y-%m-%d").to_string(),
                None => EMPTY_COMPONENT.to_owned(),
            };
            prop_assert_eq!(day_of(millis), want);
        }
    }

    #[test]
    fn hostile_values_stay_in_their_folder() {
        assert_eq!(escape_component("../x"), "%2E%2E%2Fx");
        assert_eq!(escape_component("a=b"), "a%3Db");
        assert_eq!(escape_component(""), EMPTY_COMPONENT);
        assert_eq!(escape_component("\u{0}\n"), "%00%0A");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Whatever the source and sequence text, the key has exactly three components,
        /// the first two fixed, and no component is empty, `.`/`..`, holds `/`, `=` (past
        /// the partition's own), a control character or anything but safe bytes.
        #[test]
        fn keys_never_escape(source in any::<String>(), first in any::<String>(), last in "\\PC*", day in any::<String>()) {
            let b = BatchId { source, first_sequence: first, last_sequence: last };
            let key = ObjectKey::rows("attributes", &day, &b);
            let parts: Vec<&str> = key.components().collect();
            prop_assert_eq!(parts.len(), 3);
            prop_assert_eq!(parts[0], "attributes");
            prop_assert!(parts[1].starts_with("dt="));
            prop_assert!(!parts[1][3..].contains('='));
            for p in &parts {
                prop_assert!(!p.is_empty() && *p != "." && *p != "..");
                prop_assert!(p.bytes().all(|c| c.is_ascii_alphanumeric() || b"_-%=.~".contains(&c)));
                prop_assert!(p.len() <= 400);
            }
            prop_assert!(!key.as_str().contains(".."));
        }

        /// Distinct inputs give distinct components (escaping is injective below the cut).
        #[test]
        fn escaping_is_injective(a in "\\PC{0,40}", b in "\\PC{0,40}") {
            prop_assume!(a != b);
            prop_assert_ne!(escape_component(&a), escape_component(&b));
        }
    }
}
