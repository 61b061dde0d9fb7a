//! `recompress`: the same archive (the same tar stream, so the same digest) as `.tar`,
//! `.tar.gz` or `.tar.zst`. The input is decompressed by the strict readers (checksums,
//! no trailing data) and copied into the new container while its SHA-256 is computed;
//! the result is then verified like `agar verify --expect DIGEST` before it is moved into
//! place, so a bad input or a bug leaves nothing behind.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Serialize;

use crate::archive::decode;
use crate::archive::reader::parse_manifest;
use crate::archive::tar::{padding, BLOCK};
use crate::archive::writer::{ArchiveWriter, Compression};
use crate::archive::{MANIFEST_MEMBER, MAX_MANIFEST_BYTES};
use crate::error::{bail, Error, Result};
use crate::progress::Progress;

#[derive(Debug, Clone, Serialize)]
pub struct RecompressSummary {
    pub digest: String,
    pub input: String,
    pub input_format: &'static str,
    pub output: String,
    pub tar_bytes: u64,
    pub input_bytes: u64,
    pub output_bytes: u64,
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

pub fn recompress(
    input: &Path,
    output: &Path,
    compression: Compression,
    progress: bool,
) -> Result<RecompressSummary> {
    let loc = input.display().to_string();
    let f = File::open(input).map_err(|e| Error::io(input, e))?;
    let input_bytes = f.metadata().map_err(|e| Error::io(input, e))?.len();
    let (format, mut stream) = decode::open(
        BufReader::with_capacity(1 << 20, f),
        crate::archive::par::default_threads(),
        false,
    )
    .map_err(|e| Error::invalid(&loc, e.to_string()))?;
    let rd = |e: std::io::Error| Error::invalid(&loc, format!("cannot read the archive: {e}"));

    // the archive manifest comes first: it gives the tar length (for the gzip index)
    let mut head = vec![0u8; BLOCK];
    if read_up_to(&mut stream, &mut head).map_err(rd)? < BLOCK {
        return bail(&loc, "archive is truncated (no first member)");
    }
    let size = std::str::from_utf8(&head[124..135])
        .ok()
        .and_then(|s| u64::from_str_radix(s, 8).ok())
        .filter(|&s| {
            s <= MAX_MANIFEST_BYTES && &head[..MANIFEST_MEMBER.len()] == MANIFEST_MEMBER.as_bytes()
        })
        .ok_or_else(|| {
            Error::invalid(
                &loc,
                "the first member is not genesis-archive.json: not an agar archive",
            )
        })?;
    let body = (size as usize) + padding(size);
    head.resize(BLOCK + body, 0);
    if read_up_to(&mut stream, &mut head[BLOCK..]).map_err(rd)? < body {
        return bail(&loc, "archive is truncated (in genesis-archive.json)");
    }
    let manifest = parse_manifest(&loc, &head[BLOCK..BLOCK + size as usize])?;
    let tar_bytes = manifest.tar_bytes(size).ok_or_else(|| {
        Error::invalid(
            &loc,
            "announces member sizes whose sum does not fit in 64 bits",
        )
    })?;

    let progress = Progress::bytes(progress, "recompressing", tar_bytes);
    let mut w = ArchiveWriter::create_sized(Some(output), compression, Some(tar_bytes))?;
    w.write_raw(&head)?;
    progress.inc(head.len() as u64);
    let mut left = tar_bytes.saturating_sub(head.len() as u64);
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = read_up_to(&mut stream, &mut buf[..want]).map_err(rd)?;
        if n < want {
            return bail(&loc, "archive is truncated (the tar stream ends before the length its manifest announces)");
        }
        w.write_raw(&buf[..n])?;
        progress.inc(n as u64);
        left -= n as u64;
    }
    let mut probe = [0u8; 1];
    if read_up_to(&mut stream, &mut probe).map_err(rd)? != 0 {
        return bail(&loc, "unexpected data after the end of the archive");
    }
    progress.finish();
    let pending = w.finish_raw_pending()?;
    // the copy is the input's tar stream byte for byte: verifying it verifies both
    if let Some(tmp) = pending.temp_path() {
        let rep = crate::verify::verify(tmp, Some(&pending.written.digest), false)?;
        if !rep.ok {
            return bail(
                &loc,
                format!(
                    "the archive does not verify, so nothing was written: {}",
                    rep.problems.join("; ")
                ),
            );
        }
    }
    let written = pending.persist()?;
    Ok(RecompressSummary {
        digest: written.digest,
        input: loc,
        input_format: format.name(),
        output: output.display().to_string(),
        tar_bytes: written.tar_bytes,
        input_bytes,
        output_bytes: written.file_bytes,
    })
}
