//! `agar attest` and `agar verify --attestations`: interop with the real OpenSSH tools
//! (statements agar signs verify with `ssh-keygen -Y verify`; statements signed by
//! `ssh-keygen -Y sign` count in agar), every rejection reason, the threshold.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;

/// ssh-keygen must be installed (openssh-client); set AGAR_TEST_SKIP_TOOLS=ssh-keygen to
/// skip these tests on a machine without it, knowingly.
fn have_ssh_keygen() -> bool {
    if Command::new("ssh-keygen")
        .arg("-?")
        .stderr(Stdio::null())
        .status()
        .is_ok()
    {
        return true;
    }
    let skip = std::env::var("AGAR_TEST_SKIP_TOOLS").unwrap_or_default();
    assert!(
        skip.split(',').any(|t| t == "ssh-keygen"),
        "ssh-keygen (openssh-client) is needed for the attestation interop tests; install it or set AGAR_TEST_SKIP_TOOLS=ssh-keygen"
    );
    eprintln!("skipped: ssh-keygen missing and AGAR_TEST_SKIP_TOOLS names it");
    false
}

fn keygen(dir: &Path, name: &str, kind: &[&str], pass: &str) -> PathBuf {
    let k = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-N", pass, "-C", name, "-f"])
        .arg(&k)
        .args(kind)
        .status()
        .unwrap();
    assert!(st.success());
    k
}

fn pubkey(k: &Path) -> String {
    std::fs::read_to_string(k.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

/// `ssh-keygen -Y sign -n NS -f KEY FILE` (writes FILE.sig).
fn ssh_sign(key: &Path, ns: &str, file: &Path) {
    let _ = std::fs::remove_file(format!("{}.sig", file.display()));
    let o = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", ns, "-f"])
        .arg(key)
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    archive: PathBuf,
    digest: String,
    alice: PathBuf,
    bob: PathBuf,
    carol: PathBuf,
    dave: PathBuf,
    allowed: PathBuf,
}

fn setup() -> Option<Setup> {
    if !have_ssh_keygen() {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let archive = dir.join("genesis.tar");
    let digest = pack_dir(&repo("examples/tiny-export"), &archive);
    let alice = keygen(&dir, "alice", &["-t", "ed25519"], "");
    let bob = keygen(&dir, "bob", &["-t", "ecdsa", "-b", "256"], "");
    let carol = keygen(&dir, "carol", &["-t", "ed25519"], "carol secret");
    let dave = keygen(&dir, "dave", &["-t", "ed25519"], "");
    let allowed = dir.join("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "# validators who check restart archives\nalice@example.com namespaces=\"agar-archive\" {}\nbob@example.com {}\ncarol@example.com namespaces=\"file,agar-*\" {}\n",
            pubkey(&alice),
            pubkey(&bob),
            pubkey(&carol)
        ),
    )
    .unwrap();
    Some(Setup {
        _tmp: tmp,
        dir,
        archive,
        digest,
        alice,
        bob,
        carol,
        dave,
        allowed,
    })
}

fn attest(s: &Setup, key: &Path, out: &Path) {
    ok(&["attest", p(&s.archive), "--key", p(key), "-o", p(out), "-q"]);
}

fn verify_att(s: &Setup, att: &[&Path], threshold: u32) -> (i32, String) {
    let mut args: Vec<String> = vec!["verify".into(), p(&s.archive).into(), "-q".into()];
    for a in att {
        args.push("--attestations".into());
        args.push(p(a).into());
    }
    args.extend([
        "--allowed-signers".into(),
        p(&s.allowed).into(),
        "--threshold".into(),
        threshold.to_string(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = agar(&refs);
    (o.status.code().unwrap_or(-1), stdout(&o) + &stderr(&o))
}

#[test]
fn agar_signature_verifies_with_ssh_keygen() {
    let Some(s) = setup() else { return };
    let st = s.dir.join("alice.json");
    attest(&s, &s.alice, &st);
    let text = std::fs::read_to_string(&st).unwrap();
    assert!(
        text.contains(&format!("\"sha256\":\"{}\"", s.digest)),
        "{text}"
    );
    assert!(text.contains("\"_type\":\"https://in-toto.io/Statement/v1\""));
    let o = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-n",
            "agar-archive",
            "-I",
            "alice@example.com",
            "-f",
        ])
        .arg(&s.allowed)
        .arg("-s")
        .arg(format!("{}.sig", st.display()))
        .stdin(std::fs::File::open(&st).unwrap())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ssh-keygen -Y verify refused agar's signature: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Good \"agar-archive\" signature"));
    // an ECDSA key too
    let st2 = s.dir.join("bob.json");
    attest(&s, &s.bob, &st2);
    let o = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-n",
            "agar-archive",
            "-I",
            "bob@example.com",
            "-f",
        ])
        .arg(&s.allowed)
        .arg("-s")
        .arg(format!("{}.sig", st2.display()))
        .stdin(std::fs::File::open(&st2).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, out) = verify_att(&s, &[&st, &st2], 2);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("2 distinct principal(s) of the 2 required"),
        "{out}"
    );
}

