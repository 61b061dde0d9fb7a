//! `agar attest` (write a signed statement about a verified archive) and the
//! attestation part of `agar verify` (`--attestations … --allowed-signers F --threshold N`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use agar::attest::{self, ArchiveFacts, AttestationReport, SigningKey};
use agar::error::exit;
use agar::verify::VerifyReport;

use super::{print_json, Common};

#[derive(Args)]
pub struct AttestArgs {
    /// The archive to verify and attest (.tar, .tar.gz).
    pub archive: PathBuf,
    /// OpenSSH private key (ed25519 or ECDSA) to sign with; an encrypted key asks for
    /// its passphrase on the terminal (or reads --passphrase-file).
    #[arg(
        long,
        value_name = "SSH_PRIVATE_KEY",
        required_unless_present = "unsigned"
    )]
    pub key: Option<PathBuf>,
    /// Write the statement alone, to sign with `ssh-keygen -Y sign -n agar-archive -f KEY
    /// STATEMENT.json` (agent or hardware keys).
    #[arg(long, conflicts_with_all = ["key", "passphrase_file"])]
    pub unsigned: bool,
    /// Read the key's passphrase from the first line of this file instead of the terminal.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// The statement to write (STATEMENT.json); the signature goes to STATEMENT.json.sig.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Attest only if the archive digest is this one (64 hex, `sha256:` prefix optional).
    #[arg(long, value_name = "DIGEST", value_parser = super::parse_digest)]
    pub expect: Option<String>,
    /// Replace the statement and signature if they exist.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub common: Common,
}

/// The attestation flags of `agar verify`.
#[derive(Args, Clone, Default)]
pub struct CheckArgs {
    /// Statements (STATEMENT.json with STATEMENT.json.sig beside it), or directories of
    /// them; repeatable.
    #[arg(long, value_name = "DIR_OR_FILE", num_args = 1.., requires = "allowed_signers")]
    pub attestations: Vec<PathBuf>,
    /// OpenSSH allowed_signers file: who may attest (namespaces and validity honoured).
    #[arg(long, value_name = "FILE", requires = "attestations")]
    pub allowed_signers: Option<PathBuf>,
    /// How many distinct principals must have attested this archive (default 1).
    #[arg(long, value_name = "N", requires = "attestations",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub threshold: Option<u64>,
}

fn passphrase(args: &AttestArgs) -> impl FnMut() -> agar::Result<String> + '_ {
    move || match &args.passphrase_file {
        Some(f) => {
            let b = attest::read_small_file(f, 64 << 10, "passphrase file")?;
            let s = String::from_utf8_lossy(&b);
            Ok(s.lines().next().unwrap_or_default().to_string())
        }
        None => rpassword::prompt_password(format!(
            "Enter passphrase for {}: ",
            args.key.as_deref().unwrap_or(Path::new("")).display()
        ))
        .map_err(|e| {
            agar::Error::io_at(
                "reading the passphrase from the terminal (use --passphrase-file without one)",
                e,
            )
        }),
    }
}

/// Write `bytes` to `dest` atomically (temp file beside it, fsync, rename).
fn write_new(dest: &Path, bytes: &[u8], force: bool) -> Result<()> {
    if !force && dest.exists() {
        return Err(agar::Error::Refused(format!(
            "{} exists; use --force to replace it",
            dest.display()
        ))
        .into());
    }
    let mut t = agar::archive::writer::temp_next_to(dest)?;
    t.write_all(bytes)
        .and_then(|_| t.as_file().sync_all())
        .with_context(|| format!("writing {}", dest.display()))?;
    t.persist(dest)
        .map_err(|e| agar::Error::io(dest, e.error))?;
    Ok(())
}

