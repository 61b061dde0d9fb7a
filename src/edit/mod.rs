//! `agar edit`: apply replayable edits to an archive, recomputing every dependent value.
//!
//! Pass 1 reads the whole input through the closed-world reader (it must verify; its
//! digest becomes the provenance parent and is checked against the script's `base`),
//! applies the genesis edits, and merges the kvStore and metadata edits into the sorted
//! export-data stream to compute the new export-data hash, size and entry count without
//! holding the data. Pass 2 re-reads the input and streams every member into the writer
//! (untouched artifacts are copied through, replaced and added ones come from their
//! files), re-checking every digest. The finished temp file is then verified exactly as
//! `agar verify` would before it is renamed into place; on any failure nothing is left at
//! the output path.

pub mod pointer;
pub mod script;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::archive::reader::{ArchiveReader, ArtifactSink, NullSink, ReadOptions};
use crate::archive::writer::{ArchiveWriter, Compression};
use crate::archive::*;
use crate::error::{bail, Error, Result};
use crate::genesis::CanonicalGenesis;
use crate::gojson::{self, Entry};
use crate::json::walk::{Action, Edit, Old, OLD_BYTES};
use crate::model::{family, kv_export_key, ArtifactName, Family, Metadata};
use crate::progress::Progress;

pub use script::{Op, Script};

#[derive(Debug, Clone)]
pub struct EditOptions {
    pub compression: Compression,
    pub progress: bool,
    pub force: bool,
}

/// What changed, for humans and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct EditSummary {
    pub digest: String,
    /// The archive written; `archive` in JSON, as in every command.
    #[serde(rename = "archive")]
    pub output: String,
    pub parent: String,
    pub edits_sha256: String,
    pub chain_id: String,
    pub initial_height: u64,
    pub genesis_sha256: String,
    pub swing_store_export_data_hash: String,
    pub export_data_entries: u64,
    pub artifacts: usize,
    /// One line per change, in script order.
    pub changes: Vec<String>,
    /// Cascades agar does not follow (spec §9) and other things to review.
    pub warnings: Vec<String>,
    pub tar_bytes: u64,
    pub file_bytes: u64,
}

enum KvOp {
    /// (value, SHA-256 when it came from a file or stdin — then it is never printed: such a
    /// file may be anything the operator pointed at —, add): kv-add creates a missing key,
    /// kv-set changes an existing one
    Set(String, Option<String>, bool),
    Delete,
    DeletePrefix(String, u64),
}

/// The kvStore and metadata edits, in the form the export-data merge needs.
struct DataEdits {
    /// kv ops in script order: (script index, export-data key or prefix with `kv.`, op).
    kv: Vec<(usize, String, KvOp)>,
    /// Exact keys touched by kv-set / kv-delete -> indices into `kv`.
    by_key: BTreeMap<String, Vec<usize>>,
    /// Indices into `kv` of prefix deletions.
    prefixes: Vec<usize>,
    /// Bundle records to add: `bundle.<id>`.
    bundles: BTreeSet<String>,
    /// Artifact name -> new record hash.
    replace: BTreeMap<String, String>,
}

/// Mutable state of one merge run.
#[derive(Default)]
struct MergeState {
    prefix_counts: BTreeMap<usize, u64>,
    replaced: BTreeSet<String>,
    changes: Vec<(usize, String)>,
    warnings: Vec<String>,
    line: Vec<u8>,
}

impl DataEdits {
    fn new(script: &Script) -> DataEdits {
        let mut d = DataEdits {
            kv: Vec::new(),
            by_key: BTreeMap::new(),
            prefixes: Vec::new(),
            bundles: BTreeSet::new(),
            replace: BTreeMap::new(),
        };
        for (i, op) in script.ops.iter().enumerate() {
            let n = d.kv.len();
            match op {
                Op::KvSet {
                    key,
                    value,
                    value_sha256,
                    add,
                } => {
                    let k = kv_export_key(key);
                    d.by_key.entry(k.clone()).or_default().push(n);
                    d.kv.push((i, k, KvOp::Set(value.clone(), value_sha256.clone(), *add)));
                }
                Op::KvDelete { key } => {
                    let k = kv_export_key(key);
                    d.by_key.entry(k.clone()).or_default().push(n);
                    d.kv.push((i, k, KvOp::Delete));
                }
                Op::KvDeletePrefix {
                    prefix,
                    expect_count,
                } => {
                    d.prefixes.push(n);
                    d.kv.push((
                        i,
                        kv_export_key(prefix),
                        KvOp::DeletePrefix(prefix.clone(), *expect_count),
                    ));
                }
                Op::BundleAdd(f) => {
                    d.bundles.insert(format!("bundle.{}", f.record_hash));
                }
                Op::ArtifactReplace(f) => {
                    d.replace.insert(f.name.to_string(), f.record_hash.clone());
                }
                _ => {}
            }
        }
        d
    }

    /// Keys that may be inserted (not present in the input): kv keys of set/delete ops
    /// and added bundle records, sorted bytewise.
    fn inserts(&self) -> Vec<String> {
        let mut v: BTreeSet<String> = self.by_key.keys().cloned().collect();
        v.extend(self.bundles.iter().cloned());
        v.into_iter().collect()
    }

