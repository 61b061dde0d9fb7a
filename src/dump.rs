//! A canonical, implementation-neutral text dump of a swing-store DB, byte for byte the
//! format of the oracle's `lib/dump.mjs` (`oracle dump`), so a DB written by agar can be
//! diffed against one written by the official code.
//!
//! Every table in primary-key order, one row per line, strings as `JSON.stringify` would
//! print them, the storage class shown where it is not TEXT, snapshot blobs as their
//! gunzipped length and SHA-256 (gzip bytes and `compressedSize` depend on zlib and are
//! left out unless asked for), bundles as `text|blob len sha256`, and a SHA-256 per
//! section at the end.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::hashes::{is_js_whitespace, js_stringify_str};

#[derive(Debug, Clone, Copy)]
pub struct DumpOptions {
    /// Replace text values longer than this many UTF-16 units by
    /// `sha256:<hex> len=<utf8 bytes>` (0 = never), like `--hash-long N`.
    pub hash_long: usize,
    /// Add `compressedSize` and the blob SHA-256 of snapshots.
    pub include_compressed: bool,
    /// Include the schema section.
    pub schema: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions {
            hash_long: 0,
            include_compressed: false,
            schema: true,
        }
    }
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// `JSON.stringify` of a JS number (integers exactly; other doubles approximately).
fn js_number(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i128)
    } else if f.is_finite() {
        format!("{f}")
    } else {
        "null".into()
    }
}

fn js_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    js_stringify_str(&mut o, s);
    o
}

/// `q(v)`: the value as the oracle prints it with `JSON.stringify` (better-sqlite3
/// returns TEXT as a string, BLOB as a Buffer, INTEGER/REAL as a number).
fn q(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "null".into(),
        ValueRef::Integer(i) => js_number(i as f64),
        ValueRef::Real(f) => js_number(f),
        ValueRef::Text(t) => js_str(&String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => {
            let items: Vec<String> = b.iter().map(|x| x.to_string()).collect();
            format!("{{\"type\":\"Buffer\",\"data\":[{}]}}", items.join(","))
        }
    }
}

/// A number or null as a template literal prints it.
fn num(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "null".into(),
        ValueRef::Integer(i) => js_number(i as f64),
        ValueRef::Real(f) => js_number(f),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

struct Dumper<'a> {
    out: &'a mut dyn Write,
    opts: DumpOptions,
    digests: Vec<String>,
}

impl Dumper<'_> {
    fn emit(&mut self, line: &str) -> Result<()> {
        self.out
            .write_all(line.as_bytes())
            .and_then(|_| self.out.write_all(b"\n"))
            .map_err(|e| Error::io_at("writing the dump", e))
    }
    fn txt(&self, v: ValueRef<'_>) -> String {
        if let ValueRef::Text(t) = v {
            if self.opts.hash_long > 0 {
                let s = String::from_utf8_lossy(t);
                if s.encode_utf16().count() > self.opts.hash_long {
                    return format!("sha256:{} len={}", sha_hex(s.as_bytes()), s.len());
                }
            }
        }
        q(v)
    }
}

/// Dump the swing-store at `path` (a directory holding `swingstore.sqlite`, or the file).
pub fn dump(path: &Path, out: &mut dyn Write, opts: DumpOptions) -> Result<()> {
    let file: PathBuf = if path.is_dir() {
        path.join(crate::dbimport::DB_FILE)
    } else {
        path.to_path_buf()
    };
    let loc = file.display().to_string();
    if !file.is_file() {
        return Err(Error::io(
            &file,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such DB file"),
        ));
    }
    let side: Vec<PathBuf> = crate::dbimport::DB_SIDE_SUFFIXES
        .iter()
        .map(|s| crate::dbimport::side_file(&file, s))
        .collect();
    let had_side = side.iter().any(|p| p.exists());
    let conn = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| Error::sqlite(&loc, e))?;
    let res = dump_conn(&conn, &loc, out, opts);
    drop(conn);
    if !had_side && side[0].metadata().map(|m| m.len() == 0).unwrap_or(false) {
        for p in &side {
            let _ = std::fs::remove_file(p);
        }
    }
    res
}

