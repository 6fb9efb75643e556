//! Synthetic DynamoDB exports to S3: a table's items as a full export in `DYNAMODB_JSON`,
//! laid out and checksummed as the export writes it (`AWSDynamoDB/<export id>/` with
//! `manifest-summary.json`, `manifest-files.json`, their `.md5` files, `_started` and
//! `data/<name>.json.gz` of `{"Item": …}` lines), for the demo, the tests and the benchmark
//! of `ddb-lake backfill`. [`state_at`] gives the items a table holds at an instant from the
//! generator's events.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use aws_lambda_events::event::dynamodb::Event;
use base64::Engine as _;
use md5::{Digest, Md5};
use serde_dynamo::{AttributeValue, Item};

use crate::lambda_json::{push_json_str, write_map};

/// What to write.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The export id, e.g. `01793880000000-5a1c0e42` (digits, `-`, lowercase hex).
    pub export_id: String,
    /// `exportTime`, milliseconds since the epoch.
    pub export_time_millis: i64,
    /// The table's ARN.
    pub table_arn: String,
    /// How many data files to spread the items over (at least 1; more files than items
    /// leaves some empty, as real exports do).
    pub data_files: usize,
}

/// Items by key (`pk`, `sk` as text), as the table holds them just before `before_millis`:
/// every INSERT and MODIFY with an earlier `ApproximateCreationDateTime` sets its item, every
/// REMOVE deletes it.
pub fn state_at(events: &[Event], before_millis: i64) -> BTreeMap<(String, String), Item> {
    let text = |item: &Item, name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(AttributeValue::N(n)) => n.clone(),
        _ => String::new(),
    };
    let mut items = BTreeMap::new();
    for r in events.iter().flat_map(|e| e.records.iter()) {
        if r.change.approximate_creation_date_time.timestamp_millis() >= before_millis {
            continue;
        }
        let key = (text(&r.change.keys, "pk"), text(&r.change.keys, "sk"));
        if r.event_name == "REMOVE" {
            items.remove(&key);
        } else {
            items.insert(key, r.change.new_image.clone());
        }
    }
    items
}

/// The name of data file `index` of an export: 26 characters `a-z2-7`, as the export names
/// them, derived from the export id so that the same export gets the same names.
fn data_file_name(export_id: &str, index: usize) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let digest = Md5::digest(format!("{export_id}/{index}").as_bytes());
    let mut bits: u128 = u128::from_be_bytes(digest.into());
    let mut name = String::with_capacity(26);
    for _ in 0..26 {
        name.push(char::from(ALPHABET[(bits & 31) as usize]));
        bits >>= 5;
    }
    name
}

fn md5_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

/// Items of about `target_bytes` of JSON in all, for an export of a chosen size: the current
/// items of a generated table of 3,000 sync configurations, repeated under new sort keys
/// (`<sk>#copy<round>`), made one at a time.
pub fn sized_items(target_bytes: usize) -> impl Iterator<Item = Item> {
    let events = crate::generate(&crate::SynthOptions { items: 3000, seed: 5, ..Default::default() })
        .expect("the generator's own options are valid");
    let base: Vec<Item> = state_at(&events, i64::MAX).into_values().collect();
    let per_round: usize = base.iter().map(|i| serde_json::to_string(i).map_or(0, |s| s.len())).sum();
    let rounds = target_bytes.div_ceil(per_round.max(1));
    (0..rounds).flat_map(move |round| {
        base.clone().into_iter().map(move |item| {
            let mut map: std::collections::HashMap<String, AttributeValue> = item.into();
            if let Some(AttributeValue::S(sk)) = map.get_mut("sk") {
                sk.push_str(&format!("#copy{round}"));
            }
            Item::from(map)
        })
    })
}

/// Writes `items` as a full export under `root` and returns the export's folder
/// (`root/AWSDynamoDB/<export id>/`). Item `i` goes to data file `i % data_files`; the
/// output is a function of the arguments (gzip at level 6 without a timestamp). Items are
/// written as they come, so an iterator that makes them keeps memory flat.
pub fn write_export<I>(root: &Path, opts: &ExportOptions, items: I) -> io::Result<PathBuf>
where
    I: IntoIterator,
    I::Item: std::borrow::Borrow<Item>,
{
    let dir = root.join("AWSDynamoDB").join(&opts.export_id);
    let lines = items.into_iter().map(|item| {
        let mut line = String::from("{\"Item\":");
        write_map(&mut line, std::borrow::Borrow::borrow(&item));
        line.push_str("}\n");
        line
    });
    let folder = format!("AWSDynamoDB/{}/data", opts.export_id);
    let (manifest, total) = write_data_files(&dir.join("data"), &folder, &opts.export_id, opts.data_files, lines)?;
    let time = time_text(opts.export_time_millis);
    let own = serde_json::json!({"version": "2020-06-30", "startTime": time, "endTime": time, "exportTime": time});
    let summary = summary(&opts.table_arn, &opts.export_id, total, own);
    write_manifests(&dir, &manifest, &summary)?;
    Ok(dir)
}