    /// The final value of kv key `key` after all kv ops, starting from `orig`.
    fn eval_kv<'a>(
        &'a self,
        key: &str,
        orig: Option<&'a str>,
        st: &mut MergeState,
        record: bool,
    ) -> Result<Option<&'a str>> {
        let mut idx: Vec<usize> = self.by_key.get(key).cloned().unwrap_or_default();
        idx.extend(
            self.prefixes
                .iter()
                .copied()
                .filter(|&i| key.starts_with(self.kv[i].1.as_str())),
        );
        if idx.is_empty() {
            return Ok(orig);
        }
        idx.sort_unstable();
        let mut state = orig;
        let short = crate::model::kv_store_key(key).unwrap_or(key);
        for i in idx {
            let (si, _, op) = &self.kv[i];
            match op {
                KvOp::Set(v, from_file, add) => {
                    let sk = show(short);
                    match (state, add) {
                        (None, false) => {
                            let hint = match short.strip_prefix("kv.") {
                                Some(rest) => format!(
                                    "kvStore keys are given without the export-data \"kv.\" prefix: did you mean {}?",
                                    show(rest)
                                ),
                                None => "check the key, or use kv-add to create a new key".into(),
                            };
                            return Err(Error::Refused(format!(
                                "edit {} (kv-set {sk}): the key does not exist at that point in the edits; kv-set only changes existing keys ({hint})",
                                si + 1
                            )));
                        }
                        (Some(_), true) => {
                            return Err(Error::Refused(format!(
                                "edit {} (kv-add {sk}): the key already exists at that point in the edits; kv-add only creates new keys (use kv-set to change it)",
                                si + 1
                            )));
                        }
                        _ => {}
                    }
                    if record {
                        let shown = match from_file {
                            Some(h) => format!("the file's value ({} bytes, sha256 {h})", v.len()),
                            None => show(v),
                        };
                        let what = match state {
                            None => format!("kv-add {sk}: added, {shown}"),
                            Some(old) if old == v => {
                                format!("kv-set {sk}: unchanged (already {shown})")
                            }
                            Some(old) => format!("kv-set {sk}: {} -> {shown}", show(old)),
                        };
                        st.changes.push((*si, what));
                    }
                    state = Some(v.as_str());
                }
                KvOp::Delete => {
                    let Some(old) = state else {
                        return Err(Error::Refused(format!(
                            "edit {} (kv-delete {}): the key does not exist at that point in the edits; nothing to delete (check the key: kvStore keys are given without the export-data \"kv.\" prefix)",
                            si + 1,
                            show(short)
                        )));
                    };
                    if record {
                        st.changes.push((
                            *si,
                            format!("kv-delete {short:?}: removed (was {})", show(old)),
                        ));
                    }
                    state = None;
                }
                KvOp::DeletePrefix(..) => {
                    if state.is_some() {
                        *st.prefix_counts.entry(i).or_default() += 1;
                    }
                    state = None;
                }
            }
        }
        Ok(state)
    }

    /// Merge the edits into the sorted input export-data stream. `input` drives the
    /// stream (calling the returned closure per entry, then `finish`); `out` receives each
    /// output line (Go-canonical, newline-terminated).
    /// Stream the reader's export data through the edits into `out` (the edited,
    /// canonical lines), returning the merge state (prefix-delete counts etc.).
    fn stream_edited(
        &self,
        r: &mut ArchiveReader,
        inserts: &[String],
        record: bool,
        out: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<MergeState> {
        let mut st = MergeState::default();
        let mut cursor = 0usize;
        r.read_export_data(&mut |e, line| {
            self.transform(&mut st, inserts, &mut cursor, Some((e, line)), record, out)
        })?;
        self.transform(&mut st, inserts, &mut cursor, None, record, out)?;
        Ok(st)
    }

    fn transform(
        &self,
        st: &mut MergeState,
        inserts: &[String],
        cursor: &mut usize,
        e: Option<(&Entry, &[u8])>,
        record: bool,
        out: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let stop = e.map(|(e, _)| e.key.as_str());
        while *cursor < inserts.len() && stop.is_none_or(|k| inserts[*cursor].as_str() < k) {
            let k = &inserts[*cursor];
            *cursor += 1;
            if let Some(id) = k.strip_prefix("bundle.") {
                emit(st, k, id, out)?;
            } else if let Some(v) = self.eval_kv(k, None, st, record)? {
                emit(st, k, v, out)?;
            }
        }
        let Some((e, line)) = e else {
            return Ok(());
        };
        if *cursor < inserts.len() && inserts[*cursor] == e.key {
            *cursor += 1;
            if self.bundles.contains(&e.key) {
                return Err(Error::Refused(format!(
                    "bundle-add: {} is already in the archive; nothing to add",
                    e.key
                )));
            }
        }
        let value = e.value.as_deref().unwrap_or_default();
        match family(&e.key) {
            Some(Family::Kv) => match self.eval_kv(&e.key, Some(value), st, record)? {
                Some(v) if v == value => out(line),
                Some(v) => emit(st, &e.key, v, out),
                None => Ok(()),
            },
            Some(Family::Snapshot) | Some(Family::Transcript) if !self.replace.is_empty() => {
                let mut one = Metadata::default();
                one.add("export data", &e.key, value)?;
                let (art, new_value) = if let Some(rec) = one.snapshots.values().next() {
                    let art = rec.artifact_name();
                    match self.replace.get(&art) {
                        None => return out(line),
                        Some(h) => {
                            let mut r = rec.clone();
                            if record {
                                st.warnings.push(format!(
                                    "snapshot {art}: its hash changed {} -> {h}. The kernel also records the old hash as snapshotID in vat {}'s transcript items at position {} (save-snapshot, the last item of the span ending there) and {} (load-snapshot, the first item of the next span); agar does not rewrite transcript items. Replace those spans too (artifact-replace) if they must agree (spec §9.3)",
                                    r.hash, r.vat, r.snap_pos, r.snap_pos + 1
                                ));
                                st.changes.push((
                                    usize::MAX,
                                    format!("record {}: hash {} -> {h}", e.key, r.hash),
                                ));
                            }
                            r.hash = h.clone();
                            (art, r.value())
                        }
                    }
                } else if let Some(rec) = one.spans.values().next() {
                    let art = rec.artifact_name();
                    match self.replace.get(&art) {
                        None => return out(line),
                        Some(h) => {
                            let mut r = rec.clone();
                            if record {
                                st.changes.push((
                                    usize::MAX,
                                    format!("record {}: span hash {} -> {h}", e.key, r.hash),
                                ));
                            }
                            r.hash = h.clone();
                            (art, r.value())
                        }
                    }
                } else {
                    return out(line);
                };
                st.replaced.insert(art);
                emit(st, &e.key, &new_value, out)
            }
            _ => out(line),
        }
    }
}

