//! The backfill worker: one data file of a DynamoDB export in S3 → its snapshot rows in the
//! lake, as one child of the backfill state machine's Distributed Map runs it.
//!
//! The event is `{"export": "s3://BUCKET/PREFIX/AWSDynamoDB/<export id>", "dataFile": <one
//! line of the export's manifest-files.json>}` (the Map's ItemSelector adds the export to each
//! line its ItemReader reads). The same binary and configuration as the stream function: the
//! worker must write exactly the lake the stream writes (spec, location, redaction key), and
//! one artifact is one thing to build, deploy and keep in step. The work is that of `ddb-lake
//! backfill` for one data file, by the same library calls: the manifests checked, the file read
//! through (MD5, gzip, items, key attributes; nothing written if it fails), then its rows part
//! by part and its `snapshots` row last. Running it again rewrites the same objects.

use std::path::PathBuf;
use std::sync::Arc;

use ddb_lake_writer::export::{s3_export_folder, Export, S3Files, Source};
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::s3::S3Sink;
use ddb_lake_writer::sink::{LakeSink, SinkError};
use ddb_lake_writer::snapshot::{Snapshot, SnapshotError, DEFAULT_PART_BYTES};
use lambda_runtime::Error;
use serde::Deserialize;
use serde_json::value::RawValue;

/// A backfill worker's event.
#[derive(Deserialize)]
pub struct BackfillEvent {
    /// `s3://BUCKET/PREFIX/AWSDynamoDB/<export id>`: the export's folder.
    pub export: String,
    /// One line of the export's `manifest-files.json`.
    #[serde(rename = "dataFile")]
    pub data_file: Box<RawValue>,
}

impl BackfillEvent {
    /// The event, if `payload` is one (a stream batch is not).
    pub fn of(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }
}

/// Backfills the event's data file into the lake `sink` writes to, reading the export with
/// `s3`. The export's bytes are read synchronously (the data file reader is a `Read`), each
/// chunk awaited on the function's runtime from this worker thread (`block_in_place`: the
/// runtime's other thread goes on driving its connections), so the function's runtime must be
/// the multi-threaded one.
pub fn run(
    normalizer: &Normalizer<'_>,
    margin_seconds: u32,
    s3: &aws_sdk_s3::Client,
    sink: &S3Sink,
    event: &BackfillEvent,
) -> Result<serde_json::Value, Error> {
    tokio::task::block_in_place(|| one_file(normalizer, margin_seconds, s3, sink, event))
}

fn one_file(
    normalizer: &Normalizer<'_>,
    margin_seconds: u32,
    s3: &aws_sdk_s3::Client,
    sink: &S3Sink,
    event: &BackfillEvent,
) -> Result<serde_json::Value, Error> {
    let Some((bucket, prefix)) = s3_export_folder(&event.export) else {
        return Err(format!(
            "export {:?} is not s3://BUCKET/PREFIX/AWSDynamoDB/<export id>, the folder holding manifest-summary.json",
            event.export
        )
        .into());
    };
    let rt = tokio::runtime::Handle::current();
    let source = Source::S3(Arc::new(S3Files::new(s3.clone(), bucket, rt.clone())));
    let dir = PathBuf::from(format!("s3://{bucket}/{prefix}"));
    let (export, data_files) = Export::open_one(&dir, source, event.data_file.get())?;
    let snapshot = Snapshot { data_files, ..Snapshot::of_export(&export, margin_seconds) };
    normalizer.check_snapshot_time(&snapshot, &export)?;
    let file = &export.files[0];
    // First the whole file read through: nothing is written for a file that fails a check.
    let checked = normalizer.check_snapshot_file(file, |_| {})?;
    let (mut objects, mut quarantined) = (0usize, 0usize);
    // Its rows, then its `snapshots` row last (the views use a snapshot only when every data
    // file has its row).
    let stats = normalizer
        .write_snapshot_file(
            &snapshot,
            file,
            DEFAULT_PART_BYTES,
            |_| {},
            |part| {
                rt.block_on(async {
                    for o in &part.objects {
                        sink.put(&o.key, &o.body).await?;
                    }
                    Ok::<_, SinkError>(())
                })?;
                objects += part.objects.len();
                quarantined += part.quarantined.len();
                Ok(())
            },
        )
        .map_err(|e: SnapshotError<SinkError>| -> Error {
            format!("data file {}: {e}; not every object was written: run this child again", file.path.display()).into()
        })?;
    tracing::info!(data_file = file.name.as_str(), items = stats.items, objects, quarantined, "data file backfilled");
    Ok(serde_json::json!({
        "exportId": export.export_id,
        "dataFile": file.name,
        "items": checked.items,
        "objects": objects,
        "quarantined": quarantined,
    }))
}
