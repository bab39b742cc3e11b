//! Reading one file: data extents (holes are skipped, not read), chunked, hashed, submitted.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;

use super::saver::{BlobJob, Saver};
use crate::chunker::StreamChunker;
use crate::error::{Error, Result};
use crate::features::{FileSample, SecretSample};
use crate::pack::BlobKind;
use crate::progress::Progress;
use crate::source::fs::data_extents;
use crate::tree::ContentPart;

/// A file to read, and where to send the result.
pub(crate) struct FileJob {
    pub path: PathBuf,
    pub reply: Sender<Result<ReadFile>>,
}

/// What reading a file produced.
pub(crate) struct ReadFile {
    pub content: Vec<ContentPart>,
    /// Size as read (holes included).
    pub size: u64,
    pub bytes_read: u64,
    /// Size or mtime differed after reading: the content may mix old and new data.
    pub changed_while_read: bool,
    /// What was seen of its content (empty with features off).
    pub sample: FileSample,
    /// The kinds of secret found in it (none with features off).
    pub secrets: Vec<String>,
}

/// What a reader thread needs: where blobs go, how to cut them, when to stop.
pub(crate) struct ReadCtx<'a, 'b> {
    pub saver: &'a Saver<'b>,
    pub tx: Sender<BlobJob>,
    pub chunker: StreamChunker,
    pub cancel: &'a AtomicBool,
    pub progress: &'a dyn Progress,
    /// Sample content for the anomaly features.
    pub features: bool,
}

/// Chunk any reader into data blobs, sampling them into `sample` when features are on.
pub(crate) fn chunk_stream<R: Read>(
    ctx: &mut ReadCtx<'_, '_>,
    src: R,
    what: &std::path::Path,
    content: &mut Vec<ContentPart>,
    sample: &mut FileSample,
    secrets: &mut SecretSample,
) -> Result<u64> {
    let ReadCtx {
        saver,
        tx,
        chunker,
        cancel,
        progress,
        features,
    } = ctx;
    chunker.run(src, what, |chunk| {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        if saver.failed() {
            return Err(Error::Invalid("backup pipeline stopped".into()));
        }
        let mut data = saver.chunk_pool.get(chunk.len());
        data.extend_from_slice(chunk);
        let first = sample.class.is_none();
        let (id, new) = saver.submit(tx, BlobKind::Data, data)?;
        if *features {
            sample.observe(chunk, first, new);
            secrets.observe(chunk, sample.class);
        }
        content.push(ContentPart::Blob(id));
        progress.bytes_done(chunk.len() as u64);
        Ok(())
    })
}

/// Read a file into blobs.
pub(crate) fn read_file(ctx: &mut ReadCtx<'_, '_>, path: &std::path::Path) -> Result<ReadFile> {
    let mut f = crate::source::longpath::reach(path)
        .and_then(|r| File::open(&*r))
        .map_err(|e| Error::io(path, e))?;
    let md = f.metadata().map_err(|e| Error::io(path, e))?;
    let mut content = Vec::new();
    let mut pos = 0u64;
    let mut bytes_read = 0u64;
    let mut shrank = false;
    let mut sample = FileSample::default();
    let mut secrets = SecretSample::for_path(path);
    for (off, len) in data_extents(&f, &md) {
        if off > pos {
            content.push(ContentPart::Hole(off - pos));
        }
        f.seek(SeekFrom::Start(off))
            .map_err(|e| Error::io(path, e))?;
        let got = chunk_stream(
            ctx,
            (&f).take(len),
            path,
            &mut content,
            &mut sample,
            &mut secrets,
        )?;
        bytes_read += got;
        pos = off + got;
        if got < len {
            shrank = true;
            break;
        }
    }
    if !shrank && md.size() > pos {
        content.push(ContentPart::Hole(md.size() - pos));
        pos = md.size();
    }
    let after = f.metadata().map_err(|e| Error::io(path, e))?;
    let changed_while_read = after.size() != md.size()
        || after.mtime() != md.mtime()
        || after.mtime_nsec() != md.mtime_nsec();
    Ok(ReadFile {
        content,
        size: pos,
        bytes_read,
        changed_while_read,
        sample,
        secrets: secrets.finish(),
    })
}