#[test]
fn ssh_keygen_signature_counts_and_threshold() {
    let Some(s) = setup() else { return };
    let d = s.dir.join("statements");
    std::fs::create_dir(&d).unwrap();
    // bob signs with ssh-keygen an unsigned statement agar wrote
    let u = d.join("bob.json");
    let o = ok(&["attest", p(&s.archive), "--unsigned", "-o", p(&u), "-q"]);
    assert!(o.contains("ssh-keygen -Y sign -n agar-archive"), "{o}");
    assert!(!Path::new(&format!("{}.sig", u.display())).exists());
    ssh_sign(&s.bob, "agar-archive", &u);
    let (code, out) = verify_att(&s, &[&d], 1);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ATTESTED") && out.contains("bob@example.com"),
        "{out}"
    );
    // one principal is not two
    let (code, out) = verify_att(&s, &[&d], 2);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("threshold NOT met"), "{out}");
    // carol's encrypted key, passphrase from a file; the namespace pattern agar-* allows it
    let pass = s.dir.join("pass");
    std::fs::write(&pass, "carol secret\n").unwrap();
    ok(&[
        "attest",
        p(&s.archive),
        "--key",
        p(&s.carol),
        "--passphrase-file",
        p(&pass),
        "-o",
        p(&d.join("carol.json")),
        "-q",
    ]);
    let (code, out) = verify_att(&s, &[&d], 2);
    assert_eq!(code, 0, "{out}");
    let o = agar(&[
        "verify",
        p(&s.archive),
        "-q",
        "--json",
        "--attestations",
        p(&d),
        "--allowed-signers",
        p(&s.allowed),
        "--threshold",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["attestations"]["met"], false);
    assert_eq!(v["attestations"]["threshold"], 3);
    assert_eq!(
        v["attestations"]["principals"],
        serde_json::json!(["bob@example.com", "carol@example.com"])
    );
}

