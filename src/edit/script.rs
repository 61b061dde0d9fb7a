//! Edit scripts: parsing (`{"base": ..., "edits": [...]}`, schema in
//! `schemas/edit-script.schema.json`), resolving file references into content digests,
//! and the machine-independent provenance JSON of the operations.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::archive::is_sha256_hex;
use crate::bundle::Encoding;
use crate::error::{bail, Error, Result};
use crate::hashes::{ArtifactChecker, SpanHasher};
use crate::model::{kv_export_key, kv_key_problem, ArtifactName, ArtifactRecord, SpanRecord};

/// One edit operation, with every file already read and digested.
#[derive(Debug, Clone)]
pub enum Op {
    /// kv-set (`add: false`: the key must exist) or kv-add (`add: true`: it must not).
    /// kvStore key (without the export-data `kv.` prefix).
    KvSet {
        key: String,
        value: String,
        /// Set when the value came from a file or stdin (the provenance lists its digest).
        value_sha256: Option<String>,
        add: bool,
    },
    KvDelete {
        key: String,
    },
    KvDeletePrefix {
        prefix: String,
        expect_count: u64,
    },
    GenesisSet {
        pointer: String,
        value: Value,
    },
    GenesisDelete {
        pointer: String,
    },
    SetChainId(String),
    SetInitialHeight(u64),
    SetGenesisTime(String),
    BundleAdd(FileArtifact),
    ArtifactReplace(FileArtifact),
    /// Chain state (issue 17, [`crate::chain`]): coins added to an account's balance.
    FundAccount {
        address: String,
        coins: Vec<(String, u128)>,
    },
    /// A governance parameter (name, checked JSON value).
    SetGov {
        name: String,
        value: Value,
    },
    /// `app_state.staking.params.unbonding_time` (a duration, `"1814400s"`).
    SetUnbondingTime(String),
    /// A validator (operator address or moniker) gets a new consensus key (base64
    /// ed25519) and optionally a new operator account.
    ReplaceValidator {
        validator: String,
        pubkey: String,
        operator: Option<String>,
    },
    /// Newly bonded stake (minted) from an account to a validator.
    AddStake {
        address: String,
        validator: String,
        amount: u128,
    },
    /// An account address replaced everywhere it is an address; its auth `pub_key`.
    ReplaceAccount {
        address: String,
        new_address: String,
        pubkey: Option<Value>,
    },
}