pub fn cmd_attest(args: AttestArgs) -> Result<i32> {
    // the key first: a wrong passphrase should not cost a full verify
    let key = match &args.key {
        Some(k) => Some(SigningKey::load(k, &mut passphrase(&args))?),
        None => None,
    };
    let sig_path = attest::signature_path(&args.output);
    for p in [&args.output, &sig_path] {
        if !args.force && p.exists() {
            return Err(agar::Error::Refused(format!(
                "{} exists; use --force to replace it",
                p.display()
            ))
            .into());
        }
    }
    let rep = agar::verify::verify(&args.archive, args.expect.as_deref(), !args.common.quiet)?;
    let Some(facts) = ArchiveFacts::from_report(&rep) else {
        for p in &rep.problems {
            eprintln!("FAIL {p}");
        }
        eprintln!(
            "{}: {} problem(s); nothing attested, nothing written",
            rep.archive,
            rep.problems.len()
        );
        return Ok(problems_exit(&rep));
    };
    let name = args
        .archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = attest::statement(&facts, &name, &attest::now_rfc3339()).to_bytes();
    let signature = key.as_ref().map(|k| k.sign(&bytes)).transpose()?;
    write_new(&args.output, &bytes, args.force)?;
    if let Some(sig) = &signature {
        write_new(&sig_path, sig.as_bytes(), args.force)?;
    }
    let signer = key.as_ref().map(SigningKey::fingerprint);
    if args.common.json {
        print_json(&serde_json::json!({
            "archive": rep.archive,
            "digest": facts.digest,
            "statement": args.output.display().to_string(),
            "signature": signature.as_ref().map(|_| sig_path.display().to_string()),
            "key": signer,
        }))?;
    } else {
        println!("verified {}: {}", rep.archive, facts.digest);
        println!("statement: {}", args.output.display());
        match &signer {
            Some(fp) => println!("signature: {} (key {fp})", sig_path.display()),
            None => println!(
                "unsigned: sign it with `ssh-keygen -Y sign -n {} -f KEY {}`",
                attest::NAMESPACE,
                args.output.display()
            ),
        }
    }
    Ok(exit::OK)
}

/// The exit code of a read that found problems: 4 when the digest differs from
/// `--expect` (refused, as every command), 1 otherwise.
pub fn problems_exit(rep: &VerifyReport) -> i32 {
    if rep.expected.is_some() && rep.digest.is_some() && rep.expected != rep.digest {
        exit::REFUSED
    } else {
        exit::PROBLEMS
    }
}

/// The attestation check of `agar verify`, run on an archive that verified.
pub fn check(rep: &VerifyReport, args: &CheckArgs) -> Result<Option<AttestationReport>> {
    let Some(signers_path) = &args.allowed_signers else {
        return Ok(None);
    };
    let text = attest::read_small_file(
        signers_path,
        attest::MAX_ALLOWED_SIGNERS_BYTES,
        "allowed_signers file",
    )?;
    let Ok(text) = String::from_utf8(text) else {
        bail!("{}: not UTF-8 text", signers_path.display());
    };
    let signers = attest::parse_allowed_signers(&signers_path.display().to_string(), &text)?;
    let statements = attest::collect_statements(&args.attestations)?;
    let threshold = args.threshold.unwrap_or(1) as usize;
    let Some(facts) = ArchiveFacts::from_report(rep) else {
        // an archive that does not verify counts no attestation
        return Ok(Some(AttestationReport {
            threshold,
            met: false,
            principals: Vec::new(),
            accepted: Vec::new(),
            rejected: Vec::new(),
        }));
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Ok(Some(attest::check(
        &facts,
        &statements,
        &signers,
        threshold,
        now,
    )))
}

/// A reason as printable text: controls and bidi overrides (which could fake or hide
/// lines on a terminal) shown as `\u{..}` escapes.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Human-readable lines for an attestation report (untrusted strings escaped).
pub fn print_report(a: &AttestationReport) {
    for x in &a.accepted {
        println!(
            "ATTESTED {:?} by {} (allowed_signers line {}, key {})",
            x.statement, x.principal, x.allowed_signers_line, x.key
        );
    }
    for x in &a.rejected {
        println!("NOT COUNTED {:?}: {}", x.statement, printable(&x.reason));
    }
    println!(
        "attestations: {} distinct principal(s) of the {} required{}",
        a.principals.len(),
        a.threshold,
        if a.met { "" } else { ": threshold NOT met" }
    );
}