/// What an incremental export writes of each changed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportView {
    /// `NEW_AND_OLD_IMAGES`: the item after its last write in the window and before the window.
    NewAndOldImages,
    /// `NEW_IMAGE`: the item after its last write in the window only.
    NewImage,
}

impl ExportView {
    /// The view as the summary's `outputView` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
            ExportView::NewImage => "NEW_IMAGE",
        }
    }
}

/// What to write for an incremental export.
#[derive(Debug, Clone)]
pub struct IncrementalOptions {
    /// The export id.
    pub export_id: String,
    /// `exportFromTime` (inclusive), milliseconds since the epoch.
    pub from_millis: i64,
    /// `exportToTime` (exclusive), milliseconds since the epoch.
    pub to_millis: i64,
    /// `outputView`.
    pub view: ExportView,
    /// The table's ARN.
    pub table_arn: String,
    /// How many data files to spread the changed items over (at least 1).
    pub data_files: usize,
}

/// Writes the changes of `events` in the window `[from, to)` as an incremental export under
/// `root`, as DynamoDB lays one out: its manifests in `root/AWSDynamoDB/<export id>/` (the
/// returned folder), its data files in the folder all incremental exports share,
/// `root/AWSDynamoDB/data/`. One line per item whose last write in the window is known:
/// `Metadata.WriteTimestampMicros` (that write's time), `Keys`, `NewImage` unless the write
/// deleted it and, with [`ExportView::NewAndOldImages`], `OldImage` when the item existed
/// before the window. An item created and deleted inside the window is not written.
pub fn write_incremental_export(root: &Path, opts: &IncrementalOptions, events: &[Event]) -> io::Result<PathBuf> {
    let key_of = |keys: &Item| {
        let text = |name: &str| match keys.get(name) {
            Some(AttributeValue::S(s)) => s.clone(),
            _ => String::new(),
        };
        (text("pk"), text("sk"))
    };
    let before = state_at(events, opts.from_millis);
    // The last record of each item in the window, in key order.
    let mut last = BTreeMap::new();
    for r in events.iter().flat_map(|e| e.records.iter()) {
        let t = r.change.approximate_creation_date_time.timestamp_millis();
        if (opts.from_millis..opts.to_millis).contains(&t) {
            last.insert(key_of(&r.change.keys), r);
        }
    }
    let lines = last.iter().filter_map(|(key, r)| {
        let old = before.get(key);
        let new = (r.event_name != "REMOVE").then_some(&r.change.new_image);
        if old.is_none() && new.is_none() {
            return None;
        }
        let micros = r.change.approximate_creation_date_time.timestamp_micros();
        let mut line = format!("{{\"Metadata\":{{\"WriteTimestampMicros\":{{\"N\":\"{micros}\"}}}},\"Keys\":");
        write_map(&mut line, &r.change.keys);
        if let Some(new) = new {
            line.push_str(",\"NewImage\":");
            write_map(&mut line, new);
        }
        if let (ExportView::NewAndOldImages, Some(old)) = (opts.view, old) {
            line.push_str(",\"OldImage\":");
            write_map(&mut line, old);
        }
        line.push_str("}\n");
        Some(line)
    });
    let data = root.join("AWSDynamoDB").join("data");
    let (manifest, total) = write_data_files(&data, "AWSDynamoDB/data", &opts.export_id, opts.data_files, lines)?;
    let dir = root.join("AWSDynamoDB").join(&opts.export_id);
    let (from, to) = (time_text(opts.from_millis), time_text(opts.to_millis));
    let own = serde_json::json!({
        "version": "2023-08-01",
        "startTime": to,
        "endTime": to,
        "exportFromTime": from,
        "exportToTime": to,
        "outputView": opts.view.as_str(),
        "exportType": "INCREMENTAL_EXPORT",
    });
    let summary = summary(&opts.table_arn, &opts.export_id, total, own);
    write_manifests(&dir, &manifest, &summary)?;
    Ok(dir)
}