/// An artifact supplied as a file: its (validated) name, and the digest, size and record
/// hash computed from its bytes.
#[derive(Debug, Clone)]
pub struct FileArtifact {
    pub name: ArtifactName,
    pub file: PathBuf,
    /// How the file holds the artifact bytes (an endoZipBase64 JSON bundle holds a zip).
    pub encoding: Encoding,
    pub sha256: String,
    pub size: u64,
    /// The export-data record hash the bytes imply (snapshot sha256, span hash) or the
    /// bundle ID.
    pub record_hash: String,
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::KvSet { add: false, .. } => "kv-set",
            Op::KvSet { add: true, .. } => "kv-add",
            Op::KvDelete { .. } => "kv-delete",
            Op::KvDeletePrefix { .. } => "kv-delete-prefix",
            Op::GenesisSet { .. } => "genesis-set",
            Op::GenesisDelete { .. } => "genesis-delete",
            Op::SetChainId(_) => "set-chain-id",
            Op::SetInitialHeight(_) => "set-initial-height",
            Op::SetGenesisTime(_) => "set-genesis-time",
            Op::BundleAdd(_) => "bundle-add",
            Op::ArtifactReplace(_) => "artifact-replace",
            Op::FundAccount { .. } => "fund-account",
            Op::SetGov { .. } => "set-gov",
            Op::SetUnbondingTime(_) => "set-unbonding-time",
            Op::ReplaceValidator { .. } => "replace-validator",
            Op::ReplaceAccount { .. } => "replace-account",
            Op::AddStake { .. } => "add-stake",
        }
    }

    /// The provenance form: file paths dropped, file contents by SHA-256, so the same
    /// edits give the same JSON on every machine.
    pub fn provenance(&self) -> Value {
        let mut m = Map::new();
        m.insert("op".into(), Value::String(self.name().into()));
        let s = |x: &str| Value::String(x.to_string());
        match self {
            Op::KvSet {
                key,
                value,
                value_sha256,
                ..
            } => {
                m.insert("key".into(), s(key));
                match value_sha256 {
                    Some(h) => m.insert("value_sha256".into(), s(h)),
                    None => m.insert("value".into(), s(value)),
                };
            }
            Op::KvDelete { key } => {
                m.insert("key".into(), s(key));
            }
            Op::KvDeletePrefix {
                prefix,
                expect_count,
            } => {
                m.insert("prefix".into(), s(prefix));
                m.insert("expect_count".into(), Value::from(*expect_count));
            }
            Op::GenesisSet { pointer, value } => {
                m.insert("pointer".into(), s(pointer));
                m.insert("value".into(), value.clone());
            }
            Op::GenesisDelete { pointer } => {
                m.insert("pointer".into(), s(pointer));
            }
            Op::SetChainId(v) | Op::SetGenesisTime(v) => {
                m.insert("value".into(), s(v));
            }
            Op::SetInitialHeight(v) => {
                m.insert("value".into(), Value::from(*v));
            }
            Op::BundleAdd(f) => {
                m.insert("file_sha256".into(), s(&f.sha256));
                m.insert("id".into(), s(&f.record_hash));
            }
            Op::ArtifactReplace(f) => {
                m.insert("name".into(), s(&f.name.to_string()));
                m.insert("file_sha256".into(), s(&f.sha256));
            }
            Op::FundAccount { address, coins } => {
                m.insert("address".into(), s(address));
                m.insert("amount".into(), s(&crate::chain::num::coins_string(coins)));
            }
            Op::SetGov { name, value } => {
                m.insert("name".into(), s(name));
                m.insert("value".into(), value.clone());
            }
            Op::SetUnbondingTime(v) => {
                m.insert("value".into(), s(v));
            }
            Op::ReplaceValidator {
                validator,
                pubkey,
                operator,
            } => {
                m.insert("validator".into(), s(validator));
                m.insert("pubkey".into(), s(pubkey));
                if let Some(o) = operator {
                    m.insert("operator".into(), s(o));
                }
            }
            Op::AddStake {
                address,
                validator,
                amount,
            } => {
                m.insert("address".into(), s(address));
                m.insert("validator".into(), s(validator));
                m.insert("amount".into(), s(&amount.to_string()));
            }
            Op::ReplaceAccount {
                address,
                new_address,
                pubkey,
            } => {
                m.insert("address".into(), s(address));
                m.insert("new_address".into(), s(new_address));
                if let Some(p) = pubkey {
                    m.insert("pubkey".into(), p.clone());
                }
            }
        }
        Value::Object(m)
    }
}

/// A parsed, resolved edit script.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub base: Option<String>,
    pub ops: Vec<Op>,
}

impl Script {
    /// The provenance `edits` array and its SHA-256 (over its canonical JSON bytes,
    /// sorted keys, compact, final newline).
    pub fn provenance(&self) -> (Value, String) {
        let v = Value::Array(self.ops.iter().map(Op::provenance).collect());
        let sha = crate::hashes::sha256_hex(&crate::genesis::canonical_bytes(&v));
        (v, sha)
    }

    pub fn set_base(&mut self, base: &str) -> Result<()> {
        check_digest("--base", base)?;
        if let Some(b) = &self.base {
            if b != base {
                return Err(Error::Refused(format!(
                    "--base {base} differs from the script's base {b}; they must agree"
                )));
            }
        }
        self.base = Some(base.to_string());
        Ok(())
    }
}

fn check_digest(loc: &str, d: &str) -> Result<()> {
    if !is_sha256_hex(d) {
        return bail(
            loc,
            format!("{d:?} is not an archive digest (64 lowercase hex digits)"),
        );
    }
    Ok(())
}

/// Refuse kvStore keys that are not consensus data.
pub fn check_kv_key(loc: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return bail(loc, "the kvStore key is empty");
    }
    if let Some(why) = kv_key_problem(&kv_export_key(key)) {
        return Err(Error::Refused(format!(
            "{loc}: key {key:?}: {why}. agar edits consensus kvStore data only"
        )));
    }
    Ok(())
}

/// kv-add only: refuse a key that starts with the export-data `kv.` prefix. Such kvStore
/// keys can exist (and kv-set/kv-delete reach them, since those need the key to exist),
/// but creating one is almost always a key written with the prefix by mistake.
pub fn check_new_kv_key(loc: &str, key: &str) -> Result<()> {
    if let Some(rest) = key.strip_prefix("kv.") {
        return Err(Error::Refused(format!(
            "{loc}: key {}: kvStore keys are given without the export-data \"kv.\" prefix; drop it ({})",
            super::show(key),
            super::show(rest)
        )));
    }
    Ok(())
}

