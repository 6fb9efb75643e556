//! Where lake objects are written: a small trait, and the local-directory implementation.
//!
//! The CLI writes to a [`LocalDirSink`]; the Lambda function writes to S3 through the same
//! trait. A local directory mirrors the S3 prefix byte for byte: the object at
//! `s3://bucket/prefix/<key>` is the file `<dir>/<key>`. Each file is written to a
//! temporary name and renamed into place, so a crash never leaves a half-written object and
//! re-writing a batch replaces its objects whole.

use std::future::Future;
use std::path::{Path, PathBuf};

use ddb_lake_core::object_key::ObjectKey;

/// A write that failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {key}: {source}")]
pub struct SinkError {
    /// The object's key.
    pub key: String,
    /// What went wrong.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Somewhere objects can be put.
pub trait LakeSink {
    /// Writes (or replaces) one object.
    fn put(&self, key: &ObjectKey, body: &[u8]) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// A lake whose objects can be read back: the local folder and S3, through the same sinks
/// that write the lake.
pub trait LakeReader: LakeSink {
    /// An object's bytes.
    fn get(&self, key: &ObjectKey) -> impl Future<Output = Result<Vec<u8>, SinkError>> + Send;
    /// The keys of every object of the `snapshots` table (one per data file of each export
    /// backfilled), sorted.
    fn snapshot_markers(&self) -> impl Future<Output = Result<Vec<ObjectKey>, SinkError>> + Send;
    /// The last day a run of `ddb-lake compact` folded (`YYYY-MM-DD`, the latest `dt` folder
    /// of the `compactions` table that holds a row), or `None` when the lake is not compacted.
    fn compacted_through(&self) -> impl Future<Output = Result<Option<String>, SinkError>> + Send;
}

/// A lake whose quarantine can be read back and emptied (`ddb-lake quarantine requeue`).
pub trait QuarantineStore: LakeReader {
    /// The keys of every quarantine object, sorted.
    fn quarantine_objects(&self) -> impl Future<Output = Result<Vec<ObjectKey>, SinkError>> + Send;
    /// Removes an object.
    fn delete(&self, key: &ObjectKey) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// A local directory laid out exactly like the S3 prefix.
#[derive(Debug, Clone)]
pub struct LocalDirSink {
    root: PathBuf,
}

impl LocalDirSink {
    /// A sink rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDirSink { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes (or replaces) one object on the calling thread, as [`LakeSink::put`] does: for
    /// a caller with a thread of its own for writing (`ddb-lake normalize` writes the objects
    /// of every core from one, in the file's order). The async `put` hands each of its three
    /// file operations to the runtime's blocking threads, a thread switch each.
    pub fn put_now(&self, key: &ObjectKey, body: &[u8]) -> Result<(), SinkError> {
        let err = |e: std::io::Error| SinkError { key: key.to_string(), source: Box::new(e) };
        let path = self.path_of(key);
        let tmp = self.temporary_path(&path);
        in_its_folder(&tmp, || std::fs::write(&tmp, body)).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }

    /// Where an object is written before it is renamed into place.
    fn temporary_path(&self, path: &Path) -> PathBuf {
        path.with_extension(format!("tmp-{}", std::process::id()))
    }

    /// The file an object key maps to.
    pub fn path_of(&self, key: &ObjectKey) -> PathBuf {
        let mut p = self.root.clone();
        for c in key.components() {
            p.push(c);
        }
        p
    }
}

/// `op`, a file operation that makes `path`, run again after making `path`'s folder when the
/// first try finds the folder missing: most objects go to a folder that exists, and asking
/// for it first cost two system calls an object.
pub fn in_its_folder<T>(path: &Path, op: impl Fn() -> std::io::Result<T>) -> std::io::Result<T> {
    match op() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            op()
        }
        done => done,
    }
}

impl LakeSink for LocalDirSink {
    async fn put(&self, key: &ObjectKey, body: &[u8]) -> Result<(), SinkError> {
        let err = |e: std::io::Error| SinkError { key: key.to_string(), source: Box::new(e) };
        let path = self.path_of(key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(err)?;
        }
        let tmp = self.temporary_path(&path);
        tokio::fs::write(&tmp, body).await.map_err(err)?;
        tokio::fs::rename(&tmp, &path).await.map_err(err)
    }
}

impl LakeReader for LocalDirSink {
    async fn get(&self, key: &ObjectKey) -> Result<Vec<u8>, SinkError> {
        tokio::fs::read(self.path_of(key)).await.map_err(|e| SinkError { key: key.to_string(), source: Box::new(e) })
    }