fn emit(
    st: &mut MergeState,
    key: &str,
    value: &str,
    out: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut line = std::mem::take(&mut st.line);
    line.clear();
    gojson::encode_entry_into(&mut line, key.as_bytes(), Some(value.as_bytes()));
    let r = out(&line);
    st.line = line;
    r
}

/// A short, one-line rendering of a value for messages.
pub fn show(v: &str) -> String {
    const MAX: usize = 120;
    let enc = serde_json::to_string(v).unwrap_or_default();
    if enc.len() <= MAX {
        enc
    } else {
        let mut cut = MAX;
        while !enc.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…\" ({} bytes)", &enc[..cut], v.len())
    }
}

/// The checks every op that sets `/chain_id` applies (set-chain-id, genesis-set).
pub fn check_chain_id(v: &str) -> std::result::Result<(), String> {
    if v.is_empty()
        || v.len() > 50
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || crate::term::needs_escape(c))
    {
        return Err(format!(
            "{} is not a valid chain ID (1-50 characters, no spaces, control or bidi characters)",
            show(v)
        ));
    }
    Ok(())
}

/// The checks every op that sets `/genesis_time` applies (set-genesis-time, genesis-set):
/// strict RFC 3339 ([`crate::genesis_time`]).
pub fn check_genesis_time(t: &str) -> std::result::Result<(), String> {
    crate::genesis_time::check(t)
}

/// Apply the genesis ops to the input genesis, one streaming rewrite of the canonical
/// member per op (each op sees the previous one's result, as in a script); returns the
/// edited document and the change lines (script index, text).
fn edit_genesis(
    genesis: CanonicalGenesis,
    script: &Script,
) -> Result<(CanonicalGenesis, Vec<(usize, String)>)> {
    let mut g = genesis;
    let mut changes = Vec::new();
    let render = |b: &[u8]| -> String {
        Old {
            head: b[..b.len().min(OLD_BYTES)].to_vec(),
            size: b.len() as u64,
        }
        .render(120)
    };
    for (i, op) in script.ops.iter().enumerate() {
        let loc = format!("edit {} ({})", i + 1, op.name());
        if let Some(r) = chain_state_op(&g, &loc, op) {
            let (next, lines) = r?;
            g = next;
            changes.extend(lines.into_iter().map(|l| (i, l)));
            continue;
        }
        let Some((pointer, new)) = pointer_op(&g, &loc, op)? else {
            continue;
        };
        let toks = pointer::tokens(&pointer).map_err(|e| e.context(&loc))?;
        pointer::check_not_owned(&pointer, &toks).map_err(|e| e.context(&loc))?;
        if toks.is_empty() {
            return Err(Error::Refused(format!(
                "{loc}: {}",
                if new.is_some() {
                    "genesis-set with the empty pointer would replace the whole genesis; set its fields one by one"
                } else {
                    "genesis-delete with the empty pointer would delete the whole genesis"
                }
            )));
        }
        let edit = Edit {
            pointer: pointer.clone(),
            tokens: toks,
            action: match &new {
                Some(b) => Action::Set(b.clone()),
                None => Action::Delete,
            },
        };
        let (next, walked) = g.rewrite(&[edit], None).map_err(|e| e.context(&loc))?;
        g = next;
        let old = walked.old.into_iter().next().flatten();
        let text = match (&old, &new) {
            (None, Some(n)) => format!("genesis {pointer}: added {}", render(n)),
            (Some(o), None) => format!("genesis {pointer}: deleted (was {})", o.render(120)),
            (Some(o), Some(n)) if o.size == n.len() as u64 && o.head == *n => {
                format!("genesis {pointer}: unchanged ({})", render(n))
            }
            (Some(o), Some(n)) => format!("genesis {pointer}: {} -> {}", o.render(120), render(n)),
            (None, None) => continue,
        };
        changes.push((i, text));
    }
    Ok((g, changes))
}

/// A chain-state op (src/chain: accounts, staking, governance) applied to `g`, or `None`
/// for any other op.
#[allow(clippy::type_complexity)]
fn chain_state_op(
    g: &CanonicalGenesis,
    loc: &str,
    op: &Op,
) -> Option<Result<(CanonicalGenesis, Vec<String>)>> {
    Some(match op {
        Op::FundAccount { address, coins } => crate::chain::fund_account(g, loc, address, coins),
        Op::SetGov { name, value } => crate::chain::set_gov(g, loc, name, value),
        Op::SetUnbondingTime(v) => crate::chain::set_unbonding_time(g, loc, v),
        Op::ReplaceValidator {
            validator,
            pubkey,
            operator,
        } => crate::chain::replace_validator(g, loc, validator, pubkey, operator.as_deref()),
        Op::AddStake {
            address,
            validator,
            amount,
        } => crate::chain::add_stake(g, loc, address, validator, *amount),
        Op::ReplaceAccount {
            address,
            new_address,
            pubkey,
        } => crate::chain::replace_account(g, loc, address, new_address, pubkey.as_ref()),
        _ => return None,
    })
}