/// Read a whole file as a kvStore value (UTF-8, byte for byte, no newline trimming): a
/// regular file of at most 1 GiB (an export-data line's limit).
pub fn read_value_file(loc: &str, path: &Path) -> Result<(String, String)> {
    let bytes = crate::confine::read_regular(path, None, crate::exportdir::MAX_LINE_BYTES as u64)
        .map_err(|e| prefix(loc, e))?;
    value_from_bytes(loc, bytes)
}

fn prefix(loc: &str, e: Error) -> Error {
    match e {
        Error::Invalid { location, message } => Error::Invalid {
            location: format!("{loc}: {location}"),
            message,
        },
        Error::Refused(m) => Error::Refused(format!("{loc}: {m}")),
        other => other,
    }
}

/// Open an input file named by an edit (regular files only, see [`crate::confine`]).
fn open_input(file: &Path) -> Result<std::fs::File> {
    crate::confine::open_regular(file, None)
}

pub fn value_from_bytes(loc: &str, bytes: Vec<u8>) -> Result<(String, String)> {
    let sha = crate::hashes::sha256_hex(&bytes);
    let s = String::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            loc,
            format!(
                "the value is not valid UTF-8 (byte {}); kvStore values are text",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok((s, sha))
}

/// Read a bundle file, compute its ID and validate it as the importer would (spec §4.3).
/// Three forms are accepted ([`crate::bundle`]): a b1 zip (the ID is the SHA-512 of its
/// `compartment-map.json`), an endoZipBase64 JSON bundle (the same zip, base64-decoded
/// while reading; its `endoZipBase64Sha512` must be that ID's hash), or a b0 JSON text
/// (the SHA-256 of the text).
pub fn resolve_bundle(loc: &str, file: &Path) -> Result<FileArtifact> {
    let mut f = open_input(file)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut f, &mut magic).map_err(|e| Error::io(file, e))?;
    let (id, encoding) = if n == 4 && magic == *b"PK\x03\x04" {
        // the ID is the SHA-512 of compartment-map.json: read the zip once, as a stream
        let mut z = crate::hashes::B1Checker::new();
        z.update(&magic);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(|e| Error::io(file, e))?;
            if n == 0 {
                break;
            }
            z.update(&buf[..n]);
        }
        let h = z
            .finish(None)
            .map_err(|e| Error::invalid(loc, format!("{}: {e}", file.display())))?;
        (format!("b1-{h}"), Encoding::Raw)
    } else if let Some(h) = endo_zip_id(loc, file)? {
        (format!("b1-{h}"), Encoding::EndoZipBase64)
    } else {
        (format!("b0-{}", sha256_file(file)?.0), Encoding::Raw)
    };
    let name = ArtifactName::Bundle { id: id.clone() };
    let (sha, size) = check_file(loc, file, encoding, &name, ArtifactRecord::Bundle(&id))?;
    Ok(FileArtifact {
        name,
        file: file.to_path_buf(),
        encoding,
        sha256: sha,
        size,
        record_hash: id,
    })
}

/// A bundle read error: the file's content (an endoZipBase64 decoding problem) is bad
/// input naming the file, anything else is I/O.
fn bundle_read_error(loc: &str, file: &Path, e: std::io::Error) -> Error {
    match crate::bundle::data_error(&e) {
        Some(m) => Error::invalid(format!("{loc}: {}", file.display()), m),
        None => Error::io(file, e),
    }
}

