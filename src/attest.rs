//! Attestations: a signed statement that someone verified one exact archive, and the
//! threshold check that counts them ("social consensus" you can check).
//!
//! * The statement is an [in-toto Statement v1]: `subject` is the archive digest (the
//!   SHA-256 of the uncompressed tar), `predicate` what the archive is (chain, heights,
//!   artifact mode, genesis.json SHA-256, export-data hash, provenance) and who checked
//!   it when. Its bytes are compact JSON with sorted keys and a final newline.
//! * The signature is an SSH signature (SSHSIG) in namespace [`NAMESPACE`], byte for
//!   byte what `ssh-keygen -Y sign -n agar-archive -f KEY STATEMENT.json` writes, so
//!   `ssh-keygen -Y verify` checks it and a statement signed by ssh-keygen (an agent or
//!   a hardware key) counts here. The `ssh-key` crate does the SSHSIG encoding and the
//!   ed25519/ECDSA arithmetic: those are well-kept, audited RustCrypto code; the
//!   `allowed_signers` file format is parsed here (the crate has no parser for it).
//! * [`check`] counts distinct principals of an OpenSSH `allowed_signers` file whose
//!   valid signature covers a statement that matches the archive, and says for every
//!   other statement why it did not count.
//!
//! [in-toto Statement v1]: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use crate::archive::Provenance;
use crate::error::{bail, Error, Result};
use crate::verify::VerifyReport;

/// The SSHSIG namespace of archive attestations (`ssh-keygen -Y sign -n agar-archive`).
pub const NAMESPACE: &str = "agar-archive";
/// in-toto Statement v1 `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of an agar attestation: "I verified this archive, and it is this".
pub const PREDICATE_TYPE: &str = "urn:agar:predicate:archive-verified:v1";
/// Largest statement, signature and allowed_signers file read (a real statement is
/// under 1 KiB, a signature under 1 KiB, an allowed_signers file a few KiB).
pub const MAX_STATEMENT_BYTES: u64 = 1 << 20;
pub const MAX_SIGNATURE_BYTES: u64 = 64 << 10;
pub const MAX_ALLOWED_SIGNERS_BYTES: u64 = 16 << 20;
pub const MAX_KEY_BYTES: u64 = 64 << 10;

/// What the archive is, as verify established it: what a statement must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    pub chain_id: String,
    pub initial_height: u64,
    pub export_height: u64,
    pub artifact_mode: String,
    pub genesis_sha256: String,
    pub swing_store_export_data_hash: String,
    /// Parent digest and edits hash of an edited archive; null for a packed one.
    pub provenance: Option<PredicateProvenance>,
    /// The tool that verified it (informational, not matched).
    pub verifier: Verifier,
    /// When it was verified, RFC 3339 UTC (informational, not matched).
    pub verified_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredicateProvenance {
    pub parent: String,
    pub edits_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verifier {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

/// An in-toto Statement v1 about one archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Predicate,
}

/// The facts of a verified archive that a statement is matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFacts {
    pub digest: String,
    pub chain_id: String,
    pub initial_height: u64,
    pub export_height: u64,
    pub artifact_mode: String,
    pub genesis_sha256: String,
    pub swing_store_export_data_hash: String,
    pub provenance: Option<PredicateProvenance>,
}

impl ArchiveFacts {
    /// The facts of an archive that verified (None when verify found problems).
    pub fn from_report(rep: &VerifyReport) -> Option<ArchiveFacts> {
        if !rep.ok {
            return None;
        }
        Some(ArchiveFacts {
            digest: rep.digest.clone()?,
            chain_id: rep.chain_id.clone()?,
            initial_height: rep.initial_height?,
            export_height: rep.export_height?,
            artifact_mode: rep.artifact_mode.clone()?,
            genesis_sha256: rep.genesis_sha256.clone()?,
            swing_store_export_data_hash: rep.swing_store_export_data_hash.clone()?,
            provenance: rep
                .provenance
                .as_ref()
                .map(|p: &Provenance| PredicateProvenance {
                    parent: p.parent.clone(),
                    edits_sha256: p.edits_sha256.clone(),
                }),
        })
    }
}

