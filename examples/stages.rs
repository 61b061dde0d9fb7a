//! Single-core throughput of each stage of agar's pipelines (issue 11: no serial stage
//! may cap the scaling), on the first bytes of a real archive:
//!
//! ```sh
//! cargo run --release --example stages -- ARCHIVE.tar [MiB, default 256]
//! ```
//!
//! Prints a markdown table: tar framing, SHA-256, and per core (one worker thread) the
//! compressors and decompressors. Used by bench/bench.py (`--ops stages`).

use std::io::{self, Read, Write};
use std::time::Instant;

use agar::archive::tar::TarWriter;
use agar::archive::{gz, zst};
use sha2::{Digest, Sha256};

fn rate(bytes: usize, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    bytes as f64 / t.elapsed().as_secs_f64() / 1e6
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or_else(|| io::Error::other("usage: stages ARCHIVE.tar [MiB]"))?;
    let mib: usize = args
        .get(2)
        .map_or(Ok(256), |s| s.parse())
        .map_err(io::Error::other)?;
    let mut data = Vec::with_capacity(mib << 20);
    std::fs::File::open(path)?
        .take((mib as u64) << 20)
        .read_to_end(&mut data)?;
    let n = data.len();
    let mut rows: Vec<(&str, f64)> = Vec::new();

    rows.push((
        "tar framing (TarWriter, 1 MiB members)",
        rate(n, || {
            let mut t = TarWriter::new(io::sink());
            for (i, c) in data.chunks(1 << 20).enumerate() {
                t.append_bytes(&format!("swing-store/m{i}"), c).unwrap();
            }
            t.finish().unwrap();
        }),
    ));
    rows.push((
        "SHA-256 (archive digest, member digests)",
        rate(n, || {
            let mut h = Sha256::new();
            for c in data.chunks(256 << 10) {
                h.update(c);
            }
            std::hint::black_box(h.finalize());
        }),
    ));
    let mut gzb = Vec::new();
    rows.push((
        "gzip compress, libdeflate level 6 (per core)",
        rate(n, || {
            let mut w = gz::ParGzWriter::with_index(Vec::new(), 6, 1, n as u64).unwrap();
            w.write_all(&data).unwrap();
            let (mut out, patch) = w.finish_indexed().unwrap();
            let (at, p) = patch.unwrap();
            out[at as usize..at as usize + p.len()].copy_from_slice(&p);
            gzb = out;
        }),
    ));
    let mut zb = Vec::new();
    rows.push((
        "zstd compress, level 3 frames (per core)",
        rate(n, || {
            let mut w = zst::ParZstWriter::new(Vec::new(), 1).unwrap();
            w.write_all(&data).unwrap();
            zb = w.finish().unwrap();
        }),
    ));
    rows.push((
        "gzip inflate, agar's indexed groups (per core)",
        rate(n, || {
            let mut r = &gzb[..];
            let index = gz::read_header(&mut r).unwrap().unwrap();
            gz::decode_indexed(r, index, 1, &mut |_| true).unwrap();
        }),
    ));
    rows.push((
        "gzip inflate, one stream (StrictGzReader)",
        rate(n, || {
            let mut r = gz::StrictGzReader::new(&gzb[..]).unwrap();
            io::copy(&mut r, &mut io::sink()).unwrap();
        }),
    ));
    rows.push((
        "zstd decompress, frames (per core)",
        rate(n, || {
            zst::decode(&zb[..], 1, &mut |_| true).unwrap();
        }),
    ));
    // the DB writer (explode --db, restore): the importer's settings; compressed
    // snapshots go into zeroblobs by incremental blob I/O, export data into kv rows
    let db = tempfile::tempdir()?;
    let conn =
        rusqlite::Connection::open(db.path().join("stage.sqlite")).map_err(io::Error::other)?;
    conn.execute_batch(agar::dbimport::IMPORT_PRAGMAS)
        .and_then(|_| conn.execute_batch("BEGIN; CREATE TABLE s (id INTEGER PRIMARY KEY, b BLOB); CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT);"))
        .map_err(io::Error::other)?;
    rows.push((
        "DB writer: blobs, 4 MiB rows (zeroblob + incremental write)",
        rate(n, || {
            for c in data.chunks(4 << 20) {
                conn.execute("INSERT INTO s (b) VALUES (zeroblob(?1))", [c.len() as i64])
                    .unwrap();
                let mut b = conn
                    .blob_open(
                        rusqlite::DatabaseName::Main,
                        "s",
                        "b",
                        conn.last_insert_rowid(),
                        false,
                    )
                    .unwrap();
                b.write_all(c).unwrap();
            }
        }),
    ));
    let mut kv_bytes = 0;
    let t = Instant::now();
    {
        let mut ins = conn
            .prepare("INSERT INTO kv (key, value) VALUES (?1, ?2)")
            .map_err(io::Error::other)?;
        // export data's shape: keys in order, values of a few hundred bytes
        for (i, c) in data.chunks(200).enumerate() {
            let key = format!("v1.vs.vc.{i:012}");
            let value = String::from_utf8_lossy(c);
            ins.execute(rusqlite::params![key, value])
                .map_err(io::Error::other)?;
            kv_bytes += key.len() + value.len();
        }
    }
    conn.execute_batch("COMMIT").map_err(io::Error::other)?;
    rows.push((
        "DB writer: kv rows, 200-byte values (prepared inserts)",
        kv_bytes as f64 / t.elapsed().as_secs_f64() / 1e6,
    ));
    println!(
        "Single-core stage throughput on the first {} MiB of {path} (gzip {:.3}, zstd {:.3} of the input):\n",
        n >> 20,
        gzb.len() as f64 / n as f64,
        zb.len() as f64 / n as f64
    );
    println!("| stage | MB/s (one core) |");
    println!("|---|---:|");
    for (s, r) in rows {
        println!("| {s} | {r:.0} |");
    }
    Ok(())
}