/// If `file` is an endoZipBase64 JSON bundle, the b1 ID hash of its zip, checked against
/// its `endoZipBase64Sha512`; None for any other file (a b0 bundle, checked as such).
fn endo_zip_id(loc: &str, file: &Path) -> Result<Option<String>> {
    const FIX: &str = "use the bundle file exactly as bundle-source or the proposal published it, or pass the zip itself";
    let mut r = crate::bundle::EndoZipReader::new(open_input(file)?);
    let mut z = crate::hashes::B1Checker::new();
    let mut buf = vec![0u8; 256 * 1024];
    let read = loop {
        match r.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => z.update(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    if r.module_format() != Some("endoZipBase64") {
        // not this form (or not readable as it): the b0 check says what is wrong
        return match read {
            Err(e) if crate::bundle::data_error(&e).is_none() => Err(Error::io(file, e)),
            _ => Ok(None),
        };
    }
    let where_ = || format!("{loc}: {}", file.display());
    if let Err(e) = read {
        return Err(match crate::bundle::data_error(&e) {
            Some(m) => Error::invalid(where_(), format!("{m}; {FIX}")),
            None => Error::io(file, e),
        });
    }
    r.check_fields()
        .map_err(|m| Error::invalid(where_(), format!("{m}; {FIX}")))?;
    let hash = z.finish(None).map_err(|m| {
        Error::invalid(
            where_(),
            format!("the zip decoded from endoZipBase64 is not a valid b1 bundle: {m}; {FIX}"),
        )
    })?;
    let declared = r.declared_sha512().unwrap_or_default();
    if declared != hash {
        return Err(Error::invalid(
            where_(),
            format!(
                "endoZipBase64Sha512 is {declared:?}, but the SHA-512 of compartment-map.json in the decoded zip (the bundle ID, spec §4.3) is {hash}: the bundle is corrupt or was altered; {FIX}"
            ),
        ));
    }
    Ok(Some(hash))
}

/// Read a replacement snapshot or transcript span, computing its record hash (snapshot:
/// SHA-256 of the bytes; span: the span hash chain, spec §4.1) and validating it.
pub fn resolve_replacement(loc: &str, name: &str, file: &Path) -> Result<FileArtifact> {
    let parsed = ArtifactName::parse(name).map_err(|e| Error::invalid(loc, e))?;
    let (sha, size, record_hash) = match &parsed {
        ArtifactName::Bundle { .. } => {
            return Err(Error::Refused(format!(
                "{loc}: {name}: bundle IDs are content addresses, so a bundle cannot be replaced in place. Add the new bundle with bundle-add and change every reference to it (spec §9.4)"
            )))
        }
        ArtifactName::Snapshot { .. } => {
            let (sha, size) = sha256_file(file)?;
            (sha.clone(), size, sha)
        }
        ArtifactName::Transcript {
            vat,
            start_pos,
            end_pos,
        } => {
            let f = open_input(file)?;
            let mut r = BufReader::with_capacity(1 << 20, f);
            let mut h = SpanHasher::new();
            let mut item = Vec::new();
            loop {
                item.clear();
                let n = r.read_until(b'\n', &mut item).map_err(|e| Error::io(file, e))?;
                if n == 0 {
                    break;
                }
                let body = item.strip_suffix(b"\n").unwrap_or(&item);
                h.push(body);
            }
            let rec = SpanRecord {
                vat: vat.clone(),
                start_pos: *start_pos,
                end_pos: *end_pos,
                hash: h.hex().to_string(),
                is_current: false,
                incarnation: 0,
            };
            let (sha, size) =
                check_file(loc, file, Encoding::Raw, &parsed, ArtifactRecord::Span(&rec))?;
            (sha, size, h.hex().to_string())
        }
    };
    Ok(FileArtifact {
        name: parsed,
        file: file.to_path_buf(),
        encoding: Encoding::Raw,
        sha256: sha,
        size,
        record_hash,
    })
}

fn check_file(
    loc: &str,
    file: &Path,
    encoding: Encoding,
    name: &ArtifactName,
    rec: ArtifactRecord<'_>,
) -> Result<(String, u64)> {
    let mut c = ArtifactChecker::new(name, rec);
    let mut f = encoding.reader(open_input(file)?);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| bundle_read_error(loc, file, e))?;
        if n == 0 {
            break;
        }
        c.update(&buf[..n]).map_err(|e| Error::io(file, e))?;
    }
    let (sha, size, res) = c.finish();
    res.map_err(|e| Error::invalid(format!("{loc}: {} (as {name})", file.display()), e))?;
    Ok((sha, size))
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

struct HashWrite<'a, D: Digest>(&'a mut D);

impl<D: Digest> std::io::Write for HashWrite<'_, D> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn sha256_file(file: &Path) -> Result<(String, u64)> {
    let mut f = open_input(file)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut HashWrite(&mut h)).map_err(|e| Error::io(file, e))?;
    Ok((hex::encode(h.finalize()), n))
}

fn field<'a>(loc: &str, o: &'a Map<String, Value>, k: &str) -> Result<&'a Value> {
    o.get(k)
        .ok_or_else(|| Error::invalid(loc, format!("missing field {k:?}")))
}

fn str_field(loc: &str, o: &Map<String, Value>, k: &str) -> Result<String> {
    field(loc, o, k)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Error::invalid(loc, format!("field {k:?} must be a string")))
}

fn u64_field(loc: &str, o: &Map<String, Value>, k: &str) -> Result<u64> {
    field(loc, o, k)?
        .as_u64()
        .ok_or_else(|| Error::invalid(loc, format!("field {k:?} must be a non-negative integer")))
}

fn only_fields(loc: &str, o: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return bail(
            loc,
            format!("unknown field {k:?} (this op takes {})", allowed.join(", ")),
        );
    }
    Ok(())
}

/// Largest edit script accepted: it is parsed whole, and its operations go into the
/// archive manifest's provenance, which every reader holds.
pub const MAX_EDIT_SCRIPT_BYTES: u64 = 1 << 20;