/// The dump, section by section (the oracle's `dump`): the schema, then every table in
/// primary-key order, then tables nobody expects, then the per-section digests.
fn dump_conn(conn: &Connection, loc: &str, out: &mut dyn Write, opts: DumpOptions) -> Result<()> {
    let sq = |e| Error::sqlite(loc, e);
    let tables: BTreeSet<String> = {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type='table'")
            .map_err(sq)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(sq)?;
        rows.collect::<std::result::Result<_, _>>().map_err(sq)?
    };
    let mut d = Dumper {
        out,
        opts,
        digests: Vec::new(),
    };
    d.emit("# swing-store canonical dump v1")?;
    let db = Db {
        conn,
        loc,
        tables: &tables,
    };
    if opts.schema {
        db.section(&mut d, "schema", "sqlite_master", "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name", schema_line)?;
    }
    db.section(
        &mut d,
        "kvStore",
        "kvStore",
        "SELECT key, typeof(key) AS tk, value, typeof(value) AS tv FROM kvStore ORDER BY key",
        kv_line,
    )?;
    db.section(&mut d, "transcriptSpans", "transcriptSpans", "SELECT vatID, startPos, endPos, hash, isCurrent, incarnation FROM transcriptSpans ORDER BY vatID, startPos", span_line)?;
    db.section(&mut d, "transcriptItems", "transcriptItems", "SELECT vatID, position, item, typeof(item) AS ti, incarnation FROM transcriptItems ORDER BY vatID, position", item_line)?;
    db.section(&mut d, "snapshots", "snapshots", "SELECT vatID, snapPos, inUse, hash, uncompressedSize, compressedSize, compressedSnapshot, typeof(compressedSnapshot) AS tc FROM snapshots ORDER BY vatID, snapPos", snapshot_line)?;
    db.section(
        &mut d,
        "bundles",
        "bundles",
        "SELECT bundleID, bundle, typeof(bundle) AS tb FROM bundles ORDER BY bundleID",
        bundle_line,
    )?;
    db.section(
        &mut d,
        "pendingExports",
        "pendingExports",
        "SELECT key, value FROM pendingExports ORDER BY key",
        pending_line,
    )?;

    let known = [
        "kvStore",
        "transcriptSpans",
        "transcriptItems",
        "snapshots",
        "bundles",
        "pendingExports",
    ];
    let extra: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|t| !known.contains(t))
        .collect();
    if !extra.is_empty() {
        d.emit(&format!("## unexpected tables: {}", extra.join(", ")))?;
    }
    d.emit("## digests")?;
    for dg in std::mem::take(&mut d.digests) {
        d.emit(&format!("digest {dg}"))?;
    }
    d.out
        .flush()
        .map_err(|e| Error::io_at("writing the dump", e))?;
    Ok(())
}

/// Formats one row of a section.
type LineFn =
    fn(&Dumper<'_>, &rusqlite::Row<'_>, &dyn Fn(rusqlite::Error) -> Error) -> Result<String>;

/// The DB being dumped.
struct Db<'a> {
    conn: &'a Connection,
    loc: &'a str,
    tables: &'a BTreeSet<String>,
}

