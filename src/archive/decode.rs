//! The decompression layer under every reading command: the format is recognised by
//! its magic bytes (never by the file name), and the uncompressed tar stream comes out
//! of a read-ahead thread. agar's own `.tar.gz` (chunk index in the header) and
//! `.tar.zst` (independent frames) are decompressed on every core; archives written by
//! other tools fall back to one stream.

use std::io::{self, BufRead};

use super::pipe::{blocks_of, ReadAhead};
use super::{gz, zst};

/// How the archive's tar stream is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar,
    Gzip,
    Zstd,
}

/// Most bytes one zstd byte can decompress to. A block is at most 128 KiB of output
/// (Block_Maximum_Size) and its smallest form is an RLE block: a 3-byte header plus
/// the one byte to repeat, so 4 bytes give at most 131072: 32768:1. Frame headers,
/// checksums and the seek table only lower the ratio.
pub const MAX_ZSTD_RATIO: u64 = 32768;

impl Format {
    /// From the first bytes of the file.
    pub fn detect(magic: &[u8]) -> Format {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Format::Gzip
        } else if magic.starts_with(&zst::MAGIC)
            || (magic.len() >= 4
                && u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]) & 0xFFFF_FFF0
                    == 0x184D_2A50)
        {
            // a leading skippable frame is zstd too (and refused by the zstd reader)
            Format::Zstd
        } else {
            Format::Tar
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
        }
    }

    /// The most uncompressed bytes one file byte can stand for (None: plain tar).
    pub fn max_ratio(self) -> Option<u64> {
        match self {
            Format::Tar => None,
            Format::Gzip => Some(super::MAX_DEFLATE_RATIO),
            Format::Zstd => Some(MAX_ZSTD_RATIO),
        }
    }
}

/// The uncompressed tar stream of `input` (buffered, positioned at the start), read
/// ahead on other threads; `threads` decompressors where the format allows. With `hash`,
/// the read-ahead thread also computes the stream's SHA-256 ([`ReadAhead::digest`]).
pub fn open<R: BufRead + Send + 'static>(
    mut input: R,
    threads: usize,
    hash: bool,
) -> io::Result<(Format, ReadAhead)> {
    let format = Format::detect(input.fill_buf()?);
    let stream = match format {
        Format::Tar => ReadAhead::spawn(blocks_of(Box::new(input)), hash),
        Format::Gzip => match gz::read_header(&mut input)? {
            Some(index) => ReadAhead::spawn(
                move |emit| gz::decode_indexed(input, index, threads, emit),
                hash,
            ),
            None => ReadAhead::spawn(
                blocks_of(Box::new(gz::StrictGzReader::after_header(input))),
                hash,
            ),
        },
        Format::Zstd => ReadAhead::spawn(move |emit| zst::decode(input, threads, emit), hash),
    };
    Ok((format, stream))
}
