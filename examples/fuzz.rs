//! A deterministic, coverage-free mutation fuzzer for agar's input parsers, on the
//! stable toolchain (no cargo-fuzz/nightly needed). See docs/fuzzing.md.
//!
//! ```sh
//! cargo run --release --example fuzz -- --target all --seconds 600
//! cargo run --release --example fuzz -- --target reader --iters 20000 --seed 7
//! ```
//!
//! Targets (seeded from the real fixtures in tests/fixtures):
//! - `reader`: `verify` on mutated archives (.tar and .tar.gz; byte flips, truncations,
//!   splices, insertions, tar header rewrites with valid checksums, appended data,
//!   gzip re-compression of a mutated tar). Oracle: no panic; peak heap below a bound;
//!   an accepted archive must be canonical and hold exactly the seed's member contents.
//! - `gojson`: `gojson::decode_line` on mutated export-data lines. Oracle: no panic; a
//!   decoded entry re-encodes to a line that decodes to the same entry and never holds
//!   raw `<`, `>`, `&`, U+2028/9 or control bytes.
//! - `genesis`: `genesis::parse_strict` against the streaming canonicaliser
//!   (`json::canon`, `CanonicalGenesis`, the canonical checker) on mutated genesis files.
//!   Oracle: no panic; canonical form is a fixed point.
//! - `exportdir`: `pack::plan` on export directories with one mutated file (manifest,
//!   export data or an artifact). Oracle: no panic; a successful plan has sane members.
//!
//! Every input that breaks an oracle is written to `--crashes DIR` (default
//! `target/fuzz-crashes/<target>/`) and the run exits 1.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agar::archive::tar::{member_header, padding, TarWriter, BLOCK};
use agar::archive::writer::Compression;
use agar::archive::{reader::parse_manifest, MANIFEST_MEMBER};
use agar::exportdir::ExportDir;
use agar::genesis::CanonicalGenesis;
use agar::pack::PackOptions;

// ---- a counting allocator: peak heap per iteration ----