/// A genesis op that sets or deletes one JSON pointer, checked as every op that sets the
/// same field: (pointer, new canonical value or `None` to delete). `None` for any other op.
fn pointer_op(
    g: &CanonicalGenesis,
    loc: &str,
    op: &Op,
) -> Result<Option<(String, Option<Vec<u8>>)>> {
    let canon = |v: &Value| -> Vec<u8> {
        let mut b = crate::genesis::canonical_bytes(v);
        b.pop();
        b
    };
    Ok(Some(match op {
        Op::GenesisSet { pointer, value } => {
            // the same checks as the dedicated ops, whichever op sets these fields
            let checked = match (pointer.as_str(), value) {
                ("/chain_id", Value::String(v)) => check_chain_id(v),
                ("/genesis_time", Value::String(t)) => check_genesis_time(t),
                ("/chain_id" | "/genesis_time", _) => {
                    Err(format!("{pointer} must be a JSON string"))
                }
                _ => Ok(()),
            };
            checked.map_err(|m| Error::invalid(loc, m))?;
            (pointer.clone(), Some(canon(value)))
        }
        Op::GenesisDelete { pointer } => (pointer.clone(), None),
        Op::SetChainId(v) => {
            check_chain_id(v).map_err(|m| Error::invalid(loc, m))?;
            ("/chain_id".into(), Some(crate::json::string_bytes(v)))
        }
        Op::SetInitialHeight(h) => {
            if *h == 0 || *h >= (1 << 53) {
                return bail(
                    loc,
                    format!("{h} is not a valid initial height (1 .. 2^53-1)"),
                );
            }
            // keep the input's type: Cosmos genesis files carry it as a number or a string
            let v = if g.genesis.height_is_string {
                format!("\"{h}\"")
            } else {
                h.to_string()
            };
            ("/initial_height".into(), Some(v.into_bytes()))
        }
        Op::SetGenesisTime(t) => {
            check_genesis_time(t).map_err(|m| Error::invalid(loc, m))?;
            ("/genesis_time".into(), Some(crate::json::string_bytes(t)))
        }
        _ => return Ok(None),
    }))
}