    async fn snapshot_markers(&self) -> Result<Vec<ObjectKey>, SinkError> {
        let dir = self.root.join(ddb_lake_core::schema::BuiltInTable::Snapshots.name());
        let err = |d: &Path, e: std::io::Error| SinkError { key: d.display().to_string(), source: Box::new(e) };
        let names = |d: PathBuf| async move {
            let mut out = Vec::new();
            let mut entries = match tokio::fs::read_dir(&d).await {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(err(&d, e)),
            };
            while let Some(e) = entries.next_entry().await.map_err(|e| err(&d, e))? {
                out.extend(e.file_name().to_str().map(str::to_owned));
            }
            Ok(out)
        };
        let mut keys = Vec::new();
        for day in names(dir.clone()).await? {
            for name in names(dir.join(&day)).await? {
                keys.extend(ObjectKey::snapshot_marker_named(&day, &name));
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn compacted_through(&self) -> Result<Option<String>, SinkError> {
        let dir = self.root.join(ddb_lake_core::schema::BuiltInTable::Compactions.name());
        let names = |d: PathBuf| -> Result<Vec<String>, SinkError> {
            match std::fs::read_dir(&d) {
                Ok(entries) => entries
                    .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| SinkError { key: d.display().to_string(), source: Box::new(e) }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(SinkError { key: d.display().to_string(), source: Box::new(e) }),
            }
        };
        let mut last = None;
        for day in names(dir.clone())? {
            for name in names(dir.join(&day))? {
                last = last.max(ObjectKey::compaction_marker_day(&day, &name).map(str::to_owned));
            }
        }
        Ok(last)
    }
}

impl QuarantineStore for LocalDirSink {
    async fn quarantine_objects(&self) -> Result<Vec<ObjectKey>, SinkError> {
        let dir = self.root.join(ddb_lake_core::object_key::QUARANTINE_DIR);
        let mut keys = Vec::new();
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
            Err(e) => return Err(SinkError { key: dir.display().to_string(), source: Box::new(e) }),
        };
        while let Some(e) =
            entries.next_entry().await.map_err(|e| SinkError { key: dir.display().to_string(), source: Box::new(e) })?
        {
            if let Some(key) = e.file_name().to_str().and_then(ObjectKey::quarantine_named) {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), SinkError> {
        tokio::fs::remove_file(self.path_of(key))
            .await
            .map_err(|e| SinkError { key: key.to_string(), source: Box::new(e) })
    }
}

/// A write still unfinished when the batch's deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the batch's deadline passed before the write finished")]
pub struct DeadlinePassed;

/// Writes one object, unless `deadline` passes first.
async fn put_by<S: LakeSink + Sync>(
    sink: &S,
    o: &crate::assembler::LakeObject,
    deadline: Option<std::time::Instant>,
) -> Result<(), SinkError> {
    let Some(deadline) = deadline else { return sink.put(&o.key, &o.body).await };
    let passed = || SinkError { key: o.key.to_string(), source: Box::new(DeadlinePassed) };
    if std::time::Instant::now() >= deadline {
        return Err(passed());
    }
    tokio::time::timeout_at(deadline.into(), sink.put(&o.key, &o.body)).await.unwrap_or_else(|_| Err(passed()))
}

/// Writes every object with at most `concurrency` writes in flight; returns one result per
/// object, in order. A write not finished by `deadline` is abandoned and is an error
/// ([`DeadlinePassed`]), as is one not started by then.
pub async fn write_all<S: LakeSink + Sync>(
    sink: &S,
    objects: &[crate::assembler::LakeObject],
    concurrency: usize,
    deadline: Option<std::time::Instant>,
) -> Vec<Result<(), SinkError>> {
    use futures_util::stream::{self, StreamExt};
    let mut results: Vec<(usize, Result<(), SinkError>)> = stream::iter(objects.iter().enumerate())
        .map(|(i, o)| async move { (i, put_by(sink, o, deadline).await) })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddb_lake_core::object_key::BatchId;

    #[tokio::test]
    async fn writes_mirror_the_key() {
        let b = BatchId { source: "s".into(), first_sequence: "1".into(), last_sequence: "2".into() };
        let key = ObjectKey::rows("changes", "2026-11-01", &b);
        // Through the async trait and on the calling thread: the same file, replaced whole.
        for now in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let sink = LocalDirSink::new(dir.path());
            for body in [&b"one"[..], b"two"] {
                match now {
                    false => sink.put(&key, body).await.unwrap(),
                    true => sink.put_now(&key, body).unwrap(),
                }
            }
            let p = dir.path().join("changes/dt=2026-11-01/s_1_2.tsv.gz");
            assert_eq!(std::fs::read(&p).unwrap(), b"two");
            let names: Vec<_> =
                std::fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(names.len(), 1, "no temporary file left behind: {names:?}");
        }
    }
}
