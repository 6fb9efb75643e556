//! Where an export's files are read from: a local folder, or S3 (the export where DynamoDB
//! wrote it, read in place: no copy through this machine's disk).
//!
//! Paths stay `PathBuf`s either way, so that every message names the file the same way: a
//! local path, or `s3://bucket/key` for an object. Reading an object is synchronous for the
//! callers (the data file reader is a `Read`): each chunk of the response body is awaited on
//! the runtime the client belongs to, from the caller's thread (`Handle::block_on`), so the
//! callers must not run on that runtime themselves.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::primitives::ByteStream;

/// Where an export's files are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// The local file system.
    #[default]
    Local,
    /// A bucket, read through an S3 client.
    S3(Arc<S3Files>),
}

/// A bucket's objects, read with `client` on `runtime`.
pub struct S3Files {
    client: aws_sdk_s3::Client,
    bucket: String,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for S3Files {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3Files(s3://{})", self.bucket)
    }
}

impl PartialEq for S3Files {
    fn eq(&self, other: &Self) -> bool {
        self.bucket == other.bucket
    }
}

impl Eq for S3Files {}

/// The bucket and prefix of an export's folder in S3, `s3://BUCKET/PREFIX/AWSDynamoDB/<export
/// id>/` (a trailing `/` or none), or `None` when `url` names no bucket or no folder in it.
pub fn s3_export_folder(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/')?;
    let prefix = prefix.trim_matches('/');
    (!bucket.is_empty() && !prefix.is_empty()).then_some((bucket, prefix))
}

impl S3Files {
    /// The objects of `bucket`, read with `client`, whose calls run on `runtime`.
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, runtime: tokio::runtime::Handle) -> Self {
        S3Files { client, bucket: bucket.to_owned(), runtime }
    }

    /// The path that names `key` in messages: `s3://bucket/key`.
    pub fn path_of(&self, key: &str) -> PathBuf {
        PathBuf::from(format!("s3://{}/{key}", self.bucket))
    }

    fn key_of<'p>(&self, path: &'p Path) -> io::Result<&'p str> {
        let text = path.to_str().unwrap_or_default();
        text.strip_prefix("s3://")
            .and_then(|rest| rest.strip_prefix(self.bucket.as_str()))
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| io::Error::other(format!("{} is not in s3://{}", path.display(), self.bucket)))
    }

    fn get(&self, path: &Path) -> io::Result<Option<ByteStream>> {
        let key = self.key_of(path)?;
        let sent = self.runtime.block_on(self.client.get_object().bucket(&self.bucket).key(key).send());
        match sent {
            Ok(out) => Ok(Some(out.body)),
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => Ok(None),
            Err(e) => Err(s3_read_error(e, "s3:GetObject")),
        }
    }
}

/// A failed read of an object: S3's own words, and for a 403 what the credentials lack
/// (`action` on the object; without s3:ListBucket S3 also answers 403 for a missing one).
fn s3_read_error<E>(
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    action: &str,
) -> io::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let denied = e.raw_response().is_some_and(|r| r.status().as_u16() == 403);
    let said = aws_sdk_s3::error::DisplayErrorContext(e).to_string();
    if denied {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "access denied: the credentials in use need {action} on it (and s3:ListBucket on the bucket, \
                 or a missing object is denied too): {said}"
            ),
        )
    } else {
        io::Error::other(said)
    }
}

impl Source {
    /// The bytes of the text file at `path`, or `None` when there is none.
    pub(crate) fn read_text(&self, path: &Path) -> io::Result<Option<String>> {
        match self {
            Source::Local => match std::fs::read_to_string(path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            Source::S3(files) => {
                let Some(body) = files.get(path)? else { return Ok(None) };
                let mut text = String::new();
                S3Body { body, chunk: Vec::new(), at: 0, runtime: files.runtime.clone() }.read_to_string(&mut text)?;
                Ok(Some(text))
            }
        }
    }

    /// The size of the file at `path`, or `None` when there is none.
    pub(crate) fn size_of(&self, path: &Path) -> io::Result<Option<u64>> {
        match self {
            Source::Local => match std::fs::metadata(path) {
                Ok(m) if m.is_file() => Ok(Some(m.len())),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            Source::S3(files) => {
                let key = files.key_of(path)?;
                let sent = files.runtime.block_on(files.client.head_object().bucket(&files.bucket).key(key).send());
                match sent {
                    Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
                    Err(e) if matches!(e.as_service_error(), Some(HeadObjectError::NotFound(_))) => Ok(None),
                    Err(e) => Err(s3_read_error(e, "s3:GetObject")),
                }
            }
        }
    }

    /// The folders directly in the folder `path`, sorted (none when it is not there). In S3,
    /// the common prefixes of a listing with delimiter `/` (s3:ListBucket).
    pub(crate) fn child_folders(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        match self {
            Source::Local => match std::fs::read_dir(path) {
                Ok(entries) => {
                    for e in entries {
                        let e = e?;
                        if e.file_type()?.is_dir() {
                            out.push(e.path());
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            },
            Source::S3(files) => {
                let prefix = format!("{}/", files.key_of(path)?.trim_end_matches('/'));
                let list = files.client.list_objects_v2().bucket(&files.bucket).prefix(&prefix).delimiter("/");
                let mut pages = list.into_paginator().send();
                while let Some(page) = files.runtime.block_on(pages.next()) {
                    let page = page.map_err(|e| s3_read_error(e, "s3:ListBucket"))?;
                    for p in page.common_prefixes() {
                        out.extend(p.prefix().map(|k| files.path_of(k.trim_end_matches('/'))));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The bytes of the file at `path`, as they are read.
    pub(crate) fn open(&self, path: &Path) -> io::Result<Box<dyn Read + Send>> {
        match self {
            Source::Local => Ok(Box::new(File::open(path)?)),
            Source::S3(files) => match files.get(path)? {
                Some(body) => Ok(Box::new(S3Body { body, chunk: Vec::new(), at: 0, runtime: files.runtime.clone() })),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "no such object")),
            },
        }
    }
}

/// An object's body as a `Read`: each chunk awaited on the client's runtime.
struct S3Body {
    body: ByteStream,
    chunk: Vec<u8>,
    at: usize,
    runtime: tokio::runtime::Handle,
}

impl Read for S3Body {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.runtime.block_on(self.body.try_next()) {
                Ok(Some(bytes)) => {
                    self.chunk.clear();
                    self.chunk.extend_from_slice(&bytes);
                    self.at = 0;
                }
                Ok(None) => return Ok(0),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