/// Parse an edit script file. File references are relative to the script's directory and
/// must stay inside it.
pub fn load_script(path: &Path) -> Result<Script> {
    load_script_with(path, &[])
}

/// [`load_script`], where file references may also lie inside the directories `also`
/// (named by the operator with `agar edit --allow-files-in DIR`).
pub fn load_script_with(path: &Path, also: &[PathBuf]) -> Result<Script> {
    let bytes = crate::confine::read_regular(path, None, MAX_EDIT_SCRIPT_BYTES)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    parse_script_with(&path.display().to_string(), &bytes, &dir, also)
}

/// Resolve a file reference of an edit script: relative to the script's directory `dir`,
/// and (after following every symlink) inside `dir` or one of `also`. Absolute paths,
/// `..` and links that lead elsewhere (`/proc`, a node's keys) are refused, so a script
/// from someone else cannot copy a private file into the archive.
fn script_file(loc: &str, dir: &Path, also: &[PathBuf], name: &str) -> Result<PathBuf> {
    let p = Path::new(name);
    let path = if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    };
    let real = std::fs::canonicalize(&path).map_err(|e| Error::io(&path, e))?;
    let inside = std::iter::once(dir)
        .chain(also.iter().map(PathBuf::as_path))
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .any(|d| real.starts_with(d));
    if !inside {
        return Err(Error::Refused(format!(
            "{loc}: file {name:?} resolves to {}, outside the script's directory {}; an edit script may only name files beside it. Copy the file there, or name its directory with --allow-files-in DIR if you trust it",
            real.display(),
            dir.display()
        )));
    }
    Ok(real)
}

pub fn parse_script(loc: &str, bytes: &[u8], dir: &Path) -> Result<Script> {
    parse_script_with(loc, bytes, dir, &[])
}

pub fn parse_script_with(loc: &str, bytes: &[u8], dir: &Path, also: &[PathBuf]) -> Result<Script> {
    let v = crate::genesis::parse_strict(loc, bytes)?;
    let o = v.as_object().ok_or_else(|| {
        Error::invalid(
            loc,
            "an edit script is a JSON object {\"base\"?, \"edits\": [...]}",
        )
    })?;
    only_fields(loc, o, &["base", "edits", "description"])?;
    let base = match o.get("base") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            check_digest(&format!("{loc}: base"), s)?;
            Some(s.clone())
        }
        Some(_) => return bail(loc, "base must be a string (the input archive digest)"),
    };
    let edits = field(loc, o, "edits")?
        .as_array()
        .ok_or_else(|| Error::invalid(loc, "edits must be an array"))?;
    let mut ops = Vec::with_capacity(edits.len());
    for (i, e) in edits.iter().enumerate() {
        let eloc = format!("{loc}: edits[{i}]");
        let eo = e
            .as_object()
            .ok_or_else(|| Error::invalid(&eloc, "each edit is an object with an \"op\""))?;
        let op = str_field(&eloc, eo, "op")?;
        let eloc = format!("{eloc} ({op})");
        let parsed = parse_op(&eloc, eo, &op, dir, also)?;
        ops.push(parsed);
    }
    Ok(Script { base, ops })
}