/// Every `b0-…`/`b1-…` bundle ID mentioned in a kvStore value.
fn bundle_ids_in(v: &str) -> Vec<String> {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 <= b.len() {
        let len = match &b[i..i + 3] {
            b"b0-" => 64,
            b"b1-" => 128,
            _ => {
                i += 1;
                continue;
            }
        };
        let end = i + 3 + len;
        if end <= b.len()
            && b[i + 3..end]
                .iter()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
            && b.get(end).is_none_or(|c| !c.is_ascii_hexdigit())
        {
            out.push(v[i..end].to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

struct Counter {
    sha: Sha256,
    size: u64,
    entries: u64,
}

/// The edited archive's new members, computed in pass 1 and written in pass 2.
struct NewArchive<'s> {
    genesis: CanonicalGenesis,
    export_manifest: Vec<u8>,
    manifest: ArchiveManifest,
    manifest_bytes: Vec<u8>,
    /// The new export data's SHA-256 (hex) and size, from pass 1; pass 2 must match.
    data_sha: String,
    data_size: u64,
    /// Artifacts whose bytes come from a file (bundle-add, artifact-replace), by name.
    from_files: BTreeMap<String, &'s script::FileArtifact>,
}

/// Apply `script` to the archive at `input`, writing `output`.
pub fn edit(
    input: &Path,
    output: &Path,
    script: &Script,
    opts: &EditOptions,
) -> Result<EditSummary> {
    refuse_before_reading(output, script, opts)?;
    let ropts = ReadOptions {
        fail_fast: true,
        progress: opts.progress,
        keep_genesis: true,
        skip_chain_check: false,
    };
    let edits = DataEdits::new(script);
    let inserts = edits.inserts();

    // ---- pass 1: verify the input, compute every new value
    let mut r = ArchiveReader::open(input, ropts)?;
    if r.manifest.is_backup() {
        return Err(Error::Refused(format!(
            "{}: is a swing-store backup (no genesis); edit works on genesis archives. Restore it with `agar restore`, or pack a genesis archive with `agar pack --swing-store`",
            input.display()
        )));
    }
    let in_manifest = r.manifest.clone();
    let kept = r
        .genesis_file
        .take()
        .ok_or_else(|| Error::Refused("internal: the reader kept no genesis".into()))?;
    let (genesis, gchanges) = edit_genesis(kept, script)?;
    // what edit writes, verify accepts (an input with a bad genesis_time needs a
    // set-genesis-time among the edits)
    if let Some(p) = genesis.genesis.genesis_time_problem() {
        return bail("genesis.json (edited)", p);
    }
    check_replaced_artifacts_exist(&edits, &in_manifest)?;
    let (mut st, cnt) = count_edited_export_data(&edits, &mut r, &inserts)?;
    check_merge_outcome(&edits, &mut st)?;
    let in_meta = r.meta.clone().unwrap_or_default();
    let in_chain = crate::verify::chain_problems(&r.consistency.take().unwrap_or_default());
    r.read_artifacts(&mut NullSink)?;
    let parent = r.finish()?.digest;
    check_base(script, input, &parent)?;
    let mut warnings = std::mem::take(&mut st.warnings);
    warnings.extend(script_warnings(script, &edits, &in_meta)?);

    // the new members
    let data_sha = hex::encode(cnt.sha.finalize());
    let data_hash = format!("sha256:{data_sha}");
    let (genesis, initial_height, chain_id) =
        final_genesis(genesis, &data_hash, &in_manifest, &mut warnings)?;
    let (artifacts, from_files) = new_artifacts(&in_manifest, script, &mut st.changes)?;
    let mode = in_manifest.mode()?;
    let names: Vec<&str> = artifacts.keys().map(String::as_str).collect();
    let export_manifest = export_manifest_bytes(initial_height, mode, &names);
    let mut members = head_members(&genesis, &export_manifest, cnt.size, &data_sha);
    members.extend(artifacts.values().cloned());
    let (edits_json, edits_sha256) = script.provenance();
    let manifest = ArchiveManifest {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        chain_id: chain_id.clone(),
        initial_height,
        export_height: in_manifest.export_height,
        artifact_mode: mode.to_string(),
        swing_store_export_data_hash: data_hash.clone(),
        export_data_entries: cnt.entries,
        members,
        provenance: Some(Provenance {
            parent: parent.clone(),
            edits_sha256: edits_sha256.clone(),
            edits: edits_json,
        }),
    };
    let new = NewArchive {
        manifest_bytes: checked_manifest_bytes(&manifest, output)?,
        genesis,
        export_manifest,
        manifest,
        data_sha,
        data_size: cnt.size,
        from_files,
    };

    // ---- pass 2: stream into the writer
    let pending = write_edited(
        input, output, opts, ropts, script, &edits, &inserts, &new, &parent,
    )?;

    // ---- verify the result as `agar verify` would, then move it into place
    verify_edited(&pending, output, &in_chain, opts.progress)?;
    let written = pending.persist()?;

    warnings.extend(
        in_chain
            .iter()
            .map(|p| format!("the input archive already fails the chain-state check: {p}")),
    );
    let mut changes: Vec<(usize, String)> = gchanges;
    changes.extend(st.changes);
    changes.sort_by_key(|(i, _)| *i);
    Ok(EditSummary {
        digest: written.digest,
        output: output.display().to_string(),
        parent,
        edits_sha256,
        chain_id,
        initial_height,
        genesis_sha256: new.manifest.members[0].sha256.hex(),
        swing_store_export_data_hash: data_hash,
        export_data_entries: cnt.entries,
        artifacts: new.manifest.members.len() - 3,
        changes: changes.into_iter().map(|(_, s)| s).collect(),
        warnings,
        tar_bytes: written.tar_bytes,
        file_bytes: written.file_bytes,
    })
}

/// The manifest's bytes, checked as every reader will check them: what edit writes,
/// every reader accepts (member count, provenance size).
fn checked_manifest_bytes(manifest: &ArchiveManifest, output: &Path) -> Result<Vec<u8>> {
    let bytes = manifest.canonical_bytes();
    crate::archive::reader::parse_manifest(&output.display().to_string(), &bytes)?;
    Ok(bytes)
}

/// What edit refuses before reading anything: an existing output without `--force`, an
/// empty script.
fn refuse_before_reading(output: &Path, script: &Script, opts: &EditOptions) -> Result<()> {
    if output.exists() && !opts.force {
        return Err(Error::Refused(format!(
            "{} already exists; pass --force to replace it",
            output.display()
        )));
    }
    if script.ops.is_empty() {
        return Err(Error::Refused(
            "no edits given (use --script FILE or edit flags; see agar edit --help)".into(),
        ));
    }
    Ok(())
}

/// The edited genesis with the new export-data hash, its initial height (checked) and
/// chain ID; warns when the height no longer follows the export height.
fn final_genesis(
    genesis: CanonicalGenesis,
    data_hash: &str,
    in_manifest: &ArchiveManifest,
    warnings: &mut Vec<String>,
) -> Result<(CanonicalGenesis, u64, String)> {
    let genesis = genesis.with_export_data_hash(data_hash)?;
    let initial_height = genesis.genesis.initial_height()?;
    if let Some(why) = crate::model::height_problem("initial_height", initial_height) {
        return bail("genesis.json (edited)", why);
    }
    let chain_id = genesis.genesis.chain_id()?.to_string();
    if initial_height != in_manifest.initial_height
        && in_manifest.export_height + 1 != initial_height
    {
        warnings.push(format!(
            "initial_height is now {initial_height}, but the swing-store state was exported at block {} (normally initial_height - 1); export-manifest blockHeight follows initial_height",
            in_manifest.export_height
        ));
    }
    Ok((genesis, initial_height, chain_id))
}

/// The script's `base`, if any, is the input's digest.
fn check_base(script: &Script, input: &Path, parent: &str) -> Result<()> {
    if let Some(base) = &script.base {
        if base != parent {
            return Err(Error::Refused(format!(
                "the edits were written for archive {base} (base), but {} is {parent}; nothing was written. Review the edits against this archive (agar diff) and update base",
                input.display()
            )));
        }
    }
    Ok(())
}

/// artifact-replace names an artifact the input holds.
fn check_replaced_artifacts_exist(edits: &DataEdits, in_manifest: &ArchiveManifest) -> Result<()> {
    for name in edits.replace.keys() {
        if in_manifest
            .member(&format!("{ARTIFACT_PREFIX}{name}"))
            .is_none()
        {
            return bail(
                format!("artifact-replace {name}"),
                "the archive has no such artifact member; only artifacts present can be replaced (list them with agar inspect)",
            );
        }
    }
    Ok(())
}

/// Pass 1 over the export data: merge the edits in and count the result (SHA-256, size,
/// entries) without keeping it.
fn count_edited_export_data(
    edits: &DataEdits,
    r: &mut ArchiveReader,
    inserts: &[String],
) -> Result<(MergeState, Counter)> {
    let mut cnt = Counter {
        sha: Sha256::new(),
        size: 0,
        entries: 0,
    };
    let st = edits.stream_edited(r, inserts, true, &mut |line: &[u8]| -> Result<()> {
        cnt.sha.update(line);
        cnt.size += line.len() as u64;
        cnt.entries += 1;
        Ok(())
    })?;
    Ok((st, cnt))
}

/// After the merge: every kv-delete-prefix removed the count it expected, every
/// artifact-replace found its record.
fn check_merge_outcome(edits: &DataEdits, st: &mut MergeState) -> Result<()> {
    for (i, (si, _, op)) in edits.kv.iter().enumerate() {
        if let KvOp::DeletePrefix(p, want) = op {
            let got = st.prefix_counts.get(&i).copied().unwrap_or(0);
            if got != *want {
                return Err(Error::Refused(format!(
                    "edit {} (kv-delete-prefix {p:?}): {got} keys match at that point in the edits, but expect_count is {want}; nothing was written. Check the prefix (`agar kv list ARCHIVE --prefix {p}`) and set expect_count to the number you mean to delete",
                    si + 1
                )));
            }
            st.changes
                .push((*si, format!("kv-delete-prefix {p:?}: removed {got} keys")));
        }
    }
    for name in edits.replace.keys() {
        if !st.replaced.contains(name) {
            return bail(
                format!("artifact-replace {name}"),
                "no export-data record matched this artifact",
            );
        }
    }
    Ok(())
}

/// Warnings (spec §9) and the bundle references of kv-set values; refuses a kv-set value
/// no reader would accept.
fn script_warnings(script: &Script, edits: &DataEdits, in_meta: &Metadata) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let final_bundles: BTreeSet<String> = in_meta
        .bundles
        .iter()
        .cloned()
        .chain(
            edits
                .bundles
                .iter()
                .map(|b| b["bundle.".len()..].to_string()),
        )
        .collect();
    let mut any_kv = false;
    for op in &script.ops {
        match op {
            Op::KvSet { key, value, .. } => {
                any_kv = true;
                // what edit writes, every reader accepts
                if let Some(why) = crate::model::entry_size_problem(&format!("kv.{key}"), Some(value)) {
                    return bail(format!("kv-set {key:?}"), why);
                }
                for id in bundle_ids_in(value) {
                    if !final_bundles.contains(&id) {
                        warnings.push(format!("kv-set {key:?} references bundle {id}, which the edited archive does not hold; add it with bundle-add or the kernel will fail to load it"));
                    }
                }
            }
            Op::KvDelete { .. } | Op::KvDeletePrefix { .. } => any_kv = true,
            Op::BundleAdd(f) => warnings.push(format!(
                "bundle-add {}: nothing references the new bundle yet. A vat uses it only once kvStore says so (<vatID>.source {{\"bundleID\":…}}, namedBundleID.<name>, <vatID>.options workerOptions.bundleIDs), and the vat's initialize-worker transcript item still carries the old source (spec §9.4)",
                f.record_hash
            )),
            _ => {}
        }
    }
    if any_kv {
        warnings.push("kvStore edits change what the kernel reads at startup, not what a replay would reproduce: vat state is also held in transcripts and heap snapshots (spec §9.1). Review them with agar diff".into());
    }
    Ok(warnings)
}

/// The edited archive's artifact members (the input's, with added and replaced ones from
/// their files) and the file of each one that comes from a file; one change line each.
#[allow(clippy::type_complexity)]
fn new_artifacts<'s>(
    in_manifest: &ArchiveManifest,
    script: &'s Script,
    changes: &mut Vec<(usize, String)>,
) -> Result<(
    BTreeMap<String, Member>,
    BTreeMap<String, &'s script::FileArtifact>,
)> {
    let mut artifacts: BTreeMap<String, Member> = in_manifest
        .artifacts()
        .map(|(n, m)| (n.to_string(), m.clone()))
        .collect();
    let mut from_files: BTreeMap<String, &script::FileArtifact> = BTreeMap::new();
    for op in &script.ops {
        match op {
            Op::BundleAdd(f) | Op::ArtifactReplace(f) => {
                let n = f.name.to_string();
                if let Op::BundleAdd(_) = op {
                    if artifacts.contains_key(&n) {
                        return Err(Error::Refused(format!(
                            "bundle-add: {n} is already in the archive; nothing to add"
                        )));
                    }
                    changes.push((
                        usize::MAX,
                        format!(
                            "bundle-add: added artifact {n} ({} bytes) and its record",
                            f.size
                        ),
                    ));
                } else {
                    changes.push((
                        usize::MAX,
                        format!(
                            "artifact-replace: {n} now {} bytes, sha256 {}",
                            f.size, f.sha256
                        ),
                    ));
                }
                artifacts.insert(
                    n.clone(),
                    Member {
                        name: format!("{ARTIFACT_PREFIX}{n}").into(),
                        size: f.size,
                        sha256: Sha256Digest::from_hex(&f.sha256).expect("a computed digest"),
                    },
                );
                from_files.insert(n, f);
            }
            _ => {}
        }
    }
    Ok((artifacts, from_files))
}

/// Pass 2: re-read the input and stream every member of the edited archive into a temp
/// file, re-checking that the input is the one pass 1 read.
#[allow(clippy::too_many_arguments)]
fn write_edited(
    input: &Path,
    output: &Path,
    opts: &EditOptions,
    ropts: ReadOptions,
    script: &Script,
    edits: &DataEdits,
    inserts: &[String],
    new: &NewArchive,
    parent: &str,
) -> Result<crate::archive::writer::Pending> {
    let tar_bytes = new.manifest.tar_bytes(new.manifest_bytes.len() as u64);
    let mut w = ArchiveWriter::create_sized(Some(output), opts.compression, tar_bytes)?;
    // the bar counts the bytes written (replacement files included), not the input read
    let writing = Progress::bytes(opts.progress, "writing", tar_bytes.unwrap_or(0));
    w.append_bytes(MANIFEST_MEMBER, &new.manifest_bytes)?;
    {
        let mut gr = new.genesis.reader()?;
        w.append(GENESIS_MEMBER, new.genesis.size, &mut gr, &mut |b| {
            writing.inc(b.len() as u64)
        })?;
    }
    w.append_bytes(EXPORT_MANIFEST_MEMBER, &new.export_manifest)?;
    let mut r2 = ArchiveReader::open(
        input,
        ReadOptions {
            progress: false,
            ..ropts
        },
    )?;
    let mut sha = Sha256::new();
    w.begin(EXPORT_DATA_MEMBER, new.data_size)?;
    edits.stream_edited(&mut r2, inserts, false, &mut |line: &[u8]| -> Result<()> {
        sha.update(line);
        writing.inc(line.len() as u64);
        w.write_data(line)
    })?;
    w.end()?;
    if hex::encode(sha.finalize()) != new.data_sha {
        return bail(
            input.display().to_string(),
            "the input changed while editing; nothing was written",
        );
    }
    let added: Vec<&script::FileArtifact> = script
        .ops
        .iter()
        .filter_map(|o| match o {
            Op::BundleAdd(f) => Some(f),
            _ => None,
        })
        .collect();
    let mut added_sorted: Vec<&script::FileArtifact> = added;
    added_sorted.sort_by_key(|f| f.name.to_string());
    {
        let mut sink = CopySink {
            w: &mut w,
            added: &added_sorted,
            cursor: 0,
            from_files: &new.from_files,
            skipping: false,
            progress: &writing,
        };
        r2.read_artifacts(&mut sink)?;
        sink.flush_added(None)?;
    }
    if r2.finish()?.digest != parent {
        return bail(input.display().to_string(), "the input changed while editing (its digest differs between passes); nothing was written");
    }
    let pending = w.finish_pending()?;
    writing.finish();
    Ok(pending)
}

/// Verify the finished temp file as `agar verify` would. Chain-state problems the input
/// already had (`in_chain`) are the input's, warned about by the caller; a new one is a
/// refusal (the edits broke it), anything else a bug in agar.
fn verify_edited(
    pending: &crate::archive::writer::Pending,
    output: &Path,
    in_chain: &[String],
    progress: bool,
) -> Result<()> {
    if let Some(tmp) = pending.temp_path() {
        let rep = crate::verify::verify(tmp, Some(&pending.written.digest), progress)?;
        // chain-state problems the input already had are the input's (warned below)
        let new: Vec<&String> = rep
            .problems
            .iter()
            .filter(|p| !in_chain.contains(p))
            .collect();
        let chain: Vec<&str> = new
            .iter()
            .filter_map(|p| p.strip_prefix(crate::verify::CHAIN_PROBLEM_PREFIX))
            .collect();
        if !chain.is_empty() {
            return Err(Error::Refused(format!(
                "the edits leave the chain state inconsistent, so the edited archive was discarded: {}. Add the edits that restore it (fund-account, add-stake, genesis-set)",
                chain.join("; ")
            )));
        }
        if !new.is_empty() {
            return bail(
                output.display().to_string(),
                format!("the edited archive failed verification, so it was discarded (this is a bug in agar; please report it): {}", rep.problems.join("; ")),
            );
        }
    }
    Ok(())
}

/// Pass 2's artifact sink: copies verified input artifacts through, substitutes replaced
/// ones from their files and slots added bundles in at their sorted place.
struct CopySink<'a> {
    w: &'a mut ArchiveWriter,
    added: &'a [&'a script::FileArtifact],
    cursor: usize,
    from_files: &'a BTreeMap<String, &'a script::FileArtifact>,
    skipping: bool,
    progress: &'a Progress,
}