/// The statement for a verified archive. `name` is the subject name (the archive's file
/// name; informational: matching is by digest), `verified_at` an RFC 3339 UTC time.
pub fn statement(facts: &ArchiveFacts, name: &str, verified_at: &str) -> Statement {
    Statement {
        type_: STATEMENT_TYPE.into(),
        subject: vec![Subject {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_string(), facts.digest.clone())]),
        }],
        predicate_type: PREDICATE_TYPE.into(),
        predicate: Predicate {
            chain_id: facts.chain_id.clone(),
            initial_height: facts.initial_height,
            export_height: facts.export_height,
            artifact_mode: facts.artifact_mode.clone(),
            genesis_sha256: facts.genesis_sha256.clone(),
            swing_store_export_data_hash: facts.swing_store_export_data_hash.clone(),
            provenance: facts.provenance.clone(),
            verifier: Verifier {
                name: "agar".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            verified_at: verified_at.into(),
        },
    }
}

impl Statement {
    /// The bytes that are signed: compact JSON, keys sorted, final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // serde_json's Map is a BTreeMap (no preserve_order): keys come out sorted.
        let v = serde_json::to_value(self).expect("a statement serialises");
        let mut out = serde_json::to_vec(&v).expect("a JSON value serialises");
        out.push(b'\n');
        out
    }
}

/// The current time as RFC 3339 UTC with whole seconds (`2026-11-30T16:05:55Z`).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 ns is valid");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

/// Read at most `cap` bytes of a regular file (no device, FIFO or directory).
pub fn read_small_file(path: &Path, cap: u64, what: &str) -> Result<Vec<u8>> {
    let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !md.is_file() {
        return bail(
            path.display().to_string(),
            format!("the {what} is not a regular file"),
        );
    }
    if md.len() > cap {
        return bail(
            path.display().to_string(),
            format!(
                "the {what} is {} bytes, more than the {cap}-byte limit",
                md.len()
            ),
        );
    }
    let mut buf = Vec::with_capacity(md.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut buf))
        .map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > cap {
        return bail(
            path.display().to_string(),
            format!("the {what} grew past the {cap}-byte limit while being read"),
        );
    }
    Ok(buf)
}

/// A private key ready to sign.
pub struct SigningKey {
    key: PrivateKey,
}

impl SigningKey {
    /// Load an OpenSSH private key; `passphrase` is asked for only if it is encrypted.
    pub fn load(path: &Path, passphrase: &mut dyn FnMut() -> Result<String>) -> Result<Self> {
        let loc = path.display().to_string();
        let text = read_small_file(path, MAX_KEY_BYTES, "private key")?;
        let key = PrivateKey::from_openssh(&text).map_err(|e| {
            Error::invalid(
                &loc,
                format!("not an OpenSSH private key ({e}); convert it with `ssh-keygen -p -f KEY` or create one with `ssh-keygen -t ed25519`"),
            )
        })?;
        let key = if key.is_encrypted() {
            let pass = passphrase()?;
            key.decrypt(pass.as_bytes()).map_err(|_| {
                Error::Refused(format!(
                    "{loc}: wrong passphrase for this encrypted key (nothing was written)"
                ))
            })?
        } else {
            key
        };
        match key.algorithm() {
            ssh_key::Algorithm::Ed25519 | ssh_key::Algorithm::Ecdsa { .. } => Ok(SigningKey { key }),
            other => bail(
                loc,
                format!("{other} keys are not supported for signing here; use an ed25519 or ECDSA key, or write the statement with --unsigned and sign it with `ssh-keygen -Y sign -n {NAMESPACE}`"),
            ),
        }
    }

    /// `SHA256:…` fingerprint of the public key, as ssh-keygen prints it.
    pub fn fingerprint(&self) -> String {
        self.key
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string()
    }