/// One op of an edit script, `eloc` naming it in errors; files it names are resolved
/// beside the script (see [`script_file`]).
fn parse_op(
    eloc: &str,
    eo: &Map<String, Value>,
    op: &str,
    dir: &Path,
    also: &[PathBuf],
) -> Result<Op> {
    let rel = |p: String| -> Result<PathBuf> { script_file(eloc, dir, also, &p) };
    if let Some(parsed) = chain_op(eloc, eo, op, &rel)? {
        return Ok(parsed);
    }
    Ok(match op {
        "kv-set" | "kv-add" => {
            only_fields(eloc, eo, &["op", "key", "value", "value_file"])?;
            let key = str_field(eloc, eo, "key")?;
            check_kv_key(eloc, &key)?;
            let add = op == "kv-add";
            if add {
                check_new_kv_key(eloc, &key)?;
            }
            let (value, value_sha256) = match (eo.get("value"), eo.get("value_file")) {
                (Some(_), None) => (str_field(eloc, eo, "value")?, None),
                (None, Some(_)) => {
                    let (v, h) = read_value_file(eloc, &rel(str_field(eloc, eo, "value_file")?)?)?;
                    (v, Some(h))
                }
                _ => return bail(eloc, "give exactly one of \"value\" (a string) and \"value_file\""),
            };
            Op::KvSet {
                key,
                value,
                value_sha256,
                add,
            }
        }
        "kv-delete" => {
            only_fields(eloc, eo, &["op", "key"])?;
            let key = str_field(eloc, eo, "key")?;
            check_kv_key(eloc, &key)?;
            Op::KvDelete { key }
        }
        "kv-delete-prefix" => {
            only_fields(eloc, eo, &["op", "prefix", "expect_count"])?;
            let prefix = str_field(eloc, eo, "prefix")?;
            check_kv_key(eloc, &prefix)?;
            Op::KvDeletePrefix {
                prefix,
                expect_count: u64_field(eloc, eo, "expect_count")?,
            }
        }
        "genesis-set" => {
            only_fields(eloc, eo, &["op", "pointer", "value"])?;
            Op::GenesisSet {
                pointer: str_field(eloc, eo, "pointer")?,
                value: field(eloc, eo, "value")?.clone(),
            }
        }
        "genesis-delete" => {
            only_fields(eloc, eo, &["op", "pointer"])?;
            Op::GenesisDelete {
                pointer: str_field(eloc, eo, "pointer")?,
            }
        }
        "set-chain-id" => {
            only_fields(eloc, eo, &["op", "value"])?;
            Op::SetChainId(str_field(eloc, eo, "value")?)
        }
        "set-initial-height" => {
            only_fields(eloc, eo, &["op", "value"])?;
            Op::SetInitialHeight(u64_field(eloc, eo, "value")?)
        }
        "set-genesis-time" => {
            only_fields(eloc, eo, &["op", "value"])?;
            Op::SetGenesisTime(str_field(eloc, eo, "value")?)
        }
        "bundle-add" => {
            only_fields(eloc, eo, &["op", "file"])?;
            Op::BundleAdd(resolve_bundle(eloc, &rel(str_field(eloc, eo, "file")?)?)?)
        }
        "artifact-replace" => {
            only_fields(eloc, eo, &["op", "name", "file"])?;
            let name = str_field(eloc, eo, "name")?;
            Op::ArtifactReplace(resolve_replacement(
                eloc,
                &name,
                &rel(str_field(eloc, eo, "file")?)?,
            )?)
        }
        other => {
            return bail(
                eloc,
                format!("unknown op {other:?} (expected kv-set, kv-delete, kv-delete-prefix, genesis-set, genesis-delete, set-chain-id, set-initial-height, set-genesis-time, bundle-add, artifact-replace, fund-account, set-gov, set-unbonding-time, replace-validator, replace-account or add-stake)"),
            )
        }
    })
}

/// A chain-state op (issue 17) of an edit script, or `None` if `op` is not one.
fn chain_op(
    eloc: &str,
    eo: &Map<String, Value>,
    op: &str,
    rel: &dyn Fn(String) -> Result<PathBuf>,
) -> Result<Option<Op>> {
    Ok(Some(match op {
        "fund-account" => {
            only_fields(eloc, eo, &["op", "address", "amount"])?;
            fund_account_op(
                eloc,
                &str_field(eloc, eo, "address")?,
                &str_field(eloc, eo, "amount")?,
            )?
        }
        "set-gov" => {
            only_fields(eloc, eo, &["op", "name", "value"])?;
            set_gov_op(
                eloc,
                &str_field(eloc, eo, "name")?,
                &str_field(eloc, eo, "value")?,
            )?
        }
        "set-unbonding-time" => {
            only_fields(eloc, eo, &["op", "value"])?;
            set_unbonding_time_op(eloc, &str_field(eloc, eo, "value")?)?
        }
        "replace-validator" => {
            only_fields(
                eloc,
                eo,
                &["op", "validator", "key_file", "pubkey", "operator"],
            )?;
            let text = match (eo.get("key_file"), eo.get("pubkey")) {
                (Some(_), None) => {
                    // confined like every script file reference; never printed (a
                    // priv_validator_key.json holds the private key too)
                    let f = rel(str_field(eloc, eo, "key_file")?)?;
                    let b = crate::confine::read_regular(&f, None, 64 << 10)?;
                    String::from_utf8(b).map_err(|_| {
                        Error::invalid(f.display().to_string(), "the key file is not UTF-8 JSON")
                    })?
                }
                (None, Some(_)) => str_field(eloc, eo, "pubkey")?,
                _ => return bail(
                    eloc,
                    "give exactly one of \"key_file\" (a priv_validator_key.json) and \"pubkey\"",
                ),
            };
            let operator = match eo.get("operator") {
                Some(_) => Some(str_field(eloc, eo, "operator")?),
                None => None,
            };
            replace_validator_op(eloc, &str_field(eloc, eo, "validator")?, &text, operator)?
        }
        "add-stake" => {
            only_fields(eloc, eo, &["op", "address", "validator", "amount"])?;
            add_stake_op(
                eloc,
                &str_field(eloc, eo, "address")?,
                &str_field(eloc, eo, "validator")?,
                &str_field(eloc, eo, "amount")?,
            )?
        }
        "replace-account" => {
            only_fields(eloc, eo, &["op", "address", "new_address", "pubkey"])?;
            let pubkey = match eo.get("pubkey") {
                Some(_) => Some(str_field(eloc, eo, "pubkey")?),
                None => None,
            };
            replace_account_op(
                eloc,
                &str_field(eloc, eo, "address")?,
                &str_field(eloc, eo, "new_address")?,
                pubkey.as_deref(),
            )?
        }
        _ => return Ok(None),
    }))
}