struct Counting;
static CUR: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let c = CUR.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(c, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        CUR.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let q = System.realloc(p, l, n);
        if !q.is_null() {
            if n > l.size() {
                let c = CUR.fetch_add(n - l.size(), Ordering::Relaxed) + (n - l.size());
                PEAK.fetch_max(c, Ordering::Relaxed);
            } else {
                CUR.fetch_sub(l.size() - n, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Heap growth allowed for one input (beyond what was live before it).
const HEAP_LIMIT: usize = 96 << 20;

// ---- deterministic PRNG ----

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const INTERESTING: &[u8] = b"\x00\xff\x7f\x80 0179/.\\\n\r\"'[]{},:x2LKSgu";

/// Generic byte-level mutations.
fn mutate_bytes(r: &mut Rng, data: &mut Vec<u8>, donors: &[Vec<u8>]) {
    let rounds = 1 + r.below(4);
    for _ in 0..rounds {
        let n = data.len();
        match r.below(10) {
            0 | 1 if n > 0 => {
                let i = r.below(n);
                data[i] ^= 1 << r.below(8);
            }
            2 if n > 0 => {
                let i = r.below(n);
                data[i] = *r.pick(INTERESTING);
            }
            3 => {
                let cut = r.below(n + 1);
                data.truncate(cut);
            }
            4 if n > 1 => {
                // overwrite a range with bytes from elsewhere (this or a donor)
                let src = if r.below(2) == 0 || donors.is_empty() {
                    data.clone()
                } else {
                    r.pick(donors).clone()
                };
                if src.is_empty() {
                    continue;
                }
                let len = 1 + r.below(src.len().min(2048));
                let from = r.below(src.len() - len + 1);
                let to = r.below(n);
                for k in 0..len {
                    if to + k < data.len() {
                        data[to + k] = src[from + k];
                    }
                }
            }
            5 => {
                let at = r.below(n + 1);
                let len = 1 + r.below(64);
                let ins: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
                data.splice(at..at, ins);
            }
            6 if n > 0 => {
                let at = r.below(n);
                let len = 1 + r.below((n - at).min(4096));
                data.drain(at..at + len);
            }
            7 if n > 0 => {
                // duplicate a range in place
                let at = r.below(n);
                let len = 1 + r.below((n - at).min(4096));
                let chunk = data[at..at + len].to_vec();
                let to = r.below(n + 1);
                data.splice(to..to, chunk);
            }
            8 => {
                let len = 1 + r.below(1200);
                let zero = r.below(2) == 0;
                data.extend((0..len).map(|_| if zero { 0 } else { r.next() as u8 }));
            }
            _ if n > 0 => {
                // change a decimal digit run (sizes, heights, positions)
                let start = r.below(n);
                if let Some(i) = (start..n).find(|&i| data[i].is_ascii_digit()) {
                    data[i] = b'0' + r.below(10) as u8;
                }
            }
            _ => {}
        }
    }
}

fn fix_checksum(h: &mut [u8]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h[..BLOCK].iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// Tar-aware mutations: rewrite a header field of a header block and fix its checksum,
/// swap or duplicate whole members.
fn mutate_tar(r: &mut Rng, tar: &mut Vec<u8>, headers: &[usize]) {
    if headers.is_empty() || tar.len() < BLOCK {
        return;
    }
    let h = *r.pick(headers);
    if h + BLOCK > tar.len() {
        return;
    }
    match r.below(8) {
        0 => tar[h + 156] = *r.pick(b"0125673xgLKSV\0A"),
        1 => {
            let names: [&[u8]; 8] = [
                b"../evil",
                b"/etc/passwd",
                b"swing-store/../../x",
                b"swing-store/",
                b"genesis.json",
                b"./genesis.json",
                b"swing-store/snapshot.v1.42",
                b"swing-store/x\0y",
            ];
            let n = *r.pick(&names);
            tar[h..h + 100].fill(0);
            tar[h..h + n.len()].copy_from_slice(n);
        }
        2 => {
            let s = format!("{:011o}", r.next() % (1 << (3 * (1 + r.below(11)))));
            tar[h + 124..h + 135].copy_from_slice(s.as_bytes());
        }
        3 => {
            let links: [&[u8]; 3] = [b"/etc/passwd", b"../../evil", b"genesis.json"];
            let link = *r.pick(&links);
            tar[h + 157..h + 157 + link.len()].copy_from_slice(link);
            tar[h + 156] = *r.pick(b"12");
        }
        4 => {
            let i = h + r.below(BLOCK);
            tar[i] = r.next() as u8;
        }
        5 if headers.len() > 2 => {
            // swap two whole blocks ranges starting at headers
            let a = *r.pick(headers);
            let b = *r.pick(headers);
            let len = BLOCK * (1 + r.below(4));
            if a + len <= tar.len() && b + len <= tar.len() && (a + len <= b || b + len <= a) {
                for k in 0..len {
                    tar.swap(a + k, b + k);
                }
            }
        }
        6 => {
            // insert a hostile entry before this header
            let ty = *r.pick(b"2156x");
            let mut e = vec![0u8; BLOCK];
            e[..11].copy_from_slice(b"swing-store");
            e[100..108].copy_from_slice(b"0000644\0");
            e[124..136].copy_from_slice(b"00000000000\0");
            e[156] = ty;
            e[157..168].copy_from_slice(b"/etc/passwd");
            e[257..265].copy_from_slice(b"ustar\x0000");
            fix_checksum(&mut e);
            tar.splice(h..h, e);
            return;
        }
        _ => {
            let modes: [&[u8]; 3] = [b"0000755\0", b"0004755\0", b"0000000\0"];
            let m = *r.pick(&modes);
            tar[h + 100..h + 108].copy_from_slice(m);
        }
    }
    fix_checksum(&mut tar[h..h + BLOCK]);
}

// ---- reader target ----

struct Seed {
    name: String,
    tar: Vec<u8>,
    headers: Vec<usize>,
    /// member contents after the manifest, in order
    contents: Vec<Vec<u8>>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn pack_to(dir: &Path, out: &Path) -> Vec<u8> {
    let genesis = CanonicalGenesis::from_path(&dir.join("genesis.json"), None)
        .expect("fixture genesis parses");
    let mut src = ExportDir::open(&dir.join("swing-store")).expect("fixture export");
    let opts = PackOptions {
        compression: Compression::None,
        allow_height_mismatch: false,
        progress: false,
    };
    agar::pack::pack(genesis, &mut src, Some(out), &opts).expect("fixture packs");
    std::fs::read(out).expect("read packed fixture")
}

/// Split a tar stream into (manifest size, member (name, content)) if it has the
/// canonical framing; None otherwise.
type Members = Vec<(String, Vec<u8>)>;

fn members_of(tar: &[u8]) -> Option<(Vec<u8>, Members)> {
    let size = u64::from_str_radix(std::str::from_utf8(tar.get(124..135)?).ok()?, 8).ok()?;
    let mbytes = tar.get(BLOCK..BLOCK + size as usize)?.to_vec();
    let m = parse_manifest("fuzz", &mbytes).ok()?;
    let mut pos = BLOCK + size as usize + padding(size);
    let mut out = Vec::new();
    for mem in &m.members {
        let h = member_header(&mem.name, mem.size).len();
        let c = pos + h;
        out.push((
            mem.name.to_string(),
            tar.get(c..c + mem.size as usize)?.to_vec(),
        ));
        pos = c + mem.size as usize + padding(mem.size);
    }
    Some((mbytes, out))
}

fn canonical_rebuild(manifest: &[u8], members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut t = TarWriter::new(Vec::new());
    t.append_bytes(MANIFEST_MEMBER, manifest).unwrap();
    for (n, c) in members {
        t.append_bytes(n, c).unwrap();
    }
    t.finish().unwrap()
}

fn header_offsets(tar: &[u8]) -> Vec<usize> {
    (0..tar.len() / BLOCK)
        .map(|i| i * BLOCK)
        .filter(|&o| tar[o + 257..o + 262] == *b"ustar")
        .collect()
}

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut v)
        .ok()?;
    Some(v)
}

struct Stats {
    iters: u64,
    accepted: u64,
    accepted_variants: u64,
    rejected: u64,
    errors: u64,
    findings: u64,
    peak: usize,
}

struct Fuzz {
    crashes: PathBuf,
    stats: Stats,
    deadline: Instant,
    max_iters: u64,
}

impl Fuzz {
    fn more(&self) -> bool {
        self.stats.iters < self.max_iters && Instant::now() < self.deadline
    }
    fn finding(&mut self, what: &str, input: &[u8], ext: &str) {
        self.stats.findings += 1;
        std::fs::create_dir_all(&self.crashes).unwrap();
        let f = self.crashes.join(format!(
            "finding-{}-{}.{ext}",
            self.stats.findings, self.stats.iters
        ));
        std::fs::write(&f, input).unwrap();
        eprintln!("FINDING: {what}\n  input saved to {}", f.display());
    }
    /// Run `f` with panic capture and heap measurement.
    fn guarded<T>(&mut self, input: &[u8], ext: &str, f: impl FnOnce() -> T) -> Option<T> {
        let base = CUR.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let r = catch_unwind(AssertUnwindSafe(f));
        let grew = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        self.stats.peak = self.stats.peak.max(grew);
        if grew > HEAP_LIMIT + 8 * input.len() {
            self.finding(&format!("heap grew by {grew} bytes"), input, ext);
        }
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                self.finding(&format!("panic: {msg}"), input, ext);
                None
            }
        }
    }
}

fn fuzz_reader(fz: &mut Fuzz, r: &mut Rng, work: &Path) {
    let mut seeds = Vec::new();
    for d in [
        "tiny/genesis/debug",
        "tiny/genesis/operational",
        "pruned/genesis/debug",
    ] {
        let dir = fixtures().join(d);
        if !dir.join("genesis.json").exists() {
            continue;
        }
        let tar = pack_to(&dir, &work.join("seed.tar"));
        let (_, members) = members_of(&tar).expect("seed is canonical");
        seeds.push(Seed {
            name: d.into(),
            headers: header_offsets(&tar),
            contents: members.into_iter().map(|(_, c)| c).collect(),
            tar,
        });
    }
    let donors: Vec<Vec<u8>> = seeds.iter().map(|s| s.tar.clone()).collect();
    let gz_seeds: Vec<Vec<u8>> = seeds.iter().map(|s| gzip(&s.tar, 6)).collect();
    eprintln!(
        "reader: {} seeds ({})",
        seeds.len(),
        seeds
            .iter()
            .map(|s| format!("{} {} B", s.name, s.tar.len()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let path = work.join("input");
    while fz.more() {
        fz.stats.iters += 1;
        let si = r.below(seeds.len());
        let seed = &seeds[si];
        // how: 0 mutate tar; 1 mutate tar then gzip; 2 mutate gzip bytes
        let how = r.below(3);
        let input = match how {
            0 | 1 => {
                let mut t = seed.tar.clone();
                if r.below(2) == 0 {
                    mutate_tar(r, &mut t, &seed.headers);
                }
                if r.below(3) != 0 {
                    mutate_bytes(r, &mut t, &donors);
                }
                if how == 1 {
                    gzip(&t, 1 + r.below(9) as u32)
                } else {
                    t
                }
            }
            _ => {
                let mut g = gz_seeds[si].clone();
                mutate_bytes(r, &mut g, &gz_seeds);
                g
            }
        };
        if input == seed.tar || input == gz_seeds[si] {
            continue;
        }
        std::fs::write(&path, &input).unwrap();
        let res = fz.guarded(&input, "tar", || agar::verify::verify(&path, None, false));
        let Some(res) = res else { continue };
        match res {
            Err(_) => fz.stats.errors += 1,
            Ok(rep) if !rep.ok => fz.stats.rejected += 1,
            Ok(rep) => {
                fz.stats.accepted += 1;
                // accepted: must be canonical, with the seed's member contents
                let tar = if input.starts_with(&[0x1f, 0x8b]) {
                    gunzip(&input)
                } else {
                    Some(input.clone())
                };
                let Some(tar) = tar else {
                    fz.finding("accepted a gzip file flate2 cannot read", &input, "tar");
                    continue;
                };
                let canon =
                    members_of(&tar).map(|(m, mem)| (canonical_rebuild(&m, &mem) == tar, m, mem));
                match canon {
                    Some((true, m, mem)) => {
                        let same: bool = mem.len() == seed.contents.len()
                            && mem.iter().zip(&seed.contents).all(|((_, a), b)| a == b);
                        if !same {
                            fz.finding(
                                "accepted member contents that differ from the seed",
                                &input,
                                "tar",
                            );
                        } else if tar != seed.tar {
                            fz.stats.accepted_variants += 1;
                            let before = String::from_utf8_lossy(
                                &seed.tar[BLOCK..BLOCK + 4000.min(m.len())],
                            )
                            .to_string();
                            let after = String::from_utf8_lossy(&m).to_string();
                            if fz.stats.accepted_variants <= 3 {
                                eprintln!(
                                    "note: accepted a different canonical manifest (digest {}):\n  seed:  {}\n  input: {}",
                                    rep.digest.unwrap_or_default(),
                                    first_diff(&before, &after).0,
                                    first_diff(&before, &after).1
                                );
                            }
                        }
                    }
                    _ => fz.finding("accepted a non-canonical archive", &input, "tar"),
                }
            }
        }
        if fz.stats.iters.is_multiple_of(2000) {
            report(fz, "reader");
        }
    }
}

fn first_diff(a: &str, b: &str) -> (String, String) {
    let i = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(0);
    let s = i.saturating_sub(30);
    let cut = |t: &str| t.get(s..(i + 30).min(t.len())).unwrap_or("").to_string();
    (cut(a), cut(b))
}

// ---- gojson target ----

fn fuzz_gojson(fz: &mut Fuzz, r: &mut Rng) {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for f in [
        "tiny/export/debug/export-data.jsonl",
        "encoding/go-canonical-export-data.jsonl",
    ] {
        if let Ok(b) = std::fs::read(fixtures().join(f)) {
            lines.extend(
                b.split(|&c| c == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec),
            );
        }
    }
    for l in [
        &br#"["k","\ud83d\ude00 \u2028 <&> \u0000"]"#[..],
        br#"[ "k" , null ]"#,
        br#"["kv.x","\"\\\/\b\f\n\r\t"]"#,
    ] {
        lines.push(l.to_vec());
    }
    eprintln!("gojson: {} seed lines", lines.len());
    let donors = lines.clone();
    while fz.more() {
        fz.stats.iters += 1;
        let mut l = r.pick(&lines).clone();
        mutate_bytes(r, &mut l, &donors);
        let input = l.clone();
        let res = fz.guarded(&input, "line", || {
            let Ok(e) = agar::gojson::decode_line(&l) else {
                return Ok(false);
            };
            let enc =
                agar::gojson::encode_entry(e.key.as_bytes(), e.value.as_deref().map(str::as_bytes));
            let body = &enc[..enc.len() - 1];
            if body
                .iter()
                .any(|&b| b < 0x20 || b == b'<' || b == b'>' || b == b'&')
                || body
                    .windows(3)
                    .any(|w| w == "\u{2028}".as_bytes() || w == "\u{2029}".as_bytes())
            {
                return Err("encoder emitted a raw byte Go escapes".to_string());
            }
            match agar::gojson::decode_line(body) {
                Ok(e2) if e2 == e => Ok(true),
                Ok(_) => Err("re-encoded line decodes to a different entry".into()),
                Err(x) => Err(format!("re-encoded line does not decode: {x}")),
            }
        });
        match res {
            Some(Ok(true)) => fz.stats.accepted += 1,
            Some(Ok(false)) => fz.stats.rejected += 1,
            Some(Err(m)) => fz.finding(&m, &input, "line"),
            None => {}
        }
    }
}

// ---- genesis target ----

fn fuzz_genesis(fz: &mut Fuzz, r: &mut Rng) {
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for f in [
        "tiny/genesis/debug/genesis.json",
        "tiny/genesis/debug/genesis.camelcase.json",
        "tiny/genesis/operational/genesis.json",
    ] {
        if let Ok(b) = std::fs::read(fixtures().join(f)) {
            seeds.push(b);
        }
    }
    seeds.push(br#"{"chain_id":"c","initial_height":"7","app_state":{"swingset":{"swing_store_export_data":[{"key":"kv.a","value":"1"}]}},"x":[1e400,-0.0,18446744073709551616,"\ud800x"]}"#.to_vec());
    eprintln!("genesis: {} seeds", seeds.len());
    let donors = seeds.clone();
    while fz.more() {
        fz.stats.iters += 1;
        let mut g = r.pick(&seeds).clone();
        mutate_bytes(r, &mut g, &donors);
        let input = g.clone();
        let res = fz.guarded(&input, "json", || -> Result<bool, String> {
            let strict = agar::genesis::parse_strict("fuzz", &g).is_ok();
            let mut c = Vec::new();
            let streamed =
                agar::json::canon::canonicalize(std::io::Cursor::new(&g), "fuzz", &mut c).is_ok();
            if strict != streamed {
                return Err(format!(
                    "serde_json accepts: {strict}, the streaming canonicaliser accepts: {streamed}"
                ));
            }
            let Ok(gen) = CanonicalGenesis::canonicalize(std::io::Cursor::new(&g), "fuzz") else {
                return Ok(false);
            };
            let again = CanonicalGenesis::canonicalize(std::io::Cursor::new(&c), "fuzz")
                .map_err(|e| format!("canonical form does not parse: {e}"))?;
            let mut c2 = Vec::new();
            again.copy_to(&mut c2).map_err(|e| e.to_string())?;
            if c2 != c {
                return Err("canonical form is not a fixed point".into());
            }
            agar::json::walk::walk(&c[..], "fuzz", None, &[], None)
                .map_err(|e| format!("the checker refuses the canonical form: {e}"))?;
            let _ = gen.genesis.export_data_hash();
            let _ = gen.inline_export_data(&mut |_, _| Ok(()));
            let _ = gen.with_export_data_hash("sha256:00");
            Ok(true)
        });
        match res {
            Some(Ok(true)) => fz.stats.accepted += 1,
            Some(Ok(false)) => fz.stats.rejected += 1,
            Some(Err(m)) => fz.finding(&m, &input, "json"),
            None => {}
        }
    }
}

// ---- exportdir target ----

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn fuzz_exportdir(fz: &mut Fuzz, r: &mut Rng, work: &Path) {
    let dirs: Vec<(PathBuf, PathBuf)> = [
        (
            "tiny/genesis/debug/swing-store",
            "tiny/genesis/debug/genesis.json",
        ),
        ("tiny/export/debug", "tiny/genesis/debug/genesis.json"),
        (
            "tiny/export/operational",
            "tiny/genesis/operational/genesis.json",
        ),
    ]
    .iter()
    .map(|(d, g)| (fixtures().join(d), fixtures().join(g)))
    .filter(|(d, _)| d.exists())
    .collect();
    eprintln!("exportdir: {} seed directories", dirs.len());
    let opts = PackOptions {
        compression: Compression::None,
        allow_height_mismatch: true,
        progress: false,
    };
    while fz.more() {
        fz.stats.iters += 1;
        let (d, g) = r.pick(&dirs).clone();
        let dst = work.join("exp");
        let _ = std::fs::remove_dir_all(&dst);
        copy_dir(&d, &dst);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dst)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        // mostly the manifest and export data, sometimes an artifact
        let target = match r.below(4) {
            0 => dst.join("export-manifest.json"),
            1 | 2 => files
                .iter()
                .find(|p| p.to_string_lossy().ends_with("export-data.jsonl"))
                .cloned()
                .unwrap_or_else(|| dst.join("export-manifest.json")),
            _ => r.pick(&files).clone(),
        };
        let mut b = std::fs::read(&target).unwrap_or_default();
        let donors = vec![b.clone()];
        mutate_bytes(r, &mut b, &donors);
        std::fs::write(&target, &b).unwrap();
        let input = b.clone();
        let res = fz.guarded(&input, "file", || -> Result<bool, String> {
            let genesis = CanonicalGenesis::from_path(&g, None).map_err(|e| e.to_string())?;
            let Ok(mut src) = ExportDir::open(&dst) else {
                return Ok(false);
            };
            match agar::pack::plan(genesis, &mut src, &opts) {
                Err(_) => Ok(false),
                Ok(p) => {
                    if p.manifest.members.len() < 3 {
                        return Err("plan with fewer than 3 members".into());
                    }
                    Ok(true)
                }
            }
        });
        match res {
            Some(Ok(true)) => fz.stats.accepted += 1,
            Some(Ok(false)) => fz.stats.rejected += 1,
            Some(Err(m)) => fz.finding(&m, &input, "file"),
            None => {}
        }
    }
}

fn report(fz: &Fuzz, target: &str) {
    let s = &fz.stats;
    eprintln!(
        "{target}: {} iterations: {} rejected, {} I/O errors, {} accepted ({} accepted variants), {} findings, peak heap growth {} KiB",
        s.iters, s.rejected, s.errors, s.accepted, s.accepted_variants, s.findings, s.peak / 1024
    );
}

fn main() {
    let mut target = "all".to_string();
    let mut seconds: Option<u64> = None;
    let mut iters: Option<u64> = None;
    let mut seed = 1u64;
    let mut crashes: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--target" => target = val(),
            "--seconds" => seconds = Some(val().parse().expect("--seconds N")),
            "--iters" => iters = Some(val().parse().expect("--iters N")),
            "--seed" => seed = val().parse().expect("--seed N"),
            "--crashes" => crashes = Some(PathBuf::from(val())),
            _ => {
                eprintln!("usage: fuzz [--target reader|gojson|genesis|exportdir|all] [--seconds N] [--iters N] [--seed N] [--crashes DIR]");
                std::process::exit(2);
            }
        }
    }
    // keep panic messages short; they are recorded as findings
    std::panic::set_hook(Box::new(|i| eprintln!("panic: {i}")));
    let targets: Vec<&str> = if target == "all" {
        vec!["reader", "gojson", "genesis", "exportdir"]
    } else {
        vec![target.as_str()]
    };
    let per = seconds
        .map(|s| Duration::from_secs(s / targets.len() as u64))
        .unwrap_or(Duration::from_secs(if iters.is_some() {
            u64::MAX / 4
        } else {
            60
        }));
    let mut total = 0;
    for t in &targets {
        let work = tempfile::tempdir().unwrap();
        let mut fz = Fuzz {
            crashes: crashes
                .clone()
                .unwrap_or_else(|| {
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes")
                })
                .join(t),
            stats: Stats {
                iters: 0,
                accepted: 0,
                accepted_variants: 0,
                rejected: 0,
                errors: 0,
                findings: 0,
                peak: 0,
            },
            deadline: Instant::now() + per,
            max_iters: iters.unwrap_or(u64::MAX),
        };
        let mut r = Rng(seed ^ (t.len() as u64 * 0x1234567));
        let t0 = Instant::now();
        match *t {
            "reader" => fuzz_reader(&mut fz, &mut r, work.path()),
            "gojson" => fuzz_gojson(&mut fz, &mut r),
            "genesis" => fuzz_genesis(&mut fz, &mut r),
            "exportdir" => fuzz_exportdir(&mut fz, &mut r, work.path()),
            other => {
                eprintln!("unknown target {other}");
                std::process::exit(2);
            }
        }
        report(&fz, t);
        eprintln!("{t}: {:.1}s, seed {seed}", t0.elapsed().as_secs_f64());
        total += fz.stats.findings;
    }
    if total > 0 {
        eprintln!("{total} finding(s)");
        std::process::exit(1);
    }
}