/// The text of `manifest-summary.json` of the export `export_id` of `table_arn` holding
/// `items` items: the fields every export has, and the kind's `own` (version, times).
fn summary(table_arn: &str, export_id: &str, items: u64, own: serde_json::Value) -> String {
    let mut summary = serde_json::json!({
        "exportArn": format!("{table_arn}/export/{export_id}"),
        "tableArn": table_arn,
        "tableId": "00000000-0000-4000-8000-000000000000",
        "s3Bucket": "ddb-lake-synthetic-exports",
        "s3Prefix": null,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": null,
        "manifestFilesS3Key": format!("AWSDynamoDB/{export_id}/manifest-files.json"),
        "billedSizeBytes": 0,
        "itemCount": items,
        "outputFormat": "DYNAMODB_JSON",
    });
    if let (Some(all), serde_json::Value::Object(own)) = (summary.as_object_mut(), own) {
        all.extend(own);
    }
    summary.to_string()
}

/// `millis` as an export summary writes a time.
fn time_text(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Writes `lines` into `files` gzip'd data files in `data_dir` (line `i` into file
/// `i % files`), named after `export_id`; returns the text of `manifest-files.json` (keys
/// `<folder>/<name>.json.gz`) and the number of lines.
fn write_data_files(
    data_dir: &Path,
    folder: &str,
    export_id: &str,
    files: usize,
    lines: impl Iterator<Item = String>,
) -> io::Result<(String, u64)> {
    std::fs::create_dir_all(data_dir)?;
    let files = files.max(1);
    let mut encoders: Vec<(flate2::write::GzEncoder<io::BufWriter<std::fs::File>>, u64)> = Vec::with_capacity(files);
    let names: Vec<String> = (0..files).map(|i| data_file_name(export_id, i)).collect();
    for name in &names {
        let file = std::fs::File::create(data_dir.join(format!("{name}.json.gz")))?;
        let gz = flate2::GzBuilder::new().mtime(0).write(io::BufWriter::new(file), flate2::Compression::new(6));
        encoders.push((gz, 0));
    }
    for (i, line) in lines.enumerate() {
        let (gz, count) = &mut encoders[i % files];
        gz.write_all(line.as_bytes())?;
        *count += 1;
    }
    let mut manifest = String::new();
    let mut total = 0;
    for ((gz, count), name) in encoders.into_iter().zip(&names) {
        gz.finish()?.flush()?;
        let key = format!("{folder}/{name}.json.gz");
        let body = std::fs::read(data_dir.join(format!("{name}.json.gz")))?;
        let md5 = Md5::digest(&body);
        let etag: String = md5.iter().map(|b| format!("{b:02x}")).collect();
        manifest.push_str(&format!("{{\"itemCount\":{count},\"md5Checksum\":"));
        push_json_str(&mut manifest, &md5_base64(&body));
        manifest.push_str(&format!(",\"etag\":\"{etag}-1\",\"dataFileS3Key\":"));
        push_json_str(&mut manifest, &key);
        manifest.push_str("}\n");
        total += count;
    }
    Ok((manifest, total))
}

/// Writes the manifests of the export in `dir` (and `_started`), each with its `.md5`.
fn write_manifests(dir: &Path, files: &str, summary: &str) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("_started"), b"")?;
    for (name, text) in [("manifest-files", files), ("manifest-summary", summary)] {
        std::fs::write(dir.join(format!("{name}.json")), text)?;
        std::fs::write(dir.join(format!("{name}.md5")), md5_base64(text.as_bytes()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{generate, SynthOptions};

    #[test]
    fn the_state_follows_the_history_and_the_export_holds_it() {
        let events = generate(&SynthOptions { items: 60, days: 3, ..SynthOptions::default() }).unwrap();
        let records: Vec<_> = events.iter().flat_map(|e| e.records.iter()).collect();
        let last = records.iter().map(|r| r.change.approximate_creation_date_time.timestamp_millis()).max().unwrap();
        let end = state_at(&events, last + 1);
        // Every item inserted and not removed is there, with its last new image.
        let removed = records.iter().filter(|r| r.event_name == "REMOVE").count();
        let inserted = records.iter().filter(|r| r.event_name == "INSERT").count();
        assert_eq!(end.len(), inserted - removed);
        assert!(state_at(&events, 0).is_empty());

        let tmp = tempfile::tempdir().unwrap();
        let opts = ExportOptions {
            export_id: "01793880000000-0a1b2c3d".into(),
            export_time_millis: last + 1,
            table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations".into(),
            data_files: 4,
        };
        let dir = write_export(tmp.path(), &opts, end.values()).unwrap();
        let manifest = std::fs::read_to_string(dir.join("manifest-files.json")).unwrap();
        let mut lines = 0;
        for entry in manifest.lines() {
            let v: serde_json::Value = serde_json::from_str(entry).unwrap();
            let key = v["dataFileS3Key"].as_str().unwrap();
            let name = key.strip_prefix("AWSDynamoDB/01793880000000-0a1b2c3d/data/").unwrap();
            assert_eq!(name.len(), "xxxxxxxxxxxxxxxxxxxxxxxxxx.json.gz".len(), "{name}");
            let body = std::fs::read(dir.join("data").join(name)).unwrap();
            assert_eq!(v["md5Checksum"], md5_base64(&body));
            let mut text = String::new();
            io::Read::read_to_string(&mut flate2::read::GzDecoder::new(body.as_slice()), &mut text).unwrap();
            for l in text.lines() {
                let item: serde_json::Value = serde_json::from_str(l).unwrap();
                assert!(item["Item"]["pk"]["S"].is_string(), "{l}");
                lines += 1;
            }
            assert_eq!(v["itemCount"].as_u64(), Some(text.lines().count() as u64));
        }
        assert_eq!(lines, end.len());
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest-summary.json")).unwrap()).unwrap();
        assert_eq!(summary["itemCount"].as_u64(), Some(end.len() as u64));
        // Same arguments, same bytes.
        let again = tempfile::tempdir().unwrap();
        let dir2 = write_export(again.path(), &opts, end.values()).unwrap();
        assert_eq!(
            std::fs::read(dir.join("manifest-files.json")).unwrap(),
            std::fs::read(dir2.join("manifest-files.json")).unwrap()
        );
    }

    #[test]
    fn an_incremental_export_holds_each_changed_items_last_write_in_its_window() {
        let events = generate(&SynthOptions { items: 60, days: 3, ..SynthOptions::default() }).unwrap();
        let records: Vec<_> = events.iter().flat_map(|e| e.records.iter()).collect();
        let time = |r: &aws_lambda_events::event::dynamodb::EventRecord| {
            r.change.approximate_creation_date_time.timestamp_millis()
        };
        let from = time(records[0]) + 86_400_000;
        let to = from + 86_400_000;
        let tmp = tempfile::tempdir().unwrap();
        for view in [ExportView::NewAndOldImages, ExportView::NewImage] {
            let opts = IncrementalOptions {
                export_id: format!("{to:014}-0000000{}", view as u8),
                from_millis: from,
                to_millis: to,
                view,
                table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/t".into(),
                data_files: 2,
            };
            let dir = write_incremental_export(tmp.path(), &opts, &events).unwrap();
            let summary: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("manifest-summary.json")).unwrap()).unwrap();
            assert_eq!(summary["exportType"], "INCREMENTAL_EXPORT");
            assert_eq!(summary["outputView"], view.as_str());
            let mut lines: Vec<serde_json::Value> = Vec::new();
            for entry in std::fs::read_to_string(dir.join("manifest-files.json")).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(entry).unwrap();
                let key = v["dataFileS3Key"].as_str().unwrap();
                let name = key.strip_prefix("AWSDynamoDB/data/").expect("the shared data folder");
                let body = std::fs::read(tmp.path().join("AWSDynamoDB/data").join(name)).unwrap();
                assert_eq!(v["md5Checksum"], md5_base64(&body));
                let mut text = String::new();
                io::Read::read_to_string(&mut flate2::read::GzDecoder::new(body.as_slice()), &mut text).unwrap();
                lines.extend(text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()));
            }
            // One line per item whose last write in the window left it or deleted an item that
            // existed before; its time is that write's.
            let before = state_at(&events, from);
            let mut last = BTreeMap::new();
            for r in records.iter().filter(|r| (from..to).contains(&time(r))) {
                let key = (format!("{:?}", r.change.keys.get("pk")), format!("{:?}", r.change.keys.get("sk")));
                last.insert(key, *r);
            }
            let existed = |r: &aws_lambda_events::event::dynamodb::EventRecord| {
                let text = |n: &str| match r.change.keys.get(n) {
                    Some(AttributeValue::S(s)) => s.clone(),
                    _ => String::new(),
                };
                before.contains_key(&(text("pk"), text("sk")))
            };
            let expected = last.values().filter(|r| r.event_name != "REMOVE" || existed(r)).count();
            assert_eq!(lines.len(), expected);
            assert!(lines.iter().any(|l| l.get("NewImage").is_none()), "a delete");
            for l in &lines {
                let micros: i64 = l["Metadata"]["WriteTimestampMicros"]["N"].as_str().unwrap().parse().unwrap();
                assert!((from * 1000..to * 1000).contains(&micros));
                assert!(!(l.get("OldImage").is_some() && view == ExportView::NewImage), "NEW_IMAGE has no OldImage");
            }
        }
    }
}