/// `fund-account` from its text form (script fields or `--fund-account ADDRESS=AMOUNTDENOM`).
pub fn fund_account_op(loc: &str, address: &str, amount: &str) -> Result<Op> {
    check_address(loc, address)?;
    Ok(Op::FundAccount {
        address: address.to_string(),
        coins: crate::chain::num::coins(loc, amount)?,
    })
}

/// `set-gov` from NAME and VALUE text (a duration, coins or a decimal, by parameter).
pub fn set_gov_op(loc: &str, name: &str, value: &str) -> Result<Op> {
    Ok(Op::SetGov {
        name: name.to_string(),
        value: crate::chain::gov_value(loc, name, value)?,
    })
}

/// `set-unbonding-time` (normalised to seconds, as the SDK writes durations).
pub fn set_unbonding_time_op(loc: &str, value: &str) -> Result<Op> {
    Ok(Op::SetUnbondingTime(crate::chain::num::duration(
        loc, value,
    )?))
}

/// `replace-validator` from its text form: `key` is a priv_validator_key.json's text or a
/// base64 ed25519 public key; only the public key is kept.
pub fn replace_validator_op(
    loc: &str,
    validator: &str,
    key: &str,
    operator: Option<String>,
) -> Result<Op> {
    if let Some(o) = &operator {
        check_address(loc, o)?;
    }
    Ok(Op::ReplaceValidator {
        validator: validator.to_string(),
        pubkey: crate::chain::consensus_pubkey(loc, key)?,
        operator,
    })
}

/// `replace-account` from text: `pubkey` a base64 secp256k1 key (33 bytes) if given.
pub fn replace_account_op(
    loc: &str,
    address: &str,
    new_address: &str,
    pubkey: Option<&str>,
) -> Result<Op> {
    use base64::Engine;
    let pubkey = match pubkey {
        None => None,
        Some(p) => match base64::engine::general_purpose::STANDARD.decode(p) {
            Ok(b) if b.len() == 33 => Some(serde_json::json!({
                "@type": "/cosmos.crypto.secp256k1.PubKey", "key": p})),
            _ => {
                return bail(
                    loc,
                    format!("{p:?} is not the base64 of a 33-byte secp256k1 public key"),
                )
            }
        },
    };
    Ok(Op::ReplaceAccount {
        address: address.to_string(),
        new_address: new_address.to_string(),
        pubkey,
    })
}

/// `add-stake` from text: `amount` an integer of the bond denom.
pub fn add_stake_op(loc: &str, address: &str, validator: &str, amount: &str) -> Result<Op> {
    check_address(loc, address)?;
    let amount = crate::chain::num::int(loc, amount)?;
    if amount == 0 {
        return bail(loc, "the amount must be positive");
    }
    Ok(Op::AddStake {
        address: address.to_string(),
        validator: validator.to_string(),
        amount,
    })
}

