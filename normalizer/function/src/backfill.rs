//! The backfill state machine's steps: what the function does when Step Functions invokes it
//! for a DynamoDB export in S3 (cdk/lib/backfill.ts deploys the machine; docs/snapshots.md).
//!
//! Three events, each naming the export's folder `s3://BUCKET/PREFIX/AWSDynamoDB/<export id>`:
//!
//! - `{"step": "plan", "export": …}`: the manifests read and checked (a full `DYNAMODB_JSON`
//!   export, counts that agree, data file keys that name files, an export time the lake can
//!   partition), no data file looked up; answers where `manifest-files.json` is, for the
//!   Distributed Map's ItemReader, and the export's figures.
//! - `{"export": …, "dataFile": <one line of manifest-files.json>}`: one child of the Map (its
//!   ItemSelector adds the export to each line the ItemReader reads). The work of `ddb-lake
//!   backfill` for one data file, by the same library calls: the file read through (MD5, gzip,
//!   items, key attributes; nothing written if it fails), then its rows part by part and its
//!   `snapshots` row last. Running it again rewrites the same objects.
//! - `{"step": "finish", "export": …}`: the snapshot counts once every data file has its
//!   `snapshots` row; this step lists them and fails, naming the data files without one, when
//!   any is missing (children that failed past the Map's tolerated failures), so that an
//!   execution succeeds only when the snapshot counts.
//!
//! The same binary and configuration as the stream function: the backfill must write exactly
//! the lake the stream writes (spec, location, redaction key), and one artifact is one thing to
//! build, deploy and keep in step. The CDK app deploys it a second time as the backfill worker,
//! with its own role (it reads exports, the stream function does not), memory and timeout.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ddb_lake_core::object_key::ObjectKey;

use ddb_lake_writer::chain::{self, Link};
use ddb_lake_writer::export::{s3_export_folder, Export, S3Files, Source};
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::s3::S3Sink;
use ddb_lake_writer::sink::{LakeSink, SinkError};
use ddb_lake_writer::snapshot::{Snapshot, SnapshotError, DEFAULT_PART_BYTES};
use lambda_runtime::Error;
use serde::Deserialize;
use serde_json::value::RawValue;

/// What a backfill event asks for.
pub enum Step {
    /// Check the export's manifests and say where its data files are listed.
    Plan,
    /// Backfill one data file: a line of `manifest-files.json`.
    File(Box<RawValue>),
    /// Check that every data file has its `snapshots` row.
    Finish,
}

/// An event of the backfill state machine.
pub struct BackfillEvent {
    /// `s3://BUCKET/PREFIX/AWSDynamoDB/<export id>`: the export's folder.
    pub export: String,
    /// What to do.
    pub step: Step,
}

#[derive(Deserialize)]
struct EventWire {
    export: Option<String>,
    step: Option<String>,
    #[serde(rename = "dataFile")]
    data_file: Option<Box<RawValue>>,
}

impl BackfillEvent {
    /// The event, if `payload` is one (it names an `export`; a stream batch does not), or
    /// what is wrong with it.
    pub fn of(payload: &str) -> Option<Result<Self, Error>> {
        let wire: EventWire = serde_json::from_str(payload).ok()?;
        let export = wire.export?;
        let step = match (wire.step.as_deref(), wire.data_file) {
            (None | Some("file"), Some(line)) => Step::File(line),
            (Some("plan"), None) => Step::Plan,
            (Some("finish"), None) => Step::Finish,
            (step, line) => {
                let got = match (step, line) {
                    (Some(s), Some(_)) => format!("step {s:?} with a dataFile"),
                    (Some(s), None) => format!("step {s:?}"),
                    (None, _) => "neither a step nor a dataFile".to_owned(),
                };
                return Some(Err(format!(
                    "a backfill event is {{\"step\": \"plan\" or \"finish\", \"export\": …}} or {{\"export\": …, \
                     \"dataFile\": <a line of manifest-files.json>}}; this one has {got}"
                )
                .into()));
            }
        };
        Some(Ok(BackfillEvent { export, step }))
    }
}