#[test]
fn each_bad_statement_is_rejected_with_its_reason() {
    let Some(s) = setup() else { return };
    let d = s.dir.join("bad");
    std::fs::create_dir(&d).unwrap();
    let good = d.join("00-alice.json");
    attest(&s, &s.alice, &good);
    let good_bytes = std::fs::read(&good).unwrap();

    // wrong namespace (bob signs for "file")
    let ns = d.join("01-namespace.json");
    std::fs::write(&ns, &good_bytes).unwrap();
    ssh_sign(&s.bob, "file", &ns);
    // another archive: the edited one
    let other = s.dir.join("other.tar");
    ok(&[
        "edit",
        p(&s.archive),
        "-o",
        p(&other),
        "--initial-height",
        "99",
        "-q",
    ]);
    let subj = d.join("02-subject.json");
    ok(&[
        "attest",
        p(&other),
        "--key",
        p(&s.bob),
        "-o",
        p(&subj),
        "-q",
    ]);
    // another chain id, signed properly by carol's key... with the digest of this archive
    let chain = d.join("03-chain.json");
    let text = String::from_utf8(good_bytes.clone()).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cid = m["predicate"]["chain_id"].as_str().unwrap().to_string();
    std::fs::write(
        &chain,
        text.replace(
            &format!("\"chain_id\":\"{cid}\""),
            "\"chain_id\":\"agoric-mainfork-1\"",
        ),
    )
    .unwrap();
    ssh_sign(&s.bob, "agar-archive", &chain);
    // a signer missing from allowed_signers
    let missing = d.join("04-missing.json");
    attest(&s, &s.dave, &missing);
    // a second statement from alice
    let dup = d.join("05-dup.json");
    attest(&s, &s.alice, &dup);
    // a statement changed after signing
    let tampered = d.join("06-tampered.json");
    attest(&s, &s.bob, &tampered);
    let t = std::fs::read_to_string(&tampered)
        .unwrap()
        .replace("\"verified_at\":\"2", "\"verified_at\":\"1");
    std::fs::write(&tampered, t).unwrap();
    // a truncated signature
    let trunc = d.join("07-truncated.json");
    attest(&s, &s.bob, &trunc);
    let sig = format!("{}.sig", trunc.display());
    let b = std::fs::read(&sig).unwrap();
    std::fs::write(&sig, &b[..b.len() / 2]).unwrap();
    // no signature at all
    std::fs::write(d.join("08-unsigned.json"), &good_bytes).unwrap();

    let (code, out) = verify_att(&s, &[&d], 2);
    assert_eq!(code, 1, "{out}");
    let reason = |name: &str| -> String {
        out.lines()
            .find(|l| l.starts_with("NOT COUNTED") && l.contains(name))
            .unwrap_or_else(|| panic!("no rejection for {name}:\n{out}"))
            .to_string()
    };
    assert!(
        reason("01-namespace").contains("namespace \"file\""),
        "{out}"
    );
    assert!(reason("02-subject").contains("not this one"), "{out}");
    assert!(
        reason("03-chain").contains("chain_id \"agoric-mainfork-1\""),
        "{out}"
    );
    assert!(
        reason("04-missing").contains("not listed in allowed_signers"),
        "{out}"
    );
    assert!(reason("05-dup").contains("duplicate principal"), "{out}");
    assert!(reason("06-tampered").contains("bad signature"), "{out}");
    assert!(
        reason("07-truncated").contains("not a valid SSH signature"),
        "{out}"
    );
    assert!(reason("08-unsigned").contains("no signature"), "{out}");
    assert!(
        out.contains("ATTESTED") && out.contains("00-alice"),
        "{out}"
    );
    assert!(
        out.contains("1 distinct principal(s) of the 2 required: threshold NOT met"),
        "{out}"
    );
    // ssh-keygen agrees that the tampered statement's signature is bad
    let o = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-n",
            "agar-archive",
            "-I",
            "bob@example.com",
            "-f",
        ])
        .arg(&s.allowed)
        .arg("-s")
        .arg(format!("{}.sig", tampered.display()))
        .stdin(std::fs::File::open(&tampered).unwrap())
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn attest_refuses_without_writing() {
    let Some(s) = setup() else { return };
    let st = s.dir.join("x.json");
    // wrong passphrase: exit 4, nothing written, before any verify
    let pass = s.dir.join("pass");
    std::fs::write(&pass, "wrong\n").unwrap();
    let o = agar(&[
        "attest",
        p(&s.archive),
        "--key",
        p(&s.carol),
        "--passphrase-file",
        p(&pass),
        "-o",
        p(&st),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrong passphrase"));
    assert!(!st.exists());
    // an archive that does not verify: exit 1, nothing written
    let bad = s.dir.join("bad.tar");
    let mut b = std::fs::read(&s.archive).unwrap();
    let n = b.len();
    b[n - 2048] ^= 1;
    std::fs::write(&bad, b).unwrap();
    let o = agar(&["attest", p(&bad), "--key", p(&s.alice), "-o", p(&st), "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!st.exists() && !Path::new(&format!("{}.sig", st.display())).exists());
    // --expect another digest: refused, nothing written
    let o = agar(&[
        "attest",
        p(&s.archive),
        "--key",
        p(&s.alice),
        "--expect",
        &"0".repeat(64),
        "-o",
        p(&st),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(!st.exists());
    // an existing statement is kept unless --force
    attest(&s, &s.alice, &st);
    let o = agar(&[
        "attest",
        p(&s.archive),
        "--key",
        p(&s.alice),
        "-o",
        p(&st),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(4));
    // threshold 0 is a usage error
    let o = agar(&[
        "verify",
        p(&s.archive),
        "--attestations",
        p(&st),
        "--allowed-signers",
        p(&s.allowed),
        "--threshold",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // an allowed_signers line that cannot be read names its line
    let allowed = s.dir.join("bad_allowed");
    std::fs::write(&allowed, "alice@example.com ssh-ed25519 AAAA\n").unwrap();
    let o = agar(&[
        "verify",
        p(&s.archive),
        "-q",
        "--attestations",
        p(&st),
        "--allowed-signers",
        p(&allowed),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("line 1"), "{}", stderr(&o));
}