impl CopySink<'_> {
    fn write_file(&mut self, f: &script::FileArtifact) -> Result<()> {
        let name = format!("{ARTIFACT_PREFIX}{}", f.name);
        let mut file = f
            .encoding
            .reader(crate::confine::open_regular(&f.file, None)?);
        let mut sha = Sha256::new();
        let progress = self.progress;
        self.w.append(&name, f.size, &mut file, &mut |b| {
            sha.update(b);
            progress.inc(b.len() as u64)
        })?;
        if hex::encode(sha.finalize()) != f.sha256 {
            return bail(
                f.file.display().to_string(),
                "the file changed while editing; nothing was written",
            );
        }
        Ok(())
    }

    /// Write the added artifacts whose names sort before `before` (all if None).
    fn flush_added(&mut self, before: Option<&str>) -> Result<()> {
        while self.cursor < self.added.len() {
            let f = self.added[self.cursor];
            if before.is_some_and(|b| f.name.to_string().as_str() >= b) {
                break;
            }
            self.cursor += 1;
            self.write_file(f)?;
        }
        Ok(())
    }
}

impl ArtifactSink for CopySink<'_> {
    fn begin(&mut self, name: &ArtifactName, member: &Member) -> Result<()> {
        let short = name.to_string();
        self.flush_added(Some(&short))?;
        if let Some(f) = self.from_files.get(&short) {
            let f = *f;
            self.write_file(f)?;
            self.skipping = true;
        } else {
            self.w.begin(&member.name, member.size)?;
            self.skipping = false;
        }
        Ok(())
    }
    fn data(&mut self, chunk: &[u8]) -> Result<()> {
        if self.skipping {
            Ok(())
        } else {
            self.progress.inc(chunk.len() as u64);
            self.w.write_data(chunk)
        }
    }
    fn end(&mut self, _: &ArtifactName, _: &Member) -> Result<()> {
        if !self.skipping {
            self.w.end()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_refs() {
        let id = format!("b0-{}", "a".repeat(64));
        assert_eq!(
            bundle_ids_in(&format!("{{\"bundleID\":\"{id}\"}}")),
            vec![id]
        );
        assert!(bundle_ids_in(&format!("b0-{}", "a".repeat(65))).is_empty());
        // at the very start, both kinds, one after the other, and a hex tail refused
        let b0 = format!("b0-{}", "0f".repeat(32));
        let b1 = format!("b1-{}", "9a".repeat(64));
        assert_eq!(bundle_ids_in(&b0), vec![b0.clone()]);
        assert_eq!(
            bundle_ids_in(&format!("{b1},{b0}]b0-12")),
            vec![b1.clone(), b0.clone()]
        );
        assert!(bundle_ids_in(&format!("{b1}f")).is_empty());
        assert!(bundle_ids_in(&b1[..130]).is_empty());
    }

    #[test]
    fn values_are_shown_whole_up_to_120_bytes_of_json_then_cut_on_a_character() {
        assert_eq!(show("ab\n"), "\"ab\\n\"");
        let fits = "a".repeat(118); // 120 bytes with its quotes
        assert_eq!(show(&fits), format!("\"{fits}\""));
        let long = "a".repeat(119);
        assert_eq!(show(&long), format!("\"{}…\" (119 bytes)", &long[..119]));
        // 'é' is two bytes: byte 120 of the JSON is inside one, so the cut is at 119
        let e = "é".repeat(100);
        assert_eq!(show(&e), format!("\"{}…\" (200 bytes)", "é".repeat(59)));
    }

    #[test]
    fn a_chain_id_is_1_to_50_characters_without_spaces_controls_or_bidi() {
        assert_eq!(check_chain_id(&"a".repeat(50)), Ok(()));
        assert_eq!(check_chain_id("agoric-3"), Ok(()));
        for bad in [
            String::new(),
            "a".repeat(51),
            "a b".into(),
            "a\tb".into(),
            "a\u{202e}b".into(),
        ] {
            let e = check_chain_id(&bad).unwrap_err();
            assert!(
                e.ends_with(
                    "is not a valid chain ID (1-50 characters, no spaces, control or bidi characters)"
                ),
                "{e}"
            );
        }
    }

    fn kv_ops(ops: Vec<Op>) -> DataEdits {
        DataEdits::new(&Script { base: None, ops })
    }

    fn set(key: &str, value: &str, add: bool) -> Op {
        Op::KvSet {
            key: key.into(),
            value: value.into(),
            value_sha256: None,
            add,
        }
    }

    #[test]
    fn kv_edits_say_what_they_changed_in_script_order() {
        let d = kv_ops(vec![
            set("k", "v", false),
            set("k", "v", false),
            Op::KvDelete { key: "k".into() },
            set("k", "w", true),
        ]);
        let mut st = MergeState::default();
        assert_eq!(
            d.eval_kv("kv.k", Some("old"), &mut st, true).unwrap(),
            Some("w")
        );
        let changes: Vec<&str> = st.changes.iter().map(|(_, c)| c.as_str()).collect();
        assert_eq!(
            changes,
            [
                "kv-set \"k\": \"old\" -> \"v\"",
                "kv-set \"k\": unchanged (already \"v\")",
                "kv-delete \"k\": removed (was \"v\")",
                "kv-add \"k\": added, \"w\"",
            ]
        );
        assert_eq!(
            st.changes.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        // without recording (pass 2), the same result and no lines
        let mut quiet = MergeState::default();
        assert_eq!(
            d.eval_kv("kv.k", Some("old"), &mut quiet, false).unwrap(),
            Some("w")
        );
        assert!(quiet.changes.is_empty());
        // keys no op names are passed through
        assert_eq!(
            d.eval_kv("kv.other", Some("x"), &mut st, true).unwrap(),
            Some("x")
        );
    }

    #[test]
    fn kv_edits_refuse_a_missing_or_present_key_with_a_hint() {
        let refuse = |ops: Vec<Op>, orig: Option<&str>, key: &str| {
            let d = kv_ops(ops);
            let e = d
                .eval_kv(key, orig, &mut MergeState::default(), true)
                .unwrap_err();
            assert!(matches!(e, Error::Refused(_)), "{e}");
            e.to_string()
        };
        let e = refuse(vec![set("kv.k", "v", false)], None, "kv.kv.k");
        assert!(
            e.contains("edit 1 (kv-set \"kv.k\"): the key does not exist")
                && e.contains("did you mean \"k\"?"),
            "{e}"
        );
        let e = refuse(vec![set("k", "v", false)], None, "kv.k");
        assert!(e.contains("use kv-add to create a new key"), "{e}");
        let e = refuse(vec![set("k", "v", true)], Some("x"), "kv.k");
        assert!(
            e.contains("edit 1 (kv-add \"k\"): the key already exists"),
            "{e}"
        );
        let e = refuse(vec![Op::KvDelete { key: "k".into() }], None, "kv.k");
        assert!(
            e.contains("edit 1 (kv-delete \"k\"): the key does not exist"),
            "{e}"
        );
    }

    #[test]
    fn a_prefix_deletion_counts_the_keys_it_removed() {
        let d = kv_ops(vec![
            set("a.1", "new", false),
            Op::KvDeletePrefix {
                prefix: "a.".into(),
                expect_count: 2,
            },
        ]);
        let mut st = MergeState::default();
        assert_eq!(d.eval_kv("kv.a.1", Some("v"), &mut st, true).unwrap(), None);
        assert_eq!(d.eval_kv("kv.a.2", Some("v"), &mut st, true).unwrap(), None);
        assert_eq!(d.eval_kv("kv.a.3", None, &mut st, true).unwrap(), None);
        assert_eq!(
            d.eval_kv("kv.b", Some("v"), &mut st, true).unwrap(),
            Some("v")
        );
        assert_eq!(st.prefix_counts.get(&1), Some(&2));
        assert_eq!(d.inserts(), ["kv.a.1"]);
    }
}