    /// The armored SSHSIG over `msg`, as `ssh-keygen -Y sign -n agar-archive` writes it.
    pub fn sign(&self, msg: &[u8]) -> Result<String> {
        let sig = self
            .key
            .sign(NAMESPACE, HashAlg::Sha512, msg)
            .map_err(|e| Error::invalid("signature", format!("signing failed: {e}")))?;
        sig.to_pem(LineEnding::LF)
            .map_err(|e| Error::invalid("signature", format!("encoding failed: {e}")))
    }
}

/// One line of an OpenSSH `allowed_signers` file (ssh-keygen(1), ALLOWED SIGNERS).
#[derive(Debug, Clone)]
pub struct AllowedSigner {
    /// 1-based line number in the file.
    pub line: usize,
    /// The principals field as written: the identity an attestation counts for.
    pub principals: String,
    pub cert_authority: bool,
    /// `namespaces="…"` patterns; None allows every namespace.
    pub namespaces: Option<Vec<String>>,
    /// `valid-after` / `valid-before` as Unix seconds.
    pub valid_after: Option<i64>,
    pub valid_before: Option<i64>,
    pub key: PublicKey,
}

/// Split off one whitespace-delimited token, honouring double quotes.
fn token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&s[..i], &s[i..]),
            _ => {}
        }
    }
    (s, "")
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// Split an options list on commas outside quotes.
fn split_options(s: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn is_key_type(t: &str) -> bool {
    t.starts_with("ssh-") || t.starts_with("ecdsa-sha2-") || t.starts_with("sk-")
}

/// `YYYYMMDD[HHMM[SS]]Z` as Unix seconds. Times without `Z` are local time to ssh-keygen
/// and would mean different instants to validators in different zones: refused.
fn parse_validity(v: &str) -> std::result::Result<i64, String> {
    let Some(d) = v.strip_suffix('Z').or_else(|| v.strip_suffix('z')) else {
        return Err(format!(
            "{v:?} has no Z suffix: ssh-keygen reads it in the local time zone, so validators in other zones would disagree; write it in UTC with a Z"
        ));
    };
    if !matches!(d.len(), 8 | 12 | 14) || !d.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{v:?} is not YYYYMMDD[HHMM[SS]]Z"));
    }
    let n = |a: usize, b: usize| d.get(a..b).map_or(0, |s| s.parse::<u32>().unwrap_or(0));
    let month = time::Month::try_from(n(4, 6) as u8).map_err(|_| format!("{v:?}: bad month"))?;
    let date = time::Date::from_calendar_date(n(0, 4) as i32, month, n(6, 8) as u8)
        .map_err(|e| format!("{v:?}: {e}"))?;
    let t = time::Time::from_hms(n(8, 10) as u8, n(10, 12) as u8, n(12, 14) as u8)
        .map_err(|e| format!("{v:?}: {e}"))?;
    Ok(time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp())
}

/// Parse an `allowed_signers` file strictly: a line that cannot be read is an error
/// naming it (the file is the trust root: nothing in it is skipped silently).
pub fn parse_allowed_signers(loc: &str, text: &str) -> Result<Vec<AllowedSigner>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{loc}: line {}", i + 1);
        let (principals, rest) = token(line);
        let principals = unquote(principals);
        if principals.is_empty() {
            return bail(at, "no principals field");
        }
        let (next, after) = token(rest);
        let (options, keytext) = if is_key_type(next) {
            ("", rest.trim_start())
        } else {
            (next, after.trim_start())
        };
        let mut s = AllowedSigner {
            line: i + 1,
            principals: principals.to_string(),
            cert_authority: false,
            namespaces: None,
            valid_after: None,
            valid_before: None,
            key: PublicKey::from_openssh(keytext).map_err(|e| {
                Error::invalid(
                    &at,
                    format!("not a public key (\"TYPE BASE64 [comment]\"): {e}"),
                )
            })?,
        };
        for opt in split_options(options).into_iter().filter(|o| !o.is_empty()) {
            let (name, value) = match opt.split_once('=') {
                Some((n, v)) => (n.to_ascii_lowercase(), Some(unquote(v))),
                None => (opt.to_ascii_lowercase(), None),
            };
            match (name.as_str(), value) {
                ("cert-authority", None) => s.cert_authority = true,
                ("namespaces", Some(v)) => {
                    s.namespaces = Some(v.split(',').map(str::to_string).collect())
                }
                ("valid-after", Some(v)) => {
                    s.valid_after = Some(parse_validity(v).map_err(|e| Error::invalid(&at, e))?)
                }
                ("valid-before", Some(v)) => {
                    s.valid_before = Some(parse_validity(v).map_err(|e| Error::invalid(&at, e))?)
                }
                _ => return bail(at, format!("unknown option {opt:?}")),
            }
        }
        out.push(s);
    }
    Ok(out)
}