fn check_address(loc: &str, a: &str) -> Result<()> {
    if crate::chain::decode_addr(a).is_none() {
        return bail(loc, format!("{a:?} is not a bech32 address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_loaded_from_its_file_with_references_beside_it() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("v.txt"), b"file value").unwrap();
        let text = br#"{"edits": [{"op": "kv-add", "key": "k", "value_file": "v.txt"},
            {"op": "kv-delete", "key": "gone"}]}"#;
        let f = t.path().join("edits.json");
        std::fs::write(&f, text).unwrap();
        let s = load_script(&f).unwrap();
        assert_eq!(s.base, None);
        let names: Vec<&str> = s.ops.iter().map(Op::name).collect();
        assert_eq!(names, ["kv-add", "kv-delete"]);
        match &s.ops[0] {
            Op::KvSet {
                key, value, add, ..
            } => {
                assert_eq!(
                    (key.as_str(), value.as_str(), *add),
                    ("k", "file value", true)
                )
            }
            other => panic!("{}", other.name()),
        }
        assert_eq!(
            parse_script("x", text, t.path()).unwrap().provenance(),
            s.provenance()
        );
        // the same script elsewhere names a file outside its directory
        let other = tempfile::tempdir().unwrap();
        let e = parse_script("x", text, other.path()).unwrap_err();
        assert!(e.to_string().contains("v.txt"), "{e}");
    }

    const A: &str = "cosmos1lj54q70v2mt9e7c5mtp5xgg5n9c0hkas60kec9";
    const B: &str = "cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a";
    /// base64 of 32 bytes (an ed25519 key) and of 33 bytes (a secp256k1 key)
    const ED: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    const SECP: &str = "AgEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";

    fn script(dir: &Path, edits: Value) -> Result<Script> {
        let text = serde_json::to_vec(&serde_json::json!({ "edits": edits })).unwrap();
        parse_script("s.json", &text, dir)
    }

    #[test]
    fn every_chain_op_reads_from_a_script_as_from_its_flag() {
        use serde_json::json;
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("key.json"),
            json!({"pub_key": {"type": "tendermint/PubKeyEd25519", "value": ED}}).to_string(),
        )
        .unwrap();
        let s = script(
            t.path(),
            json!([
                {"op": "fund-account", "address": A, "amount": "5stake,7ufoo"},
                {"op": "set-gov", "name": "voting_period", "value": "60s"},
                {"op": "set-unbonding-time", "value": "2h"},
                {"op": "replace-validator", "validator": "v", "pubkey": ED, "operator": B},
                {"op": "replace-validator", "validator": "v", "key_file": "key.json"},
                {"op": "add-stake", "address": A, "validator": "v", "amount": "10"},
                {"op": "replace-account", "address": A, "new_address": B, "pubkey": SECP},
                {"op": "replace-account", "address": A, "new_address": B},
            ]),
        )
        .unwrap();
        let flags = Script {
            base: None,
            ops: vec![
                fund_account_op("l", A, "5stake,7ufoo").unwrap(),
                set_gov_op("l", "voting_period", "60s").unwrap(),
                set_unbonding_time_op("l", "2h").unwrap(),
                replace_validator_op("l", "v", ED, Some(B.into())).unwrap(),
                replace_validator_op("l", "v", ED, None).unwrap(),
                add_stake_op("l", A, "v", "10").unwrap(),
                replace_account_op("l", A, B, Some(SECP)).unwrap(),
                replace_account_op("l", A, B, None).unwrap(),
            ],
        };
        assert_eq!(s.provenance(), flags.provenance());
    }

    #[test]
    fn chain_ops_refuse_bad_keys_addresses_and_amounts() {
        use serde_json::json;
        let t = tempfile::tempdir().unwrap();
        let refused = |edit: Value, want: &str| {
            let e = script(t.path(), json!([edit])).unwrap_err().to_string();
            assert!(e.contains(want), "{edit}: {e}");
        };
        for v in [
            json!({"op": "replace-validator", "validator": "v"}),
            json!({"op": "replace-validator", "validator": "v", "pubkey": ED, "key_file": "k"}),
        ] {
            refused(
                v,
                "give exactly one of \"key_file\" (a priv_validator_key.json) and \"pubkey\"",
            );
        }
        refused(
            json!({"op": "replace-account", "address": A, "new_address": B, "pubkey": ED}),
            "is not the base64 of a 33-byte secp256k1 public key",
        );
        refused(
            json!({"op": "add-stake", "address": A, "validator": "v", "amount": "0"}),
            "the amount must be positive",
        );
        refused(
            json!({"op": "fund-account", "address": "nope", "amount": "1stake"}),
            "\"nope\" is not a bech32 address",
        );
        refused(
            json!({"op": "replace-validator", "validator": "v", "pubkey": ED, "operator": "nope"}),
            "\"nope\" is not a bech32 address",
        );
    }

    #[test]
    fn a_base_is_a_lowercase_digest_and_agrees_with_the_one_set_before() {
        let d = "ab".repeat(32);
        let mut s = Script {
            base: None,
            ops: Vec::new(),
        };
        for bad in [d.to_uppercase(), d[1..].to_string(), format!("{d}0")] {
            let e = s.set_base(&bad).unwrap_err().to_string();
            assert!(
                e.contains("is not an archive digest (64 lowercase hex digits)"),
                "{e}"
            );
        }
        assert_eq!(s.base, None);
        s.set_base(&d).unwrap();
        s.set_base(&d).unwrap();
        assert_eq!(s.base.as_deref(), Some(d.as_str()));
        let e = s.set_base(&"cd".repeat(32)).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        assert_eq!(s.base.as_deref(), Some(d.as_str()));
    }
}
