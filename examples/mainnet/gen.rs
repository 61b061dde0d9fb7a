//! A generator of realistic, internally consistent `agd export` directories at any scale
//! (shared by `examples/gen_mainnet.rs` and `tests/gen_mainnet.rs`).
//!
//! It writes `OUT/genesis.json` (the Cosmos modules of an Agoric chain: auth accounts, bank
//! balances and supply, staking validators and delegations, distribution, slashing, gov,
//! vstorage, swingset with `swing_store_export_data_hash`, ...) and `OUT/swing-store/` in
//! agd's Go layout (`export-manifest.json`, `export-data.jsonl` sorted bytewise and
//! Go-encoded, one `<index>-<name>` file per artifact). Every hash agrees: snapshot hashes,
//! transcript span hash chains, b0/b1 bundle IDs, the genesis export-data hash.
//!
//! Deterministic for a seed, streaming (the largest things held are the kv key list, about
//! 60 bytes per export-data entry, and one bundle), and disk-bound. The hashes come from
//! `agar::hashes` and the export-data encoding from `agar::gojson`, so what this writes is
//! what agar itself would call consistent; the official importer checks it independently
//! (see BENCHMARKS.md, "Mainnet scale").

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use agar::gojson::encode_entry_into;
use agar::hashes::{js_stringify_str, SpanHasher};
use sha2::{Digest, Sha256, Sha512};

/// Which artifacts the export carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Current snapshots, current transcript spans, bundles (what `agd export` writes).
    Operational,
    /// Also every span of each vat's current incarnation (a state-sync replay export).
    Replay,
}

/// The shape of genesis.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    /// Cosmos SDK 0.50+ (agoric upgrade-22 and later): `app_name, app_version, genesis_time,
    /// chain_id, initial_height` (a number), `app_hash, app_state, consensus`; module fields in
    /// proto order.
    V050,
    /// Cosmos SDK <= 0.47 (upgrade-21 and earlier): every object's keys sorted,
    /// `initial_height` a string, top-level `validators` and `consensus_params`.
    V047,
}

#[derive(Debug, Clone)]
pub struct Params {
    pub out: PathBuf,
    /// Total artifact bytes to aim for (within a few percent).
    pub artifact_bytes: u64,
    /// Export-data entries (exact).
    pub entries: u64,
    /// genesis.json bytes to aim for (within a few percent; at least a few hundred KB).
    pub genesis_bytes: u64,
    pub seed: u64,
    pub mode: Mode,
    pub sdk: Sdk,
    /// Number of vats (0: derived from the sizes).
    pub vats: u32,
    /// The export height; genesis `initial_height` is this + 1.
    pub height: u64,
    pub chain_id: String,
    /// Progress lines on stderr.
    pub progress: bool,
}