/// OpenSSH pattern match: `*` any run, `?` one character.
fn pattern_match(pat: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// An OpenSSH pattern-list: the last matching pattern wins, `!` negates.
fn pattern_list_match(list: &[String], s: &str) -> bool {
    let mut ok = false;
    for p in list {
        match p.strip_prefix('!') {
            Some(neg) if pattern_match(neg, s) => return false,
            Some(_) => {}
            None => ok |= pattern_match(p, s),
        }
    }
    ok
}

/// A statement that counted.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub statement: String,
    pub principal: String,
    pub key: String,
    pub allowed_signers_line: usize,
}

/// A statement that did not count, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub statement: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttestationReport {
    pub threshold: usize,
    pub met: bool,
    /// Distinct principals with a valid, matching attestation.
    pub principals: Vec<String>,
    pub accepted: Vec<Accepted>,
    pub rejected: Vec<Rejected>,
}

/// The statement files named by `paths`: a file as is, a directory's `*.json` files
/// (not recursive), sorted, each once.
pub fn collect_statements(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let md = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if md.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json") && f.is_file())
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The signature file of a statement: `STATEMENT.json.sig`.
pub fn signature_path(statement: &Path) -> PathBuf {
    let mut s = statement.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

fn mismatch<T: PartialEq + std::fmt::Debug>(
    what: &str,
    said: &T,
    is: &T,
) -> std::result::Result<(), String> {
    if said == is {
        Ok(())
    } else {
        Err(format!(
            "statement says {what} {said:?}, but this archive's is {is:?}"
        ))
    }
}

/// Does this statement (bytes as signed) describe this archive? The reason if not.
pub fn match_statement(facts: &ArchiveFacts, bytes: &[u8]) -> std::result::Result<(), String> {
    let st: Statement = serde_json::from_slice(bytes)
        .map_err(|e| format!("not an agar in-toto Statement v1: {e}"))?;
    if st.type_ != STATEMENT_TYPE {
        return Err(format!("_type is {:?}, not {STATEMENT_TYPE:?}", st.type_));
    }
    if st.predicate_type != PREDICATE_TYPE {
        return Err(format!(
            "predicateType is {:?}, not {PREDICATE_TYPE:?}",
            st.predicate_type
        ));
    }
    let digests: Vec<&str> = st
        .subject
        .iter()
        .filter_map(|s| s.digest.get("sha256").map(String::as_str))
        .collect();
    if !digests.contains(&facts.digest.as_str()) {
        return Err(format!(
            "statement is about archive {}, not this one ({})",
            digests.first().copied().unwrap_or("(no sha256 subject)"),
            facts.digest
        ));
    }
    let p = &st.predicate;
    mismatch("chain_id", &p.chain_id, &facts.chain_id)?;
    mismatch("initial_height", &p.initial_height, &facts.initial_height)?;
    mismatch("export_height", &p.export_height, &facts.export_height)?;
    mismatch("artifact_mode", &p.artifact_mode, &facts.artifact_mode)?;
    mismatch("genesis_sha256", &p.genesis_sha256, &facts.genesis_sha256)?;
    mismatch(
        "swing_store_export_data_hash",
        &p.swing_store_export_data_hash,
        &facts.swing_store_export_data_hash,
    )?;
    mismatch("provenance", &p.provenance, &facts.provenance)
}

/// Check one statement file: its signature, its signer, what it says. The principal
/// (and signer) if it counts, the reason if not.
fn check_one(
    facts: &ArchiveFacts,
    path: &Path,
    signers: &[AllowedSigner],
    now: i64,
) -> std::result::Result<Accepted, String> {
    let bytes =
        read_small_file(path, MAX_STATEMENT_BYTES, "statement").map_err(|e| e.to_string())?;
    let sig_path = signature_path(path);
    if !sig_path.exists() {
        return Err(format!("no signature: {} is missing", sig_path.display()));
    }
    let armored =
        read_small_file(&sig_path, MAX_SIGNATURE_BYTES, "signature").map_err(|e| e.to_string())?;
    let sig = SshSig::from_pem(&armored).map_err(|e| {
        format!(
            "{} is not a valid SSH signature (truncated or corrupt: {e})",
            sig_path.display()
        )
    })?;
    if sig.namespace() != NAMESPACE {
        return Err(format!(
            "signed for namespace {:?}, not {NAMESPACE:?} (sign with `ssh-keygen -Y sign -n {NAMESPACE}`)",
            sig.namespace()
        ));
    }
    let key = PublicKey::new(sig.public_key().clone(), "");
    let fp = key.fingerprint(HashAlg::Sha256).to_string();
    let same_key: Vec<&AllowedSigner> = signers
        .iter()
        .filter(|s| !s.cert_authority && s.key.key_data() == sig.public_key())
        .collect();
    if same_key.is_empty() {
        return Err(format!(
            "signed by {fp}, a key not listed in allowed_signers"
        ));
    }
    let allowed = same_key.iter().find(|s| {
        let ns_ok = match &s.namespaces {
            Some(ns) => pattern_list_match(ns, NAMESPACE),
            None => true,
        };
        ns_ok
            && !matches!(s.valid_after, Some(t) if now < t)
            && !matches!(s.valid_before, Some(t) if now > t)
    });
    let Some(signer) = allowed else {
        let s = same_key[0];
        return Err(format!(
            "key {fp} of {:?} (allowed_signers line {}) is not allowed for namespace {NAMESPACE:?} at this time",
            s.principals, s.line
        ));
    };
    key.verify(NAMESPACE, &bytes, &sig).map_err(|_| {
        "bad signature: the statement was changed after it was signed, or the signature belongs to another file".to_string()
    })?;
    match_statement(facts, &bytes)?;
    Ok(Accepted {
        statement: path.display().to_string(),
        principal: signer.principals.clone(),
        key: fp,
        allowed_signers_line: signer.line,
    })
}

/// Count the distinct principals whose valid signature covers a statement matching
/// `facts`. `now` is Unix seconds (for valid-after/valid-before).
pub fn check(
    facts: &ArchiveFacts,
    statements: &[PathBuf],
    signers: &[AllowedSigner],
    threshold: usize,
    now: i64,
) -> AttestationReport {
    let mut rep = AttestationReport {
        threshold,
        met: false,
        principals: Vec::new(),
        accepted: Vec::new(),
        rejected: Vec::new(),
    };
    for path in statements {
        match check_one(facts, path, signers, now) {
            Ok(a) => {
                if let Some(first) = rep.accepted.iter().find(|x| x.principal == a.principal) {
                    rep.rejected.push(Rejected {
                        statement: a.statement,
                        reason: format!(
                            "duplicate principal {:?}: already counted for {}",
                            a.principal, first.statement
                        ),
                    });
                } else {
                    rep.principals.push(a.principal.clone());
                    rep.accepted.push(a);
                }
            }
            Err(reason) => rep.rejected.push(Rejected {
                statement: path.display().to_string(),
                reason,
            }),
        }
    }
    rep.met = threshold_met(rep.principals.len(), threshold);
    rep
}

/// At least `threshold` distinct principals (a threshold of 0 is refused at parse time).
pub fn threshold_met(principals: usize, threshold: usize) -> bool {
    threshold > 0 && principals >= threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE8hDS0eG98SH0jdvkHjAM8OekxAqznxIDreTVVzyGrB";

    #[test]
    fn threshold_arithmetic() {
        assert!(!threshold_met(0, 1));
        assert!(threshold_met(1, 1));
        assert!(!threshold_met(1, 2));
        assert!(threshold_met(3, 2));
        assert!(!threshold_met(5, 0));
    }

    #[test]
    fn patterns() {
        assert!(pattern_match("*", "agar-archive"));
        assert!(pattern_match("agar-*", "agar-archive"));
        assert!(pattern_match("a?ar-archive", "agar-archive"));
        assert!(!pattern_match("file", "agar-archive"));
        assert!(pattern_list_match(
            &["file".into(), "agar-*".into()],
            "agar-archive"
        ));
        assert!(!pattern_list_match(
            &["*".into(), "!agar-*".into()],
            "agar-archive"
        ));
    }

    #[test]
    fn allowed_signers_lines() {
        let text = format!(
            "# comment\n\nalice@example.com {ED} alice\n\"bob@x,carol@y\" namespaces=\"file,agar-archive\",valid-after=20260101Z {ED}\n*@ca.example cert-authority {ED}\n"
        );
        let s = parse_allowed_signers("allowed", &text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].line, s[0].principals.as_str()),
            (3, "alice@example.com")
        );
        assert!(s[0].namespaces.is_none());
        assert_eq!(s[1].principals, "bob@x,carol@y");
        assert_eq!(
            s[1].namespaces.as_deref(),
            Some(&["file".to_string(), "agar-archive".to_string()][..])
        );
        assert_eq!(s[1].valid_after, Some(1_767_225_600));
        assert!(s[2].cert_authority);
    }

    #[test]
    fn allowed_signers_errors_name_the_line() {
        let e = parse_allowed_signers("a", &format!("x {ED}\ny bogus-opt {ED}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a: line 2") && e.contains("unknown option"),
            "{e}"
        );
        let e = parse_allowed_signers("a", &format!("x valid-before=20260101 {ED}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no Z suffix"), "{e}");
        let e = parse_allowed_signers("a", "x ssh-ed25519 notbase64\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 1") && e.contains("not a public key"),
            "{e}"
        );
    }

    #[test]
    fn validity_times() {
        assert_eq!(parse_validity("19700101Z"), Ok(0));
        assert_eq!(parse_validity("197001010001Z"), Ok(60));
        assert_eq!(parse_validity("19700101000001Z"), Ok(1));
        assert!(parse_validity("20261345Z").is_err());
    }

    fn facts() -> ArchiveFacts {
        ArchiveFacts {
            digest: "a".repeat(64),
            chain_id: "agoric-3".into(),
            initial_height: 10,
            export_height: 9,
            artifact_mode: "operational".into(),
            genesis_sha256: "b".repeat(64),
            swing_store_export_data_hash: format!("sha256:{}", "c".repeat(64)),
            provenance: None,
        }
    }

    #[test]
    fn statement_bytes_are_sorted_and_match() {
        let f = facts();
        let st = statement(&f, "g.tar.gz", "2026-11-30T00:00:00Z");
        let b = st.to_bytes();
        let s = std::str::from_utf8(&b).unwrap();
        assert!(
            s.starts_with(
                "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{\"artifact_mode\""
            ),
            "{s}"
        );
        assert!(s.ends_with("}\n"));
        assert_eq!(match_statement(&f, &b), Ok(()));
        let mut other = f.clone();
        other.chain_id = "agoric-mainfork-1".into();
        let e = match_statement(&other, &b).unwrap_err();
        assert!(e.contains("chain_id \"agoric-3\""), "{e}");
        other = f.clone();
        other.digest = "d".repeat(64);
        assert!(match_statement(&other, &b)
            .unwrap_err()
            .contains("not this one"));
        other = f.clone();
        other.provenance = Some(PredicateProvenance {
            parent: "e".repeat(64),
            edits_sha256: "f".repeat(64),
        });
        assert!(match_statement(&other, &b)
            .unwrap_err()
            .contains("provenance"));
    }
}