impl Db<'_> {
    /// One section: `## <name> (<n> rows)`, the rows of `sql` (streamed, so memory stays
    /// bounded) and its digest (SHA-256 of the row lines) for the digest section. A table
    /// that does not exist is an empty section.
    fn section(
        &self,
        d: &mut Dumper<'_>,
        name: &str,
        table: &str,
        sql: &str,
        line: LineFn,
    ) -> Result<()> {
        let sq = |e| Error::sqlite(self.loc, e);
        let present = name == "schema" || self.tables.contains(table);
        let mut st = self.conn.prepare(sql).map_err(sq)?;
        let cnt: i64 = if name == "schema" {
            let mut c = 0i64;
            let mut rs = st.query([]).map_err(sq)?;
            while rs.next().map_err(sq)?.is_some() {
                c += 1;
            }
            c
        } else if present {
            self.conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .map_err(sq)?
        } else {
            0
        };
        d.emit(&format!("## {name} ({cnt} rows)"))?;
        let mut h = Sha256::new();
        if present {
            let mut rs = st.query([]).map_err(sq)?;
            while let Some(r) = rs.next().map_err(sq)? {
                let l = line(d, r, &sq)?;
                h.update(l.as_bytes());
                h.update(b"\n");
                d.emit(&l)?;
            }
        }
        d.digests.push(format!(
            "{name} rows={cnt} sha256={}",
            hex::encode(h.finalize())
        ));
        Ok(())
    }
}

/// One `sqlite_master` row: type, name, table and the SQL with whitespace runs folded.
fn schema_line(
    _this: &Dumper<'_>,
    r: &rusqlite::Row<'_>,
    sq: &dyn Fn(rusqlite::Error) -> Error,
) -> Result<String> {
    Ok({
        let ty: String = r.get(0).map_err(sq)?;
        let name: String = r.get(1).map_err(sq)?;
        let tbl: String = r.get(2).map_err(sq)?;
        let sql: Option<String> = r.get(3).map_err(sq)?;
        let s = match sql {
            None => "null".to_string(),
            Some(s) => {
                let norm: Vec<&str> = s
                    .split(is_js_whitespace)
                    .filter(|w| !w.is_empty())
                    .collect();
                js_str(&norm.join(" "))
            }
        };
        format!("{ty} {name} on={tbl} {s}")
    })
}

/// One kvStore row (storage classes shown when not TEXT).
fn kv_line(
    this: &Dumper<'_>,
    r: &rusqlite::Row<'_>,
    sq: &dyn Fn(rusqlite::Error) -> Error,
) -> Result<String> {
    Ok({
        let tk: String = r.get(1).map_err(sq)?;
        let tv: String = r.get(3).map_err(sq)?;
        let cls = if tk == "text" && tv == "text" {
            String::new()
        } else {
            format!(" [{tk},{tv}]")
        };
        format!(
            "kv {} {}{cls}",
            q(r.get_ref(0).map_err(sq)?),
            this.txt(r.get_ref(2).map_err(sq)?)
        )
    })
}

/// One transcriptSpans row.
fn span_line(
    _this: &Dumper<'_>,
    r: &rusqlite::Row<'_>,
    sq: &dyn Fn(rusqlite::Error) -> Error,
) -> Result<String> {
    Ok({
        format!(
            "span {} start={} end={} isCurrent={} incarnation={} hash={}",
            q(r.get_ref(0).map_err(sq)?),
            num(r.get_ref(1).map_err(sq)?),
            num(r.get_ref(2).map_err(sq)?),
            num(r.get_ref(4).map_err(sq)?),
            num(r.get_ref(5).map_err(sq)?),
            num(r.get_ref(3).map_err(sq)?),
        )
    })
}

/// One transcriptItems row.
fn item_line(
    this: &Dumper<'_>,
    r: &rusqlite::Row<'_>,
    sq: &dyn Fn(rusqlite::Error) -> Error,
) -> Result<String> {
    Ok({
        let ti: String = r.get(3).map_err(sq)?;
        let cls = if ti == "text" {
            String::new()
        } else {
            format!(" [{ti}]")
        };
        format!(
            "item {} pos={} incarnation={} {}{cls}",
            q(r.get_ref(0).map_err(sq)?),
            num(r.get_ref(1).map_err(sq)?),
            num(r.get_ref(4).map_err(sq)?),
            this.txt(r.get_ref(2).map_err(sq)?),
        )
    })
}