impl Params {
    pub fn new(out: PathBuf) -> Params {
        Params {
            out,
            artifact_bytes: 64 << 20,
            entries: 20_000,
            genesis_bytes: 4 << 20,
            seed: 1,
            mode: Mode::Operational,
            sdk: Sdk::V050,
            vats: 0,
            height: 18_940_812,
            chain_id: "agoric-3".into(),
            progress: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub artifacts: u64,
    pub artifact_bytes: u64,
    pub entries: u64,
    pub export_data_bytes: u64,
    pub genesis_bytes: u64,
    pub export_data_hash: String,
    pub vats: u32,
    pub accounts: u64,
    pub vstorage_entries: u64,
}

// ---------------------------------------------------------------------------------------
// Deterministic randomness (splitmix64: tiny, fast, and the bytes never move with a crate).

#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: &[u8]) -> Rng {
        let mut h = Sha256::new();
        h.update(seed.to_le_bytes());
        h.update(stream);
        let d = h.finalize();
        Rng(u64::from_le_bytes(d[..8].try_into().unwrap()))
    }
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// True with probability `1/n`.
    #[inline]
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

fn key_rng(seed: u64, key: &str) -> Rng {
    Rng::new(seed, key.as_bytes())
}

// ---------------------------------------------------------------------------------------
// Progress

struct Progress {
    on: bool,
    t0: Instant,
}

impl Progress {
    fn say(&self, msg: &str) {
        if self.on {
            eprintln!("[{:7.1}s] {msg}", self.t0.elapsed().as_secs_f64());
        }
    }
}

/// A writer that counts bytes and optionally hashes them.
struct Counted<W: Write> {
    inner: W,
    n: u64,
    sha: Option<Sha256>,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        if let Some(s) = self.sha.as_mut() {
            s.update(&buf[..k]);
        }
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn create(path: &Path) -> io::Result<Counted<BufWriter<File>>> {
    let f = File::options().write(true).create_new(true).open(path)?;
    Ok(Counted {
        inner: BufWriter::with_capacity(1 << 20, f),
        n: 0,
        sha: Some(Sha256::new()),
    })
}

fn finish(mut w: Counted<BufWriter<File>>) -> io::Result<(u64, String)> {
    w.flush()?;
    let n = w.n;
    let h = hex::encode(w.sha.take().unwrap().finalize());
    w.inner
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok((n, h))
}

// ---------------------------------------------------------------------------------------
// The swing-store plan

/// Kernel-wide kv keys of a real kernel, with short fixed values.
const STATIC_VATS: &[&str] = &[
    "bootstrap",
    "comms",
    "vattp",
    "timer",
    "vatAdmin",
    "zoe",
    "agoricNames",
    "board",
    "bank",
    "provisioning",
    "walletFactory",
    "priceAuthority",
];

#[derive(Debug, Clone)]
struct Span {
    start: u64,
    end: u64,
    incarnation: u64,
    current: bool,
    hash: String,
}

#[derive(Debug, Clone)]
struct Vat {
    id: String,
    /// Weight for its share of artifact bytes and kv entries.
    weight: f64,
    spans: Vec<Span>,
    /// Historical snapshot positions (inUse 0) and their hashes.
    old_snaps: Vec<(u64, String)>,
    /// The in-use snapshot position and hash.
    snap_pos: u64,
    snap_hash: String,
    snap_bytes: u64,
    /// Bytes per item in this vat's transcripts.
    item_bytes: u64,
}

const SPAN_ITEMS: u64 = 200; // kernel.snapshotInterval

fn vat_ids(n: u32) -> Vec<String> {
    let mut v: Vec<String> = (1..=n).map(|i| format!("v{i}")).collect();
    v.sort(); // text order (v1 < v10 < v2), as every swing-store query orders them
    v
}

struct Plan {
    vats: Vec<Vat>, // text order
    /// Per-vat artifact budgets.
    bundles: Vec<BundleSpec>,
}

#[derive(Debug, Clone)]
struct BundleSpec {
    index: u32,
    b1: bool,
    bytes: u64,
}

fn plan(p: &Params) -> Plan {
    let n_vats = if p.vats > 0 {
        p.vats
    } else {
        ((p.artifact_bytes / (40 << 20)) as u32).clamp(4, 400)
    };
    let mut rng = Rng::new(p.seed, b"plan");
    let ids = vat_ids(n_vats);
    // Byte split: bundles ~5%, the rest snapshots and spans.
    let bundle_total = p.artifact_bytes / 20;
    let rest = p.artifact_bytes - bundle_total;
    let (snap_total, span_total) = match p.mode {
        Mode::Operational => (rest * 97 / 100, rest * 3 / 100),
        Mode::Replay => (rest * 30 / 100, rest * 70 / 100),
    };
    // Skewed weights: a few big vats (zoe, wallets) and many small contract vats.
    let weights: Vec<f64> = (0..n_vats)
        .map(|i| {
            let base = 0.3 + (rng.below(1000) as f64) / 600.0;
            if i < 3 {
                base * 8.0
            } else {
                base
            }
        })
        .collect();
    let wsum: f64 = weights.iter().sum();
    let mut vats = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let w = weights[i] / wsum;
        let item_bytes = 600 + rng.below(2400);
        let snap_bytes = ((snap_total as f64 * w) as u64).max(4096);
        let span_budget = (span_total as f64 * w) as u64;
        let cur_items = 1 + rng.below(SPAN_ITEMS - 1);
        // Spans of the current incarnation before the current one (replay carries them).
        let hist_items = match p.mode {
            Mode::Operational => 0,
            Mode::Replay => span_budget / item_bytes,
        };
        let cur_inc_hist = hist_items / SPAN_ITEMS; // whole historical spans
                                                    // An older incarnation (not in a replay export) for most vats: 1-3 spans.
        let old_inc_spans = if rng.below(4) == 0 {
            0
        } else {
            1 + rng.below(3)
        };
        let incarnation = if old_inc_spans > 0 {
            1 + rng.below(2)
        } else {
            0
        };
        let mut spans = Vec::new();
        let mut pos = 0;
        for _ in 0..old_inc_spans {
            spans.push(Span {
                start: pos,
                end: pos + SPAN_ITEMS,
                incarnation: incarnation - 1,
                current: false,
                hash: String::new(),
            });
            pos += SPAN_ITEMS;
        }
        for _ in 0..cur_inc_hist.max(1) {
            spans.push(Span {
                start: pos,
                end: pos + SPAN_ITEMS,
                incarnation,
                current: false,
                hash: String::new(),
            });
            pos += SPAN_ITEMS;
        }
        spans.push(Span {
            start: pos,
            end: pos + cur_items,
            incarnation,
            current: true,
            hash: String::new(),
        });
        // Snapshots: one at the end of each historical span (position end-1); the one
        // before the current span is in use.
        let old_snaps = spans[..spans.len() - 2]
            .iter()
            .map(|s| (s.end - 1, String::new()))
            .collect();
        let snap_pos = spans[spans.len() - 2].end - 1;
        vats.push(Vat {
            id: id.clone(),
            weight: w,
            spans,
            old_snaps,
            snap_pos,
            snap_hash: String::new(),
            snap_bytes,
            item_bytes,
        });
    }
    // Bundles: mostly b1 (endoZipBase64) of 50 KB - 1.5 MB, some b0 (nestedEvaluate).
    let mut bundles = Vec::new();
    let mut left = bundle_total as i64;
    let mut i = 0;
    while left > 0 || bundles.len() < 2 {
        let b1 = i % 5 != 1;
        // Capped for tiny exports (a no-op from 50 MiB of artifacts up).
        let bytes = (50_000 + rng.below(1_500_000)).min((bundle_total / 2).max(20_000));
        bundles.push(BundleSpec {
            index: i,
            b1,
            bytes,
        });
        left -= bytes as i64;
        i += 1;
    }
    Plan { vats, bundles }
}

// ---------------------------------------------------------------------------------------
// Artifact contents

/// An XS-heap-like snapshot: a header, then 16-byte slots mixing small integers, pointers
/// and random words (compresses about 3:1 with gzip, like real snapshots).
fn write_snapshot<W: Write>(
    w: &mut W,
    rng: &mut Rng,
    vat: &str,
    pos: u64,
    bytes: u64,
) -> io::Result<String> {
    const CHUNK: usize = 1 << 20;
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity(CHUNK);
    buf.extend_from_slice(b"XS_M\0\x01\0\0VERS\x0b\0\x06\0SIGN");
    buf.extend_from_slice(format!("{vat}@{pos}\0").as_bytes());
    let mut left = bytes.saturating_sub(buf.len() as u64);
    let mut ptr: u64 = 0x7f00_0000_0000 + rng.below(1 << 30) * 16;
    loop {
        while buf.len() + 16 <= CHUNK && left >= 16 {
            let r = rng.next_u64();
            buf.push((r & 7) as u8);
            buf.push(((r >> 3) & 3) as u8);
            buf.extend_from_slice(&(((r >> 8) % 512) as u16).to_le_bytes());
            let val = if (r >> 20) & 3 == 0 {
                rng.next_u64() as u32
            } else {
                ((r >> 24) & 0xff) as u32
            };
            buf.extend_from_slice(&val.to_le_bytes());
            ptr += 16 * (1 + ((r >> 40) & 1));
            buf.extend_from_slice(&ptr.to_le_bytes());
            left -= 16;
        }
        if left < 16 && buf.len() + (left as usize) <= CHUNK {
            buf.resize(buf.len() + left as usize, 0);
            left = 0;
        }
        h.update(&buf);
        w.write_all(&buf)?;
        buf.clear();
        if left == 0 {
            return Ok(hex::encode(h.finalize()));
        }
    }
}

const METHODS: &[&str] = &[
    "executeOffer",
    "getUpdateSince",
    "updateState",
    "wake",
    "receive",
    "deposit",
    "makeInvitation",
    "getCurrentAmount",
    "publish",
    "tryExitSeat",
];

/// A capdata body with JSON-in-JSON escaping, occasional non-ASCII and HTML characters.
fn capdata(rng: &mut Rng, out: &mut String, approx: usize) {
    let brand = *rng.pick(&["IST", "BLD", "ATOM", "USDC", "stATOM", "OSMO"]);
    let mut body = String::from("#{");
    let mut first = true;
    while body.len() < approx {
        if !first {
            body.push(',');
        }
        first = false;
        let k = rng.below(6);
        match k {
            0 => body.push_str(&format!(
                "\"amount\":{{\"brand\":\"$0.Alleged: {brand} brand\",\"value\":\"+{}\"}}",
                rng.below(1 << 40)
            )),
            1 => body.push_str(&format!("\"memo\":\"offer-{}\"", rng.below(1 << 20))),
            2 => body.push_str(&format!("\"updated\":\"+{}\"", 1_700_000_000 + rng.below(1 << 26))),
            3 => body.push_str("\"note\":\"héllo ✓ <a&b> 😀\""),
            4 => body.push_str(&format!(
                "\"ratio\":{{\"numerator\":{{\"brand\":\"$1\",\"value\":\"+{}\"}},\"denominator\":{{\"brand\":\"$1\",\"value\":\"+{}\"}}}}",
                rng.below(1 << 30),
                1 + rng.below(1 << 30)
            )),
            _ => body.push_str(&format!("\"id\":{}", rng.below(1 << 32))),
        }
    }
    body.push('}');
    let mut slots = String::from("[");
    for i in 0..rng.below(3) {
        if i > 0 {
            slots.push(',');
        }
        slots.push_str(&format!("\"o-{}\"", 50 + rng.below(5000)));
    }
    slots.push(']');
    out.push_str("{\"body\":");
    js_stringify_str(out, &body);
    out.push_str(",\"slots\":");
    out.push_str(&slots);
    out.push('}');
}

/// One transcript item (a JSON object, ends in `}`, no raw newline).
fn transcript_item(rng: &mut Rng, out: &mut String, pos: u64, approx: u64) {
    out.clear();
    let m = rng.pick(METHODS);
    out.push_str(&format!(
        "{{\"d\":[\"message\",\"o+{}\",{{\"methargs\":{{\"body\":\"#[\\\"{m}\\\",[\\\"\\\",{{\\\"n\\\":{pos}}}]]\",\"slots\":[]}},\"result\":\"p-{}\"}}],\"sc\":[",
        rng.below(200),
        pos + 40
    ));
    let mut first = true;
    while (out.len() as u64) < approx {
        if !first {
            out.push(',');
        }
        first = false;
        let c = rng.below(40);
        let s = rng.below(5000);
        match rng.below(3) {
            0 => {
                let mut v = String::new();
                capdata(rng, &mut v, 80);
                out.push_str(&format!("[[\"vatstoreGet\",\"vc.{c}.s{s}\"],[\"ok\","));
                js_stringify_str(out, &v);
                out.push_str("]]");
            }
            1 => {
                let mut v = String::new();
                capdata(rng, &mut v, 80);
                out.push_str(&format!("[[\"vatstoreSet\",\"vc.{c}.s{s}\","));
                js_stringify_str(out, &v);
                out.push_str("],[\"ok\",null]]");
            }
            _ => out.push_str(&format!(
                "[[\"send\",\"ko{}\",{{\"methargs\":{{\"body\":\"#[\\\"updateState\\\",[]]\",\"slots\":[]}},\"result\":\"kp{}\"}}],[\"ok\",null]]",
                rng.below(100_000),
                rng.below(1_000_000)
            )),
        }
    }
    out.push_str("],\"r\":{\"status\":\"ok\"}}");
}

/// Write a span's artifact and return its hash (spec §4.1). `load` puts a load-snapshot
/// item first (the span after a snapshot); `save` a save-snapshot item last.
fn write_span<W: Write>(
    w: &mut W,
    rng: &mut Rng,
    span: &Span,
    item_bytes: u64,
    load: Option<&str>,
    save: Option<&str>,
) -> io::Result<String> {
    let mut h = SpanHasher::new();
    let mut item = String::new();
    for pos in span.start..span.end {
        let load = load.filter(|_| pos == span.start);
        let save = save.filter(|_| pos + 1 == span.end);
        if let Some(h) = load {
            item = format!(
                "{{\"d\":[\"load-snapshot\",{{\"snapshotID\":\"{h}\"}}],\"sc\":[],\"r\":{{\"status\":\"ok\"}}}}"
            );
        } else if let Some(h) = save {
            item = format!(
                "{{\"d\":[\"save-snapshot\"],\"sc\":[],\"r\":{{\"status\":\"ok\",\"snapshotID\":\"{h}\"}}}}"
            );
        } else {
            let approx = item_bytes / 2 + rng.below(item_bytes);
            transcript_item(rng, &mut item, pos, approx);
        }
        h.push(item.as_bytes());
        w.write_all(item.as_bytes())?;
        w.write_all(b"\n")?;
    }
    Ok(h.hex().to_string())
}

/// A b0 bundle: `JSON.stringify({moduleFormat, source, sourceMap})` (spec §4.3).
fn b0_bundle(seed: u64, spec: &BundleSpec) -> (String, Vec<u8>) {
    let mut rng = Rng::new(seed, format!("bundle{}", spec.index).as_bytes());
    let mut src = String::from(
        "(sourceUrlPrefix) => ((functors => options => {\n  'use strict';\n\n  const {\n    Map,\n    Object,\n  } = globalThis;\n",
    );
    let mut n = 0;
    while (src.len() as u64) < spec.bytes {
        src.push_str(&format!(
            "  // module {n} of bundle {}\n  const f{n} = (x) => {{ if (x < {}) {{ return \"<{}>&\\\"q\\\"\"; }} return x * {}; }};\n",
            spec.index,
            rng.below(1 << 20),
            rng.below(1 << 16),
            rng.below(97)
        ));
        n += 1;
    }
    src.push_str("  return f0;\n}))");
    let mut text = String::from("{\"moduleFormat\":\"nestedEvaluate\",\"source\":");
    js_stringify_str(&mut text, &src);
    text.push_str(",\"sourceMap\":");
    js_stringify_str(
        &mut text,
        &format!(
            "//# sourceURL=/bundled-source/gen-{}/index.js\n",
            spec.index
        ),
    );
    text.push('}');
    let id = format!("b0-{}", hex::encode(Sha256::digest(text.as_bytes())));
    (id, text.into_bytes())
}

/// A b1 bundle: an Endo archive zip (STORED) with `compartment-map.json` and two
/// precompiled modules; the ID is the SHA-512 of the compartment map (spec §4.3).
fn b1_bundle(seed: u64, spec: &BundleSpec) -> (String, Vec<u8>) {
    let mut rng = Rng::new(seed, format!("bundle{}", spec.index).as_bytes());
    let comp = format!("gen-contract-{}-v1.0.0", spec.index);
    let mut body = String::new();
    let mut n = 0;
    while (body.len() as u64) < spec.bytes {
        body.push_str(&format!(
            "const t{n} = harden({{ tag: 'gen-{}-{n}', scale: {}, label: `é✓ ${{{n}}}` }});\n",
            spec.index,
            rng.below(1 << 30)
        ));
        n += 1;
    }
    let helper_prog = format!(
        "({{imports:$h\u{34f}_imports,liveVar:$h\u{34f}_live,onceVar:$h\u{34f}_once,import:$h\u{34f}_import,importMeta:$h\u{34f}____meta}})=>(function(){{'use strict';$h\u{34f}_imports([]);{body}const table = [{}];$h\u{34f}_once.table(table);\n}})()\n",
        (0..n.min(50)).map(|i| format!("t{i}")).collect::<Vec<_>>().join(",")
    );
    let index_prog = "({imports:$h\u{34f}_imports,liveVar:$h\u{34f}_live,onceVar:$h\u{34f}_once,import:$h\u{34f}_import,importMeta:$h\u{34f}____meta})=>(function(){'use strict';let table;$h\u{34f}_imports([[\"./table.js\", [[\"table\",[$h\u{34f}_a => (table = $h\u{34f}_a)]]]]]);\n\n       const buildRootObject = () => harden({ size: () => table.length });$h\u{34f}_once.buildRootObject(buildRootObject);\n})()\n";
    let module = |prog: &str, imports: &str, export: &str| {
        let mut s = format!("{{\"imports\":{imports},\"exports\":[\"{export}\"],\"reexports\":[],\"__syncModuleProgram__\":");
        js_stringify_str(&mut s, prog);
        s.push_str(&format!(",\"__liveExportMap__\":{{}},\"__reexportMap__\":{{}},\"__fixedExportMap__\":{{\"{export}\":[\"{export}\"]}},\"__needsImport__\":false,\"__needsImportMeta__\":false}}"));
        s
    };
    let table_js = module(&helper_prog, "[]", "table");
    let index_js = module(index_prog, "[\"./table.js\"]", "buildRootObject");
    let sha = |b: &str| hex::encode(Sha512::digest(b.as_bytes()));
    let cmap = format!(
        "{{\n  \"tags\": [],\n  \"entry\": {{\n    \"compartment\": \"{comp}\",\n    \"module\": \"./index.js\"\n  }},\n  \"compartments\": {{\n    \"{comp}\": {{\n      \"name\": \"gen-contract-{i}\",\n      \"label\": \"$root$\",\n      \"location\": \"{comp}\",\n      \"modules\": {{\n        \"./index.js\": {{\n          \"location\": \"index.js\",\n          \"parser\": \"pre-mjs-json\",\n          \"sha512\": \"{si}\"\n        }},\n        \"./table.js\": {{\n          \"location\": \"table.js\",\n          \"parser\": \"pre-mjs-json\",\n          \"sha512\": \"{st}\"\n        }}\n      }}\n    }}\n  }}\n}}",
        i = spec.index,
        si = sha(&index_js),
        st = sha(&table_js),
    );
    let id = format!("b1-{}", hex::encode(Sha512::digest(cmap.as_bytes())));
    let mut zw = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    for (name, data) in [
        ("compartment-map.json".to_string(), cmap.as_bytes()),
        (format!("{comp}/index.js"), index_js.as_bytes()),
        (format!("{comp}/table.js"), table_js.as_bytes()),
    ] {
        zw.start_file(name, opts).unwrap();
        zw.write_all(data).unwrap();
    }
    let bytes = zw.finish().unwrap().into_inner();
    (id, bytes)
}

fn bundle(seed: u64, spec: &BundleSpec) -> (String, Vec<u8>) {
    if spec.b1 {
        b1_bundle(seed, spec)
    } else {
        b0_bundle(seed, spec)
    }
}

// ---------------------------------------------------------------------------------------
// kv entries

#[derive(Clone, Copy)]
enum KvKind {
    Fixed(&'static str),
    VatOptions(u32),
    Small,   // "1,1", "fulfilled", counters...
    Owner,   // "v12"
    CList,   // "R o+123" / "ko123"
    Capdata, // JSON capdata
    Vom,     // virtual object state (larger JSON)
    Big,     // an occasional large value
    LastSnapshot(u32),
}

fn kv_keys(p: &Params, vats: &[Vat], budget: u64) -> Vec<(String, KvKind)> {
    let mut out: Vec<(String, KvKind)> = Vec::new();
    let names: Vec<String> = STATIC_VATS.iter().map(|s| format!("\"{s}\"")).collect();
    let fixed: &[(&str, &'static str)] = &[
        ("acceptanceQueue", "[]"),
        (
            "activityhash",
            "67d04152dd7ae01f3a2c26cff48d066d6e234a27797a0b6dc8a74e86423a041e",
        ),
        ("crankNumber", "71893420"),
        ("gcActions", "[]"),
        ("kd.nextID", "31"),
        ("kernel.defaultManagerType", "xsnap"),
        (
            "kernel.defaultReapDirtThreshold",
            "{\"deliveries\":1000,\"gcKrefs\":20,\"computrons\":\"never\"}",
        ),
        ("kernel.snapshotInitial", "3"),
        ("kernel.snapshotInterval", "200"),
        ("reapQueue", "[]"),
        ("runQueue", "[1034,1034]"),
        ("vat.dynamicIDs", "[\"v13\",\"v14\"]"),
        ("vats.terminated", "[]"),
    ];
    for (k, v) in fixed {
        out.push((k.to_string(), KvKind::Fixed(v)));
    }
    out.push((
        "vat.names".into(),
        KvKind::Fixed(Box::leak(format!("[{}]", names.join(",")).into_boxed_str())),
    ));
    for (i, n) in STATIC_VATS.iter().enumerate() {
        let v = vats[i % vats.len()].id.clone();
        out.push((
            format!("vat.name.{n}"),
            KvKind::Fixed(Box::leak(v.into_boxed_str())),
        ));
    }
    for (i, v) in vats.iter().enumerate() {
        let i = i as u32;
        out.push((format!("{}.options", v.id), KvKind::VatOptions(i)));
        out.push((format!("{}.source", v.id), KvKind::VatOptions(i)));
        out.push((format!("{}.o.nextID", v.id), KvKind::Small));
        out.push((format!("{}.p.nextID", v.id), KvKind::Small));
        out.push((format!("{}.incarnationNumber", v.id), KvKind::Small));
        out.push((format!("{}.lastSnapshot", v.id), KvKind::LastSnapshot(i)));
    }
    let fixed_n = out.len() as u64;
    let mut left = budget.saturating_sub(fixed_n);
    let mut rng = Rng::new(p.seed, b"kv-keys");
    // Cumulative vat weights to pick an owner vat.
    let mut cum = Vec::with_capacity(vats.len());
    let mut acc = 0.0;
    for v in vats {
        acc += v.weight;
        cum.push(acc);
    }
    let pick_vat = |rng: &mut Rng| -> &str {
        let x = (rng.below(1 << 30) as f64) / ((1u64 << 30) as f64) * acc;
        let i = cum.partition_point(|c| *c < x).min(vats.len() - 1);
        &vats[i].id
    };
    let (mut ko, mut kp, mut coll) = (100u64, 100u64, 0u64);
    let mut vom = 0u64;
    while left > 0 {
        let r = rng.below(100);
        if r < 20 && left >= 4 {
            // A kernel object, its owner and its c-list pair.
            let v = pick_vat(&mut rng).to_string();
            out.push((format!("ko{ko}.owner"), KvKind::Owner));
            out.push((format!("ko{ko}.refCount"), KvKind::Small));
            out.push((format!("{v}.c.ko{ko}"), KvKind::CList));
            out.push((format!("{v}.c.o+{ko}"), KvKind::CList));
            ko += 1;
            left -= 4;
        } else if r < 28 && left >= 4 {
            for f in ["state", "refCount", "data.body", "data.slots"] {
                let kind = if f == "data.body" {
                    KvKind::Capdata
                } else {
                    KvKind::Small
                };
                out.push((format!("kp{kp}.{f}"), kind));
            }
            kp += 1;
            left -= 4;
        } else if r < 48 && left >= 2 {
            let v = pick_vat(&mut rng).to_string();
            let kind = 10 + rng.below(40);
            vom += 1;
            let id = vom;
            out.push((format!("{v}.vs.vom.o+d{kind}/{id}"), KvKind::Vom));
            out.push((format!("{v}.vs.vom.rc.o+d{kind}/{id}"), KvKind::Small));
            left -= 2;
        } else {
            let v = pick_vat(&mut rng).to_string();
            coll += 1;
            let c = 1 + rng.below(60);
            let kind = if rng.one_in(20_000) {
                KvKind::Big
            } else {
                KvKind::Capdata
            };
            out.push((format!("{v}.vs.vc.{c}.s{coll}"), kind));
            left -= 1;
        }
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out
}

fn kv_value(p: &Params, vats: &[Vat], key: &str, kind: KvKind, out: &mut String) {
    out.clear();
    let mut rng = key_rng(p.seed, key);
    match kind {
        KvKind::Fixed(v) => out.push_str(v),
        KvKind::VatOptions(i) => {
            let v = &vats[i as usize];
            if key.ends_with(".options") {
                out.push_str(&format!(
                    "{{\"workerOptions\":{{\"type\":\"xsnap\",\"bundleIDs\":[\"b0-{}\"]}},\"name\":\"{}\",\"enableSetup\":false,\"enablePipelining\":false,\"critical\":false,\"reapDirtThreshold\":{{}}}}",
                    hex::encode(Sha256::digest(v.id.as_bytes())),
                    STATIC_VATS.get(i as usize).copied().unwrap_or("zcf-gen-contract")
                ));
            } else {
                out.push_str(&format!(
                    "{{\"bundleID\":\"b1-{}\"}}",
                    hex::encode(Sha512::digest(v.id.as_bytes()))
                ));
            }
        }
        KvKind::Small => {
            if key.ends_with(".state") {
                out.push_str(if rng.one_in(4) {
                    "unresolved"
                } else {
                    "fulfilled"
                });
            } else if key.ends_with(".refCount") {
                out.push_str(&format!("{},{}", rng.below(5), rng.below(5)));
            } else if key.ends_with(".data.slots") {
                out.push_str(&format!("ko{}", rng.below(1 << 20)));
            } else {
                out.push_str(&format!("{}", 1 + rng.below(1 << 24)));
            }
        }
        KvKind::Owner => out.push_str(&vats[rng.below(vats.len() as u64) as usize].id),
        KvKind::CList => {
            if key.contains(".c.ko") {
                out.push_str(&format!("R o+{}", rng.below(1 << 16)));
            } else {
                let ko = key.rsplit("o+").next().unwrap_or("1");
                out.push_str(&format!("ko{ko}"));
            }
        }
        KvKind::Capdata => {
            let approx = if rng.one_in(10) {
                400 + rng.below(2000)
            } else {
                40 + rng.below(200)
            };
            capdata(&mut rng, out, approx as usize);
        }
        KvKind::Vom => {
            let approx = 100 + rng.below(900);
            let mut inner = String::new();
            capdata(&mut rng, &mut inner, approx as usize);
            out.push_str("{\"state\":");
            js_stringify_str(out, &inner);
            out.push_str(",\"facets\":\"{\\\"body\\\":\\\"#[]\\\",\\\"slots\\\":[]}\"}");
        }
        KvKind::Big => {
            let approx = 50_000 + rng.below(150_000);
            capdata(&mut rng, out, approx as usize);
        }
        KvKind::LastSnapshot(i) => {
            let v = &vats[i as usize];
            out.push_str(&format!(
                "{{\"snapshotID\":\"{}\",\"snapPos\":{}}}",
                v.snap_hash, v.snap_pos
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The swing-store directory

fn write_swing_store(p: &Params, pr: &Progress, sum: &mut Summary) -> io::Result<String> {
    let dir = p.out.join("swing-store");
    fs::create_dir(&dir)?;
    let mut pl = plan(p);
    sum.vats = pl.vats.len() as u32;
    let mut manifest: Vec<(String, String)> = Vec::new();
    let mut add_artifact = |name: String| -> PathBuf {
        let file = format!("{}-{}", manifest.len(), name);
        let path = dir.join(&file);
        manifest.push((name, file));
        path
    };
    // 1. In-use snapshots (vat text order), then historical snapshot hashes, which only
    // appear in records: compute them from small stand-in contents.
    pr.say(&format!("snapshots of {} vats", pl.vats.len()));
    for v in pl.vats.iter_mut() {
        let mut rng = Rng::new(p.seed, format!("snap.{}", v.id).as_bytes());
        let name = format!("snapshot.{}.{}", v.id, v.snap_pos);
        let mut w = create(&add_artifact(name))?;
        v.snap_hash = write_snapshot(&mut w, &mut rng, &v.id, v.snap_pos, v.snap_bytes)?;
        let (n, _) = finish(w)?;
        sum.artifact_bytes += n;
        sum.artifacts += 1;
        for (pos, h) in v.old_snaps.iter_mut() {
            let mut sink = io::sink();
            *h = write_snapshot(&mut sink, &mut rng, &v.id, *pos, 4096)?;
        }
    }
    // 2. Transcript spans: all span hashes are needed for the records; the artifacts are
    // the current span (operational) or the current incarnation's spans (replay).
    pr.say("transcript spans");
    let mut done_bytes = 0u64;
    for v in pl.vats.iter_mut() {
        let cur_inc = v.spans.last().unwrap().incarnation;
        let snaps: BTreeMap<u64, String> = v
            .old_snaps
            .iter()
            .cloned()
            .chain(std::iter::once((v.snap_pos, v.snap_hash.clone())))
            .collect();
        let n_spans = v.spans.len();
        for si in 0..n_spans {
            let span = v.spans[si].clone();
            let artifact = match p.mode {
                Mode::Operational => span.current,
                Mode::Replay => span.incarnation == cur_inc,
            };
            let mut rng = Rng::new(p.seed, format!("span.{}.{}", v.id, span.start).as_bytes());
            let load = if si > 0 && v.spans[si - 1].incarnation == span.incarnation {
                snaps.get(&(span.start - 1)).cloned()
            } else {
                None
            };
            let save = snaps.get(&(span.end - 1)).cloned();
            let item_bytes = if artifact { v.item_bytes } else { 64 };
            let hash = if artifact {
                let name = format!("transcript.{}.{}.{}", v.id, span.start, span.end);
                let mut w = create(&add_artifact(name))?;
                let h = write_span(
                    &mut w,
                    &mut rng,
                    &span,
                    item_bytes,
                    load.as_deref(),
                    save.as_deref(),
                )?;
                let (n, _) = finish(w)?;
                sum.artifact_bytes += n;
                sum.artifacts += 1;
                done_bytes += n;
                h
            } else {
                write_span(
                    &mut io::sink(),
                    &mut rng,
                    &span,
                    item_bytes,
                    load.as_deref(),
                    save.as_deref(),
                )?
            };
            v.spans[si].hash = hash;
        }
    }
    pr.say(&format!("transcripts: {} MB", done_bytes >> 20));
    // 3. Bundles in bundleID order: each is written once under a temporary name, then
    // renamed into its place in the sorted order (only IDs are kept in memory).
    pr.say(&format!("{} bundles", pl.bundles.len()));
    let mut ids: Vec<(String, PathBuf)> = Vec::new();
    for b in &pl.bundles {
        let (id, bytes) = bundle(p.seed, b);
        let tmp = dir.join(format!("tmp-bundle-{}", b.index));
        let mut w = create(&tmp)?;
        w.write_all(&bytes)?;
        let (n, _) = finish(w)?;
        sum.artifact_bytes += n;
        sum.artifacts += 1;
        ids.push((id, tmp));
    }
    ids.sort();
    for (id, tmp) in &ids {
        fs::rename(tmp, add_artifact(format!("bundle.{id}")))?;
    }
    // 4. Export data: sorted bytewise by key (bundle. < kv. < snapshot. < transcript.).
    let mut meta: BTreeMap<String, String> = BTreeMap::new();
    for v in &pl.vats {
        for (pos, h) in &v.old_snaps {
            meta.insert(
                format!("snapshot.{}.{pos}", v.id),
                format!(
                    "{{\"vatID\":\"{}\",\"snapPos\":{pos},\"hash\":\"{h}\",\"inUse\":0}}",
                    v.id
                ),
            );
        }
        meta.insert(
            format!("snapshot.{}.{}", v.id, v.snap_pos),
            format!(
                "{{\"vatID\":\"{}\",\"snapPos\":{},\"hash\":\"{}\",\"inUse\":1}}",
                v.id, v.snap_pos, v.snap_hash
            ),
        );
        meta.insert(
            format!("snapshot.{}.current", v.id),
            format!("snapshot.{}.{}", v.id, v.snap_pos),
        );
        for s in &v.spans {
            let key = if s.current {
                format!("transcript.{}.current", v.id)
            } else {
                format!("transcript.{}.{}", v.id, s.start)
            };
            meta.insert(
                key,
                format!(
                    "{{\"vatID\":\"{}\",\"startPos\":{},\"endPos\":{},\"hash\":\"{}\",\"isCurrent\":{},\"incarnation\":{}}}",
                    v.id, s.start, s.end, s.hash, s.current as u8, s.incarnation
                ),
            );
        }
    }
    let fixed = meta.len() as u64 + ids.len() as u64;
    if p.entries < fixed + 40 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--entries {} is too small: {} vats and {} bundles already need {fixed} metadata entries plus ~40 kernel keys",
                p.entries,
                pl.vats.len(),
                ids.len()
            ),
        ));
    }
    pr.say("export data: sorting kv keys");
    let keys = kv_keys(p, &pl.vats, p.entries - fixed);
    pr.say(&format!(
        "export data: {} entries",
        keys.len() as u64 + fixed
    ));
    let mut w = create(&dir.join("export-data.jsonl"))?;
    let mut line = Vec::with_capacity(1 << 16);
    let mut put = |w: &mut Counted<BufWriter<File>>, k: &[u8], v: &[u8]| -> io::Result<()> {
        line.clear();
        encode_entry_into(&mut line, k, Some(v));
        w.write_all(&line)
    };
    for (id, _) in &ids {
        put(&mut w, format!("bundle.{id}").as_bytes(), id.as_bytes())?;
    }
    let mut val = String::new();
    let mut kk = String::new();
    let mut prev: Option<&str> = None;
    for (k, kind) in &keys {
        if prev == Some(k.as_str()) {
            return Err(io::Error::other(format!("duplicate kv key {k}")));
        }
        prev = Some(k);
        kv_value(p, &pl.vats, k, *kind, &mut val);
        kk.clear();
        kk.push_str("kv.");
        kk.push_str(k);
        put(&mut w, kk.as_bytes(), val.as_bytes())?;
    }
    for (k, v) in &meta {
        put(&mut w, k.as_bytes(), v.as_bytes())?;
    }
    let (n, hash) = finish(w)?;
    sum.entries = keys.len() as u64 + fixed;
    sum.export_data_bytes = n;
    // 5. The Go manifest (json.MarshalIndent, no blockHeight, no trailing newline).
    let mut m = String::from("{\n  \"data\": \"export-data.jsonl\",\n  \"artifacts\": [");
    for (i, (name, file)) in manifest.iter().enumerate() {
        m.push_str(if i == 0 { "\n" } else { ",\n" });
        m.push_str(&format!(
            "    [\n      \"{name}\",\n      \"{file}\"\n    ]"
        ));
    }
    m.push_str("\n  ]\n}");
    fs::write(dir.join("export-manifest.json"), m)?;
    Ok(format!("sha256:{hash}"))
}

// ---------------------------------------------------------------------------------------
// genesis.json

/// A small JSON value, rendered compactly (keys sorted under SDK 0.47).
enum J {
    S(String),
    N(String),
    Raw(&'static str),
    A(Vec<J>),
    O(Vec<(&'static str, J)>),
}

fn s(x: impl Into<String>) -> J {
    J::S(x.into())
}
fn n(x: impl std::fmt::Display) -> J {
    J::N(x.to_string())
}
fn sn(x: impl std::fmt::Display) -> J {
    J::S(x.to_string())
}

fn render(j: &J, sorted: bool, out: &mut String) {
    match j {
        J::S(x) => js_stringify_str(out, x),
        J::N(x) => out.push_str(x),
        J::Raw(x) => out.push_str(x),
        J::A(xs) => {
            out.push('[');
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(x, sorted, out);
            }
            out.push(']');
        }
        J::O(fs) => {
            let mut idx: Vec<usize> = (0..fs.len()).collect();
            if sorted {
                idx.sort_by_key(|&i| fs[i].0);
            }
            out.push('{');
            for (c, &i) in idx.iter().enumerate() {
                if c > 0 {
                    out.push(',');
                }
                js_stringify_str(out, fs[i].0);
                out.push(':');
                render(&fs[i].1, sorted, out);
            }
            out.push('}');
        }
    }
}

type Out = Counted<BufWriter<File>>;
type Stream<'a> = Box<dyn FnOnce(&mut Out) -> io::Result<()> + 'a>;

enum F<'a> {
    J(J),
    Stream(Stream<'a>),
}

/// Write an object whose members may stream (keys sorted under SDK 0.47).
fn write_obj(w: &mut Out, sorted: bool, mut fields: Vec<(&'static str, F<'_>)>) -> io::Result<()> {
    if sorted {
        fields.sort_by_key(|f| f.0);
    }
    w.write_all(b"{")?;
    let mut buf = String::new();
    for (i, (k, f)) in fields.into_iter().enumerate() {
        buf.clear();
        if i > 0 {
            buf.push(',');
        }
        js_stringify_str(&mut buf, k);
        buf.push(':');
        match f {
            F::J(j) => {
                render(&j, sorted, &mut buf);
                w.write_all(buf.as_bytes())?;
            }
            F::Stream(f) => {
                w.write_all(buf.as_bytes())?;
                f(w)?;
            }
        }
    }
    w.write_all(b"}")
}

/// Stream a JSON array of `count` items made by `item`.
fn write_arr<'a>(sorted: bool, count: u64, mut item: impl FnMut(u64) -> J + 'a) -> F<'a> {
    F::Stream(Box::new(move |w: &mut Out| {
        w.write_all(b"[")?;
        let mut buf = String::new();
        for i in 0..count {
            buf.clear();
            if i > 0 {
                buf.push(',');
            }
            render(&item(i), sorted, &mut buf);
            w.write_all(buf.as_bytes())?;
        }
        w.write_all(b"]")
    }))
}

/// A well-formed bech32 address (20 bytes, checksum included) for `prefix`, derived from
/// the seed: agar's chain-state check verifies every address.
fn addr(seed: u64, prefix: &str, i: u64) -> String {
    let d = Sha256::digest(format!("{seed}/{prefix}/{i}").as_bytes());
    let hrp = bech32::Hrp::parse(prefix).expect("a valid bech32 prefix");
    bech32::encode::<bech32::Bech32>(hrp, &d[..20]).expect("20 bytes encode")
}

/// Voting power of `tokens` (the SDK's power reduction, 10^6).
fn power(tokens: u64) -> u64 {
    tokens / 1_000_000
}

/// The bank address of a module account (`bonded_tokens_pool`, ...).
fn module_addr(name: &str) -> String {
    let hrp = bech32::Hrp::parse("agoric").expect("a valid bech32 prefix");
    bech32::encode::<bech32::Bech32>(hrp, &agar::chain::check::module_address(name))
        .expect("20 bytes encode")
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::new();
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let v = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | (b[2] as u32);
        for k in 0..4 {
            if k <= c.len() {
                o.push(T[((v >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

fn pubkey(seed: u64, tag: &str, i: u64, len: usize) -> String {
    let d = Sha512::digest(format!("{seed}/{tag}/{i}").as_bytes());
    let mut k = d[..len].to_vec();
    if len == 33 {
        k[0] = 2 + (k[0] & 1);
    }
    b64(&k)
}

/// The coins of account `i`'s bank balance.
fn balance_coins(i: u64) -> Vec<(&'static str, u64)> {
    let mut coins = vec![("ubld", 1 + (i * 2_654_435_761) % 10_000_000_000)];
    if i.is_multiple_of(3) {
        coins.insert(
            0,
            (
                IBC_DENOMS[(i % 4) as usize],
                1 + (i * 40_503) % 1_000_000_000,
            ),
        );
    }
    if i % 4 == 1 {
        coins.push(("uist", 1 + (i * 9_973) % 100_000_000_000));
    }
    coins
}

/// The supply: per denom, the sum of every balance (what the bank module's invariant
/// and agar's chain-state check require), in denom order.
fn balance_sums(accounts: u64) -> std::collections::BTreeMap<&'static str, u64> {
    let mut sums = std::collections::BTreeMap::new();
    for i in 0..accounts {
        for (d, a) in balance_coins(i) {
            *sums.entry(d).or_insert(0) += a;
        }
    }
    sums
}

fn coin(denom: &str, amount: u64) -> J {
    J::O(vec![("denom", s(denom)), ("amount", sn(amount))])
}

const IBC_DENOMS: &[&str] = &[
    "ibc/BA313C4A19DFBF943586C0387E6B11286F9E416B4DD27574E6909CABE0E342FA",
    "ibc/FE98AAD68F02F03565E9FA39A5E627946699B2B07115889ED812D8BA639576A9",
    "ibc/42225F147137DDEB5FEF0F1D0A92F2AD57557AFA2C4D6F30B21E0D983001C002",
    "ibc/3914BDEF46F429A26917E4D8D434620EC4817DC6B6E68FB327E190902F1E9242",
];

#[allow(clippy::vec_init_then_push)]
fn write_genesis(p: &Params, pr: &Progress, hash: &str, sum: &mut Summary) -> io::Result<()> {
    let sorted = p.sdk == Sdk::V047;
    let seed = p.seed;
    let n_val = 100u64;
    // About 1 KB of genesis per account across auth, bank, staking and distribution; the
    // rest (about half) is vstorage.
    let accounts = (p.genesis_bytes / 1000).max(200);
    let delegators = accounts * 3 / 10;
    sum.accounts = accounts;
    let path = p.out.join("genesis.json");
    let mut w = create(&path)?;
    w.sha = None;
    pr.say(&format!("genesis: {accounts} accounts, {n_val} validators"));
    let valoper = |i: u64| addr(seed, "agoricvaloper", i);
    let acct = |i: u64| addr(seed, "agoric", i);
    let valcons = |i: u64| addr(seed, "agoricvalcons", i);
    let del_val = |i: u64| (i * 7919) % n_val;
    // Validator tokens are exactly their delegations' shares (exchange rate 1), so shares,
    // tokens, power, the staking pools and the bank supply agree (the SDK's invariants,
    // which agar's chain-state check verifies).
    let mut vt = vec![0u64; n_val as usize];
    // delegations per validator: its historical rewards record is referenced once by the
    // validator and once per delegation's starting info (x/distribution's reference-count
    // invariant, which agar's check verifies)
    let mut dels = vec![0u64; n_val as usize];
    for i in 0..delegators {
        let a = i * 10 / 3;
        vt[del_val(a) as usize] += 1_000_000 + a * 13;
        dels[del_val(a) as usize] += 1;
    }
    let dels = &dels;
    let bonded = |i: u64| i % 37 != 5;
    let bonded_pool: u64 = (0..n_val)
        .filter(|&i| bonded(i))
        .map(|i| vt[i as usize])
        .sum();
    let not_bonded_pool: u64 = (0..n_val)
        .filter(|&i| !bonded(i))
        .map(|i| vt[i as usize])
        .sum::<u64>()
        + (0..delegators / 100).map(|i| 5_000_000 + i).sum::<u64>();
    let pools = [
        (module_addr("bonded_tokens_pool"), bonded_pool),
        (module_addr("not_bonded_tokens_pool"), not_bonded_pool),
    ];
    let total_power: u64 = (0..n_val).map(|i| power(vt[i as usize])).sum();
    let vt = &vt;
    let pools = &pools;

    let genesis_time = "2026-03-04T17:01:23.456789012Z";
    let validator_j = |i: u64| -> J {
        J::O(vec![
            ("operator_address", s(valoper(i))),
            (
                "consensus_pubkey",
                J::O(vec![
                    ("@type", s("/cosmos.crypto.ed25519.PubKey")),
                    ("key", s(pubkey(seed, "val", i, 32))),
                ]),
            ),
            ("jailed", J::Raw(if i % 37 == 5 { "true" } else { "false" })),
            (
                "status",
                s(if i % 37 == 5 {
                    "BOND_STATUS_UNBONDING"
                } else {
                    "BOND_STATUS_BONDED"
                }),
            ),
            ("tokens", sn(vt[i as usize])),
            (
                "delegator_shares",
                s(format!("{}.000000000000000000", vt[i as usize])),
            ),
            (
                "description",
                J::O(vec![
                    ("moniker", s(format!("validator-{i} ✓"))),
                    ("identity", s(format!("{:016X}", i * 0x9e37_79b9))),
                    ("website", s(format!("https://val{i}.example.com"))),
                    (
                        "security_contact",
                        s(format!("security@val{i}.example.com")),
                    ),
                    ("details", s("Secure <staking> & monitoring since 2021")),
                ]),
            ),
            (
                "unbonding_height",
                sn(if i % 37 == 5 { p.height - 1000 } else { 0 }),
            ),
            ("unbonding_time", s("1970-01-01T00:00:00Z")),
            (
                "commission",
                J::O(vec![
                    (
                        "commission_rates",
                        J::O(vec![
                            ("rate", s("0.050000000000000000")),
                            ("max_rate", s("0.200000000000000000")),
                            ("max_change_rate", s("0.010000000000000000")),
                        ]),
                    ),
                    ("update_time", s("2023-05-01T00:00:00Z")),
                ]),
            ),
            ("min_self_delegation", s("1")),
            ("unbonding_on_hold_ref_count", s("0")),
            ("unbonding_ids", J::A(vec![])),
        ])
    };
    let cometval = |i: u64| -> J {
        J::O(vec![
            ("address", s(format!("{:040X}", i * 0x1234_5678_9abc))),
            (
                "pub_key",
                J::O(vec![
                    ("type", s("tendermint/PubKeyEd25519")),
                    ("value", s(pubkey(seed, "val", i, 32))),
                ]),
            ),
            ("power", sn(power(vt[i as usize]))),
            ("name", s(format!("validator-{i} ✓"))),
        ])
    };

    // Top-level header.
    let top_validators = F::J(J::A((0..n_val).map(cometval).collect()));
    let consensus_params = || {
        J::O(vec![
            (
                "block",
                J::O(vec![("max_bytes", s("22020096")), ("max_gas", s("-1"))]),
            ),
            (
                "evidence",
                J::O(vec![
                    ("max_age_num_blocks", s("100000")),
                    ("max_age_duration", s("172800000000000")),
                    ("max_bytes", s("1048576")),
                ]),
            ),
            (
                "validator",
                J::O(vec![("pub_key_types", J::A(vec![s("ed25519")]))]),
            ),
            ("version", J::O(vec![("app", s("0"))])),
            (
                "abci",
                J::O(vec![("vote_extensions_enable_height", s("0"))]),
            ),
        ])
    };

    let app_state: Stream<'_> = Box::new(|w: &mut Out| {
        let mut modules: Vec<(&'static str, F<'_>)> = Vec::new();
        modules.push((
            "auth",
            F::Stream(Box::new(move |w: &mut Out| {
                write_obj(
                    w,
                    sorted,
                    vec![
                        (
                            "params",
                            F::J(J::O(vec![
                                ("max_memo_characters", s("256")),
                                ("tx_sig_limit", s("7")),
                                ("tx_size_cost_per_byte", s("10")),
                                ("sig_verify_cost_ed25519", s("590")),
                                ("sig_verify_cost_secp256k1", s("1000")),
                            ])),
                        ),
                        (
                            "accounts",
                            write_arr(sorted, accounts, move |i| {
                                let base = J::O(vec![
                                    ("address", s(acct(i))),
                                    (
                                        "pub_key",
                                        if i % 5 == 0 {
                                            J::Raw("null")
                                        } else {
                                            J::O(vec![
                                                ("@type", s("/cosmos.crypto.secp256k1.PubKey")),
                                                ("key", s(pubkey(seed, "acct", i, 33))),
                                            ])
                                        },
                                    ),
                                    ("account_number", sn(i)),
                                    ("sequence", sn((i * 31) % 97)),
                                ]);
                                if i % 50 == 7 {
                                    J::O(vec![
                                        (
                                            "@type",
                                            s("/cosmos.vesting.v1beta1.ContinuousVestingAccount"),
                                        ),
                                        (
                                            "base_vesting_account",
                                            J::O(vec![
                                                ("base_account", base),
                                                (
                                                    "original_vesting",
                                                    J::A(vec![coin("ubld", 1_000_000_000 + i)]),
                                                ),
                                                ("delegated_free", J::A(vec![])),
                                                (
                                                    "delegated_vesting",
                                                    J::A(vec![coin("ubld", 500_000_000)]),
                                                ),
                                                ("end_time", sn(1_800_000_000 + i)),
                                            ]),
                                        ),
                                        ("start_time", sn(1_650_000_000 + i)),
                                    ])
                                } else {
                                    let J::O(mut f) = base else { unreachable!() };
                                    f.insert(0, ("@type", s("/cosmos.auth.v1beta1.BaseAccount")));
                                    J::O(f)
                                }
                            }),
                        ),
                    ],
                )
            })),
        ));
        modules.push(("authz", F::J(J::O(vec![("authorization", J::A(vec![]))]))));
        modules.push((
            "bank",
            F::Stream(Box::new(move |w: &mut Out| {
                write_obj(
                    w,
                    sorted,
                    vec![
                        (
                            "params",
                            F::J(J::O(vec![
                                ("send_enabled", J::A(vec![])),
                                ("default_send_enabled", J::Raw("true")),
                            ])),
                        ),
                        (
                            "balances",
                            write_arr(sorted, accounts + 2, move |i| {
                                if i >= accounts {
                                    // the staking pools' module accounts
                                    let (a, amount) = &pools[(i - accounts) as usize];
                                    return J::O(vec![
                                        ("address", s(a.as_str())),
                                        ("coins", J::A(vec![coin("ubld", *amount)])),
                                    ]);
                                }
                                let coins = balance_coins(i)
                                    .into_iter()
                                    .map(|(d, a)| coin(d, a))
                                    .collect();
                                J::O(vec![("address", s(acct(i))), ("coins", J::A(coins))])
                            }),
                        ),
                        (
                            "supply",
                            F::J(J::A({
                                let mut sums = balance_sums(accounts);
                                *sums.entry("ubld").or_insert(0) += bonded_pool + not_bonded_pool;
                                sums.into_iter().map(|(d, a)| coin(d, a)).collect()
                            })),
                        ),
                        (
                            "denom_metadata",
                            F::J(J::A(vec![J::O(vec![
                                (
                                    "description",
                                    s("The native staking token of the Agoric network."),
                                ),
                                (
                                    "denom_units",
                                    J::A(vec![
                                        J::O(vec![
                                            ("denom", s("ubld")),
                                            ("exponent", n(0)),
                                            ("aliases", J::A(vec![])),
                                        ]),
                                        J::O(vec![
                                            ("denom", s("bld")),
                                            ("exponent", n(6)),
                                            ("aliases", J::A(vec![])),
                                        ]),
                                    ]),
                                ),
                                ("base", s("ubld")),
                                ("display", s("bld")),
                                ("name", s("Agoric staking token")),
                                ("symbol", s("BLD")),
                                ("uri", s("")),
                                ("uri_hash", s("")),
                            ])])),
                        ),
                        ("send_enabled", F::J(J::A(vec![]))),
                    ],
                )
            })),
        ));
        modules.push((
            "capability",
            F::J(J::O(vec![("index", s("9")), ("owners", J::A(vec![]))])),
        ));
        modules.push((
            "crisis",
            F::J(J::O(vec![("constant_fee", coin("ubld", 1000))])),
        ));
        modules.push((
            "distribution",
            F::Stream(Box::new(move |w: &mut Out| {
                write_obj(
                    w,
                    sorted,
                    vec![
                        (
                            "params",
                            F::J(J::O(vec![
                                ("community_tax", s("0.020000000000000000")),
                                ("base_proposer_reward", s("0.000000000000000000")),
                                ("bonus_proposer_reward", s("0.000000000000000000")),
                                ("withdraw_addr_enabled", J::Raw("true")),
                            ])),
                        ),
                        (
                            "fee_pool",
                            F::J(J::O(vec![(
                                "community_pool",
                                J::A(vec![J::O(vec![
                                    ("denom", s("ubld")),
                                    ("amount", s("123456789.123456789012345678")),
                                ])]),
                            )])),
                        ),
                        (
                            "delegator_withdraw_infos",
                            write_arr(sorted, delegators / 20, move |i| {
                                J::O(vec![
                                    ("delegator_address", s(acct(i * 20))),
                                    ("withdraw_address", s(acct(i * 20 + 1))),
                                ])
                            }),
                        ),
                        ("previous_proposer", F::J(s(valcons(3)))),
                        (
                            "outstanding_rewards",
                            write_arr(sorted, n_val, move |i| {
                                J::O(vec![
                                    ("validator_address", s(valoper(i))),
                                    (
                                        "outstanding_rewards",
                                        J::A(vec![J::O(vec![
                                            ("denom", s("ubld")),
                                            (
                                                "amount",
                                                s(format!("{}.123400000000000000", 1000 + i)),
                                            ),
                                        ])]),
                                    ),
                                ])
                            }),
                        ),
                        (
                            "validator_accumulated_commissions",
                            write_arr(sorted, n_val, move |i| {
                                J::O(vec![
                                    ("validator_address", s(valoper(i))),
                                    ("accumulated", J::O(vec![("commission", J::A(vec![]))])),
                                ])
                            }),
                        ),
                        (
                            "validator_historical_rewards",
                            write_arr(sorted, n_val, move |i| {
                                J::O(vec![
                                    ("validator_address", s(valoper(i))),
                                    ("period", sn(1000 + i)),
                                    (
                                        "rewards",
                                        J::O(vec![
                                            ("cumulative_reward_ratio", J::A(vec![])),
                                            ("reference_count", n(1 + dels[i as usize])),
                                        ]),
                                    ),
                                ])
                            }),
                        ),
                        (
                            "validator_current_rewards",
                            write_arr(sorted, n_val, move |i| {
                                J::O(vec![
                                    ("validator_address", s(valoper(i))),
                                    (
                                        "rewards",
                                        J::O(vec![
                                            ("rewards", J::A(vec![])),
                                            ("period", sn(1001 + i)),
                                        ]),
                                    ),
                                ])
                            }),
                        ),
                        (
                            "delegator_starting_infos",
                            write_arr(sorted, delegators, move |i| {
                                let a = i * 10 / 3;
                                J::O(vec![
                                    ("delegator_address", s(acct(a))),
                                    ("validator_address", s(valoper(del_val(a)))),
                                    (
                                        "starting_info",
                                        J::O(vec![
                                            // the validator's current period - 1
                                            ("previous_period", sn(1000 + del_val(a))),
                                            (
                                                "stake",
                                                s(format!(
                                                    "{}.000000000000000000",
                                                    1_000_000 + a * 13
                                                )),
                                            ),
                                            ("height", sn(p.height - (a % 1_000_000))),
                                        ]),
                                    ),
                                ])
                            }),
                        ),
                        ("validator_slash_events", F::J(J::A(vec![]))),
                    ],
                )
            })),
        ));
        modules.push(("evidence", F::J(J::O(vec![("evidence", J::A(vec![]))]))));
        modules.push(("feegrant", F::J(J::O(vec![("allowances", J::A(vec![]))]))));
        modules.push(("genutil", F::J(J::O(vec![("gen_txs", J::A(vec![]))]))));
        modules.push((
            "gov",
            F::Stream(Box::new(move |w: &mut Out| {
                write_obj(
                    w,
                    sorted,
                    vec![
                        ("starting_proposal_id", F::J(s("120"))),
                        ("deposits", F::J(J::A(vec![]))),
                        (
                            "votes",
                            write_arr(sorted, accounts / 50, move |i| {
                                J::O(vec![
                                    ("proposal_id", sn(119)),
                                    ("voter", s(acct(i * 50))),
                                    (
                                        "options",
                                        J::A(vec![J::O(vec![("option", s("VOTE_OPTION_YES")), ("weight", s("1.000000000000000000"))])]),
                                    ),
                                    ("metadata", s("")),
                                ])
                            }),
                        ),
                        (
                            "proposals",
                            write_arr(sorted, 119, move |i| {
                                J::O(vec![
                                    ("id", sn(i + 1)),
                                    (
                                        "messages",
                                        J::A(vec![J::O(vec![
                                            ("@type", s("/cosmos.gov.v1.MsgExecLegacyContent")),
                                            (
                                                "content",
                                                J::O(vec![
                                                    ("@type", s("/agoric.swingset.CoreEvalProposal")),
                                                    ("title", s(format!("Proposal {} <core-eval> & upgrade", i + 1))),
                                                    ("description", s("Upgrade the vaults and the auctioneer.\n\nSee https://github.com/Agoric/agoric-sdk")),
                                                    ("evals", J::A(vec![])),
                                                ]),
                                            ),
                                            ("authority", s(addr(seed, "agoric", 999_999_999))),
                                        ])]),
                                    ),
                                    ("status", s("PROPOSAL_STATUS_PASSED")),
                                    (
                                        "final_tally_result",
                                        J::O(vec![
                                            ("yes_count", sn(40_000_000_000_000 + i)),
                                            ("abstain_count", s("0")),
                                            ("no_count", sn(i * 1000)),
                                            ("no_with_veto_count", s("0")),
                                        ]),
                                    ),
                                    ("submit_time", s("2024-01-02T03:04:05Z")),
                                    ("deposit_end_time", s("2024-01-04T03:04:05Z")),
                                    ("total_deposit", J::A(vec![coin("ubld", 5_000_000_000)])),
                                    ("voting_start_time", s("2024-01-02T03:04:05Z")),
                                    ("voting_end_time", s("2024-01-05T03:04:05Z")),
                                    ("metadata", s("")),
                                    ("title", s(format!("Proposal {}", i + 1))),
                                    ("summary", s("Core eval")),
                                    ("proposer", s(acct(i))),
                                    ("expedited", J::Raw("false")),
                                    ("failed_reason", s("")),
                                ])
                            }),
                        ),
                        (
                            "params",
                            F::J(J::O(vec![
                                ("min_deposit", J::A(vec![coin("ubld", 5_000_000_000)])),
                                ("max_deposit_period", s("172800s")),
                                ("voting_period", s("259200s")),
                                ("quorum", s("0.334000000000000000")),
                                ("threshold", s("0.500000000000000000")),
                                ("veto_threshold", s("0.334000000000000000")),
                                ("min_initial_deposit_ratio", s("0.000000000000000000")),
                                ("burn_vote_quorum", J::Raw("false")),
                            ])),
                        ),
                    ],
                )
            })),
        ));
        modules.push((
            "ibc",
            F::J(J::O(vec![
                (
                    "client_genesis",
                    J::O(vec![
                        ("clients", J::A(vec![])),
                        ("next_client_sequence", s("62")),
                    ]),
                ),
                (
                    "connection_genesis",
                    J::O(vec![
                        ("connections", J::A(vec![])),
                        ("next_connection_sequence", s("71")),
                    ]),
                ),
                (
                    "channel_genesis",
                    J::O(vec![
                        ("channels", J::A(vec![])),
                        ("next_channel_sequence", s("104")),
                    ]),
                ),
            ])),
        ));
        modules.push((
            "mint",
            F::J(J::O(vec![
                (
                    "minter",
                    J::O(vec![
                        ("inflation", s("0.050000000000000000")),
                        ("annual_provisions", s("49000000000000.000000000000000000")),
                    ]),
                ),
                (
                    "params",
                    J::O(vec![
                        ("mint_denom", s("ubld")),
                        ("blocks_per_year", s("6311520")),
                        ("goal_bonded", s("0.670000000000000000")),
                    ]),
                ),
            ])),
        ));
        modules.push((
            "slashing",
            F::Stream(Box::new(move |w: &mut Out| {
                write_obj(
                    w,
                    sorted,
                    vec![
                        (
                            "params",
                            F::J(J::O(vec![
                                ("signed_blocks_window", s("10000")),
                                ("min_signed_per_window", s("0.050000000000000000")),
                                ("downtime_jail_duration", s("600s")),
                                ("slash_fraction_double_sign", s("0.050000000000000000")),
                                ("slash_fraction_downtime", s("0.000100000000000000")),
                            ])),
                        ),
                        (
                            "signing_infos",
                            write_arr(sorted, n_val, move |i| {
                                J::O(vec![
                                    ("address", s(valcons(i))),
                                    (
                                        "validator_signing_info",
                                        J::O(vec![
                                            ("address", s(valcons(i))),
                                            ("start_height", sn(i * 1000)),
                                            ("index_offset", sn(p.height + i)),
                                            ("jailed_until", s("1970-01-01T00:00:00Z")),
                                            ("tombstoned", J::Raw("false")),
                                            ("missed_blocks_counter", sn(i % 13)),
                                        ]),
                                    ),
                                ])
                            }),
                        ),
                        (
                            "missed_blocks",
                            write_arr(sorted, n_val, move |i| {
                                J::O(vec![
                                    ("address", s(valcons(i))),
                                    (
                                        "missed_blocks",
                                        J::A(
                                            (0..i % 13)
                                                .map(|k| {
                                                    J::O(vec![
                                                        ("index", sn(k * 97)),
                                                        ("missed", J::Raw("true")),
                                                    ])
                                                })
                                                .collect(),
                                        ),
                                    ),
                                ])
                            }),
                        ),
                    ],
                )
            })),
        ));
        modules.push((
            "staking",
            F::Stream(Box::new(move |w: &mut Out| {
                write_obj(
                    w,
                    sorted,
                    vec![
                        (
                            "params",
                            F::J(J::O(vec![
                                ("unbonding_time", s("1814400s")),
                                ("max_validators", n(100)),
                                ("max_entries", n(7)),
                                ("historical_entries", n(10000)),
                                ("bond_denom", s("ubld")),
                                ("min_commission_rate", s("0.050000000000000000")),
                            ])),
                        ),
                        ("last_total_power", F::J(sn(total_power))),
                        (
                            "last_validator_powers",
                            write_arr(sorted, n_val, move |i| {
                                J::O(vec![
                                    ("address", s(valoper(i))),
                                    ("power", sn(power(vt[i as usize]))),
                                ])
                            }),
                        ),
                        ("validators", write_arr(sorted, n_val, validator_j)),
                        (
                            "delegations",
                            write_arr(sorted, delegators, move |i| {
                                let a = i * 10 / 3;
                                J::O(vec![
                                    ("delegator_address", s(acct(a))),
                                    ("validator_address", s(valoper(del_val(a)))),
                                    (
                                        "shares",
                                        s(format!("{}.000000000000000000", 1_000_000 + a * 13)),
                                    ),
                                ])
                            }),
                        ),
                        (
                            "unbonding_delegations",
                            write_arr(sorted, delegators / 100, move |i| {
                                let a = i * 333;
                                J::O(vec![
                                    ("delegator_address", s(acct(a))),
                                    ("validator_address", s(valoper(del_val(a)))),
                                    (
                                        "entries",
                                        J::A(vec![J::O(vec![
                                            ("creation_height", sn(p.height - 1000 - i)),
                                            (
                                                "completion_time",
                                                s("2026-03-20T10:00:00.123456789Z"),
                                            ),
                                            ("initial_balance", sn(5_000_000 + i)),
                                            ("balance", sn(5_000_000 + i)),
                                            ("unbonding_id", sn(80_000 + i)),
                                            ("unbonding_on_hold_ref_count", s("0")),
                                        ])]),
                                    ),
                                ])
                            }),
                        ),
                        ("redelegations", F::J(J::A(vec![]))),
                        ("exported", F::J(J::Raw("true"))),
                    ],
                )
            })),
        ));
        modules.push((
            "swingset",
            F::J(J::O(vec![
                (
                    "params",
                    J::O(vec![
                        (
                            "beans_per_unit",
                            J::A(
                                [
                                    ("xsnapComputron", "100"),
                                    ("blockComputeLimit", "65000000000"),
                                    ("vatCreation", "300000"),
                                    ("feeUnit", "4000000000000"),
                                    ("inboundTx", "400000000"),
                                    ("message", "8000000"),
                                    ("messageByte", "20000"),
                                    ("minFeeDebit", "5000000"),
                                    ("storageByte", "2000000"),
                                    ("smartWalletProvision", "40000000000000"),
                                ]
                                .iter()
                                .map(|(k, b)| J::O(vec![("key", s(*k)), ("beans", s(*b))]))
                                .collect(),
                            ),
                        ),
                        ("fee_unit_price", J::A(vec![coin("uist", 1_000_000)])),
                        (
                            "bootstrap_vat_config",
                            s("@agoric/vm-config/decentral-main-vaults-config.json"),
                        ),
                        (
                            "power_flag_fees",
                            J::A(vec![J::O(vec![
                                ("power_flag", s("SMART_WALLET")),
                                ("fee", J::A(vec![coin("ubld", 10_000_000)])),
                            ])]),
                        ),
                        (
                            "queue_max",
                            J::A(vec![J::O(vec![("key", s("inbound")), ("size", n(1000))])]),
                        ),
                        (
                            "vat_cleanup_budget",
                            J::A(vec![
                                J::O(vec![("key", s("default")), ("value", s("5"))]),
                                J::O(vec![("key", s("kv")), ("value", s("50"))]),
                            ]),
                        ),
                        ("installation_deadline_blocks", s("-1")),
                        ("installation_deadline_seconds", s("86400")),
                        ("bundle_uncompressed_size_limit_bytes", s("10000000")),
                        ("chunk_size_limit_bytes", s("490000")),
                    ]),
                ),
                (
                    "state",
                    J::O(vec![
                        (
                            "queue_allowed",
                            J::A(vec![J::O(vec![("key", s("inbound")), ("size", n(1000))])]),
                        ),
                        ("first_chunked_artifact_id", s("0")),
                        ("last_chunked_artifact_id", s("0")),
                        ("next_chunked_artifact_id", s("0")),
                    ]),
                ),
                ("swing_store_export_data", J::A(vec![])),
                ("swing_store_export_data_hash", s(hash)),
            ])),
        ));
        modules.push((
            "transfer",
            F::J(J::O(vec![
                ("port_id", s("transfer")),
                (
                    "denom_traces",
                    J::A(
                        IBC_DENOMS
                            .iter()
                            .enumerate()
                            .map(|(i, _)| {
                                J::O(vec![
                                    ("path", s(format!("transfer/channel-{i}"))),
                                    ("base_denom", s("uatom")),
                                ])
                            })
                            .collect(),
                    ),
                ),
                (
                    "params",
                    J::O(vec![
                        ("send_enabled", J::Raw("true")),
                        ("receive_enabled", J::Raw("true")),
                    ]),
                ),
                ("total_escrowed", J::A(vec![])),
            ])),
        ));
        modules.push(("upgrade", F::J(J::O(vec![]))));
        modules.push((
            "vbank",
            F::J(J::O(vec![
                (
                    "params",
                    J::O(vec![
                        ("reward_epoch_duration_blocks", s("0")),
                        ("per_epoch_reward_fraction", s("1.000000000000000000")),
                        ("reward_smoothing_blocks", s("1")),
                        ("allowed_monitoring_accounts", J::A(vec![s("*")])),
                    ]),
                ),
                (
                    "state",
                    J::O(vec![
                        ("rewardPool", J::A(vec![])),
                        ("reward_block_amount", J::A(vec![])),
                        ("last_sequence", s("1234567")),
                        ("last_reward_distribution_block", s("0")),
                    ]),
                ),
            ])),
        ));
        modules.push(("vesting", F::J(J::O(vec![]))));
        modules.push(("vibc", F::J(J::O(vec![("params", J::O(vec![]))]))));
        modules.push(("vlocalchain", F::J(J::O(vec![]))));
        // vstorage fills what is left of the byte budget; the modules after it are small
        // and measured first.
        let mut tail = String::new();
        render(
            &J::O(vec![("watched_addresses", J::A(vec![]))]),
            sorted,
            &mut tail,
        );
        let tail_bytes = tail.len() as u64 + 4000 + if sorted { 40_000 } else { 30_000 };
        let target = p.genesis_bytes;
        let vst = &mut sum.vstorage_entries;
        modules.push((
            "vstorage",
            F::Stream(Box::new(move |w: &mut Out| {
                write_obj(
                    w,
                    sorted,
                    vec![(
                        "data",
                        F::Stream(Box::new(move |w: &mut Out| {
                            w.write_all(b"[")?;
                            let mut i = 0u64;
                            let mut buf = String::new();
                            let mut val = String::new();
                            while w.n + tail_bytes < target || i < 10 {
                                let mut rng = Rng::new(seed, format!("vstorage{i}").as_bytes());
                                let path = match i % 4 {
                                    0 | 1 => format!("published.wallet.{}.current", acct(i / 2)),
                                    2 => format!("published.wallet.{}", acct(i / 2)),
                                    _ => format!(
                                        "published.vaultFactory.managers.manager{}.vaults.vault{}",
                                        i % 7,
                                        i / 4
                                    ),
                                };
                                val.clear();
                                let approx = 40 + rng.below(300) as usize;
                                capdata(&mut rng, &mut val, approx);
                                let mut outer = String::from("{\"blockHeight\":\"");
                                outer.push_str(&(p.height - rng.below(1_000_000)).to_string());
                                outer.push_str("\",\"values\":[");
                                js_stringify_str(&mut outer, &val);
                                outer.push_str("]}");
                                buf.clear();
                                if i > 0 {
                                    buf.push(',');
                                }
                                render(
                                    &J::O(vec![("path", J::S(path)), ("value", J::S(outer))]),
                                    sorted,
                                    &mut buf,
                                );
                                w.write_all(buf.as_bytes())?;
                                i += 1;
                            }
                            *vst = i;
                            w.write_all(b"]")
                        })),
                    )],
                )
            })),
        ));
        modules.push((
            "vtransfer",
            F::J(J::O(vec![("watched_addresses", J::A(vec![]))])),
        ));
        write_obj(w, sorted, modules)
    });

    let mut top: Vec<(&'static str, F<'_>)> = Vec::new();
    match p.sdk {
        Sdk::V050 => {
            top.push(("app_name", F::J(s("agd"))));
            top.push(("app_version", F::J(s("0.35.0-u22.0"))));
            top.push(("genesis_time", F::J(s(genesis_time))));
            top.push(("chain_id", F::J(s(&p.chain_id))));
            top.push(("initial_height", F::J(n(p.height + 1))));
            top.push(("app_hash", F::J(s(""))));
            top.push(("app_state", F::Stream(app_state)));
            let vals = (0..n_val).map(cometval).collect();
            top.push((
                "consensus",
                F::J(J::O(vec![
                    ("validators", J::A(vals)),
                    ("params", consensus_params()),
                ])),
            ));
        }
        Sdk::V047 => {
            top.push(("genesis_time", F::J(s(genesis_time))));
            top.push(("chain_id", F::J(s(&p.chain_id))));
            top.push(("initial_height", F::J(sn(p.height + 1))));
            top.push(("consensus_params", F::J(consensus_params())));
            top.push(("validators", top_validators));
            top.push(("app_hash", F::J(s(""))));
            top.push(("app_state", F::Stream(app_state)));
        }
    }
    write_obj(&mut w, sorted, top)?;
    w.write_all(b"\n")?;
    w.flush()?;
    sum.genesis_bytes = w.n;
    w.inner
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok(())
}

/// Write the export directory `p.out` (which must not exist, or be an empty directory).
pub fn generate(p: &Params) -> io::Result<Summary> {
    match fs::read_dir(&p.out) {
        Ok(mut d) => {
            if d.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{}: not empty; give a new or empty directory",
                        p.out.display()
                    ),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(&p.out)?,
        Err(e) => return Err(e),
    }
    let pr = Progress {
        on: p.progress,
        t0: Instant::now(),
    };
    let mut sum = Summary::default();
    let hash = write_swing_store(p, &pr, &mut sum)?;
    sum.export_data_hash = hash.clone();
    write_genesis(p, &pr, &hash, &mut sum)?;
    pr.say("done");
    Ok(sum)
}

/// Parse `10G`, `250M`, `64K`, `1200000`, `1.2M` (powers of 1024 for bytes).
pub fn parse_size(s: &str, binary: bool) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], if binary { 1u64 << 10 } else { 1_000 }),
        Some('m' | 'M') => (&s[..s.len() - 1], if binary { 1 << 20 } else { 1_000_000 }),
        Some('g' | 'G') => (
            &s[..s.len() - 1],
            if binary { 1 << 30 } else { 1_000_000_000 },
        ),
        _ => (s, 1),
    };
    let x: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 10G, 250M, 1.2M, 4096)"))?;
    if x.is_nan() || x < 0.0 {
        return Err(format!("{s:?} is negative"));
    }
    Ok((x * mult as f64) as u64)
}