/// What the backfill steps use.
pub struct Backfill<'a> {
    /// The lake's normalizer (the stream function's).
    pub normalizer: &'a Normalizer<'a>,
    /// The spec's `backfill.margin_seconds`.
    pub margin_seconds: u32,
    /// The S3 client the export is read with.
    pub s3: &'a aws_sdk_s3::Client,
    /// The lake.
    pub sink: &'a S3Sink,
    /// The only exports these steps read (`DDB_LAKE_EXPORT_LOCATION`), if set.
    pub export_location: Option<&'a (String, String)>,
}

/// Most data files a failed finish names (the rest are counted).
const NAMED_MISSING: usize = 10;

impl Backfill<'_> {
    /// Runs the event's step. The export's bytes are read synchronously (the data file reader
    /// is a `Read`), each chunk awaited on the function's runtime from this worker thread
    /// (`block_in_place`: the runtime's other thread goes on driving its connections), so the
    /// function's runtime must be the multi-threaded one.
    pub fn run(&self, event: &BackfillEvent) -> Result<serde_json::Value, Error> {
        tokio::task::block_in_place(|| {
            let (bucket, prefix) = self.folder(&event.export)?;
            let rt = tokio::runtime::Handle::current();
            let source = Source::S3(Arc::new(S3Files::new(self.s3.clone(), bucket, rt.clone())));
            let dir = PathBuf::from(format!("s3://{bucket}/{prefix}"));
            match &event.step {
                Step::Plan => self.plan(bucket, prefix, &dir, source, &rt),
                Step::File(line) => self.one_file(&dir, source, line.get(), &rt),
                Step::Finish => self.finish(&dir, source, &rt),
            }
        })
    }

    /// The bucket and prefix of `export`, if it is an export folder this function may read.
    fn folder<'e>(&self, export: &'e str) -> Result<(&'e str, &'e str), Error> {
        let Some((bucket, prefix)) = s3_export_folder(export) else {
            return Err(format!(
                "export {export:?} is not s3://BUCKET/PREFIX/AWSDynamoDB/<export id>, the folder holding manifest-summary.json"
            )
            .into());
        };
        if let Some((allowed_bucket, allowed_prefix)) = self.export_location {
            let under = allowed_prefix.is_empty()
                || prefix.strip_prefix(allowed_prefix.as_str()).is_some_and(|rest| rest.starts_with('/'));
            if bucket != allowed_bucket || !under {
                return Err(format!(
                    "export {export} is not under s3://{allowed_bucket}/{allowed_prefix}, the only exports this \
                     deployment reads: export the table there (aws dynamodb export-table-to-point-in-time \
                     --s3-bucket {allowed_bucket} --s3-prefix {allowed_prefix} …), or deploy with -c exportBucket=… \
                     -c exportPrefix=…"
                )
                .into());
            }
        }
        Ok((bucket, prefix))
    }

    fn plan(
        &self,
        bucket: &str,
        prefix: &str,
        dir: &Path,
        source: Source,
        rt: &tokio::runtime::Handle,
    ) -> Result<serde_json::Value, Error> {
        let (export, names) = Export::open_manifests(dir, source.clone())?;
        let snapshot = Snapshot { data_files: names.len(), ..Snapshot::of_export(&export, self.margin_seconds) };
        self.normalizer.check_snapshot_time(&snapshot, &export)?;
        // An incremental export must chain to a full one, as `ddb-lake backfill` checks: the
        // exports the lake has whole and those beside it in the export folder.
        if export.window.is_some() {
            let mut known = rt.block_on(chain::read_lake(self.sink))?;
            known.extend(export.siblings(&source)?.iter().map(|e| Link::of_export(e, false)));
            let verdict = chain::check(&Link::of_export(&export, false), &known);
            if let Some(why) = verdict.refusal(&export) {
                return Err(format!("{why}; nothing was written to {}", self.sink.location()).into());
            }
        }
        tracing::info!(export_id = export.export_id.as_str(), data_files = names.len(), "export planned");
        Ok(serde_json::json!({
            "export": format!("s3://{bucket}/{prefix}"),
            "bucket": bucket,
            "manifestFilesKey": format!("{prefix}/manifest-files.json"),
            "exportId": export.export_id,
            "exportTime": export.export_time,
            "windowStart": export.window.as_ref().map(|w| w.from.as_str()),
            "dataFiles": names.len(),
            "items": export.item_count,
        }))
    }

    fn finish(&self, dir: &Path, source: Source, rt: &tokio::runtime::Handle) -> Result<serde_json::Value, Error> {
        let (export, names) = Export::open_manifests(dir, source)?;
        let snapshot = Snapshot { data_files: names.len(), ..Snapshot::of_export(&export, self.margin_seconds) };
        let day = snapshot.day();
        let markers: Vec<ObjectKey> =
            names.iter().map(|name| ObjectKey::snapshot_marker(&day, &snapshot.id, name)).collect();
        let Some(first) = markers.first() else {
            return Err(format!("{}: the export lists no data file", dir.display()).into());
        };
        // Every marker of the day is in one folder: list it once.
        let folder = &first.as_str()[..=first.as_str().rfind('/').unwrap_or(0)];
        let listed: HashSet<String> = rt.block_on(self.sink.s3_keys_starting_with(folder))?.into_iter().collect();
        let missing: Vec<&str> = names
            .iter()
            .zip(&markers)
            .filter(|(_, marker)| !listed.contains(&self.sink.s3_key(marker)))
            .map(|(name, _)| name.as_str())
            .collect();
        if !missing.is_empty() {
            let named = missing.iter().take(NAMED_MISSING).copied().collect::<Vec<_>>().join(", ");
            let more = missing.len().saturating_sub(NAMED_MISSING);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            return Err(format!(
                "snapshot {}: {} of its {} data files have no `snapshots` row in {}/{folder} ({named}{more}): \
                 their children failed (see the Map Run's failed executions for why), so no view uses this \
                 snapshot yet; once the cause is fixed, start the state machine again with the same input (it \
                 rewrites the same objects)",
                snapshot.id,
                missing.len(),
                names.len(),
                self.sink.location(),
            )
            .into());
        }
        tracing::info!(export_id = export.export_id.as_str(), data_files = names.len(), "snapshot whole");
        Ok(serde_json::json!({
            "exportId": export.export_id,
            "snapshotTime": export.export_time,
            "dataFiles": names.len(),
            "items": export.item_count,
            "lake": self.sink.location(),
        }))
    }

    fn one_file(
        &self,
        dir: &Path,
        source: Source,
        line: &str,
        rt: &tokio::runtime::Handle,
    ) -> Result<serde_json::Value, Error> {
        let (normalizer, sink) = (self.normalizer, self.sink);
        let (export, data_files) = Export::open_one(dir, source, line)?;
        let snapshot = Snapshot { data_files, ..Snapshot::of_export(&export, self.margin_seconds) };
        normalizer.check_snapshot_time(&snapshot, &export)?;
        let file = &export.files[0];
        // First the whole file read through: nothing is written for a file that fails a check.
        let checked = normalizer.check_snapshot_file(&snapshot, file, |_| {})?;
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
                format!("data file {}: {e}; not every object was written: run this child again", file.path.display())
                    .into()
            })?;
        tracing::info!(
            data_file = file.name.as_str(),
            items = stats.items,
            objects,
            quarantined,
            "data file backfilled"
        );
        Ok(serde_json::json!({
            "exportId": export.export_id,
            "dataFile": file.name,
            "items": checked.items,
            "objects": objects,
            "quarantined": quarantined,
        }))
    }
}