/// One snapshots row: the blob as its gunzipped length and SHA-256, checked against the hash.
fn snapshot_line(
    this: &Dumper<'_>,
    r: &rusqlite::Row<'_>,
    sq: &dyn Fn(rusqlite::Error) -> Error,
) -> Result<String> {
    Ok({
        let hash = num(r.get_ref(3).map_err(sq)?);
        let tc: String = r.get(7).map_err(sq)?;
        let mut data = "data=null".to_string();
        let raw: Option<Vec<u8>> = match r.get_ref(6).map_err(sq)? {
            ValueRef::Null => None,
            ValueRef::Blob(b) | ValueRef::Text(b) => Some(b.to_vec()),
            ValueRef::Integer(i) => Some(i.to_string().into_bytes()),
            ValueRef::Real(f) => Some(js_number(f).into_bytes()),
        };
        if let Some(raw) = raw {
            let mut plain_sha = Sha256::new();
            let mut len = 0u64;
            let mut dec = flate2::read::MultiGzDecoder::new(&raw[..]);
            let mut buf = vec![0u8; 256 * 1024];
            let desc = loop {
                match dec.read(&mut buf) {
                    Ok(0) => {
                        let h = hex::encode(plain_sha.finalize());
                        let ok = if h == hash {
                            "hash-ok"
                        } else {
                            "HASH-MISMATCH"
                        };
                        break format!("gunzip-len={len} gunzip-sha256={h} {ok}");
                    }
                    Ok(n) => {
                        plain_sha.update(&buf[..n]);
                        len += n as u64;
                    }
                    Err(_) => break "GUNZIP-FAILED(Z_DATA_ERROR)".to_string(),
                }
            };
            data = format!("data={tc} {desc}");
            if this.opts.include_compressed {
                data.push_str(&format!(" blob-sha256={}", sha_hex(&raw)));
            }
        }
        let comp = if this.opts.include_compressed {
            format!(" compressedSize={}", num(r.get_ref(5).map_err(sq)?))
        } else {
            String::new()
        };
        format!(
            "snapshot {} pos={} inUse={} hash={hash} uncompressedSize={}{comp} {data}",
            q(r.get_ref(0).map_err(sq)?),
            num(r.get_ref(1).map_err(sq)?),
            num(r.get_ref(2).map_err(sq)?),
            num(r.get_ref(4).map_err(sq)?),
        )
    })
}

/// One bundles row: the bytes as length and SHA-256.
fn bundle_line(
    _this: &Dumper<'_>,
    r: &rusqlite::Row<'_>,
    sq: &dyn Fn(rusqlite::Error) -> Error,
) -> Result<String> {
    Ok({
        let id = q(r.get_ref(0).map_err(sq)?);
        let tb: String = r.get(2).map_err(sq)?;
        match r.get_ref(1).map_err(sq)? {
            ValueRef::Null => format!("bundle {id} null"),
            v => {
                let raw: Vec<u8> = match v {
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into_bytes(),
                    ValueRef::Blob(b) => b.to_vec(),
                    ValueRef::Integer(i) => i.to_string().into_bytes(),
                    ValueRef::Real(f) => js_number(f).into_bytes(),
                    ValueRef::Null => Vec::new(),
                };
                format!(
                    "bundle {id} {tb} len={} sha256={}",
                    raw.len(),
                    sha_hex(&raw)
                )
            }
        }
    })
}

/// One pendingExports row.
fn pending_line(
    this: &Dumper<'_>,
    r: &rusqlite::Row<'_>,
    sq: &dyn Fn(rusqlite::Error) -> Error,
) -> Result<String> {
    Ok(format!(
        "pending {} {}",
        q(r.get_ref(0).map_err(sq)?),
        this.txt(r.get_ref(1).map_err(sq)?)
    ))
}
