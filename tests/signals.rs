//! Signals and closed pipes: SIGTERM/SIGINT remove every temporary output and exit
//! 143/130; a closed stdout ends the run quietly; stale temp outputs of dead runs are
//! cleaned. Synchronised on events (a FIFO input that blocks the run, the temp file
//! appearing), never on sleeps of a guessed length.

use crate::common;

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::edit::{pack, stderr, BIN};

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Edit reads its input twice: pass 1 checks it, pass 2 streams it into the temp output.
/// With the input a FIFO, pass 2 blocks opening it once the temp output exists: the
/// moment to send the signal.
fn interrupted_edit_leaves_nothing(sig: i32, want: i32) {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let bytes = std::fs::read(&a).unwrap();
    let fifo = d.path().join("in.fifo");
    mkfifo(&fifo);
    let out_dir = d.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("b.tar.gz");
    let mut child = Command::new(BIN)
        .args([
            "edit",
            p(&fifo),
            "-o",
            p(&out),
            "--kv-set",
            "runQueue=[1]",
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // pass 1: the whole archive, then EOF
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    // wait for the temp output (the event), bounded so a regression fails, not hangs
    let start = Instant::now();
    loop {
        let n = names(&out_dir);
        if n.iter().any(|n| n.starts_with(".b.tar.gz.agar-tmp-")) {
            break;
        }
        if let Some(s) = child.try_wait().unwrap() {
            panic!("edit ended before its output appeared: {s:?}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no temp output: {n:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling our own child
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(want), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("removed 1 temporary output"),
        "{}",
        stderr(&o)
    );
    assert!(
        names(&out_dir).is_empty(),
        "left behind: {:?}",
        names(&out_dir)
    );
}

#[test]
fn sigterm_removes_the_temp_output_and_exits_143() {
    interrupted_edit_leaves_nothing(libc::SIGTERM, 143);
}

#[test]
fn sigint_removes_the_temp_output_and_exits_130() {
    interrupted_edit_leaves_nothing(libc::SIGINT, 130);
}

#[test]
fn closed_stdout_ends_quietly() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    for args in [
        vec!["inspect", "--json", p(&a)],
        vec!["kv", "list", p(&a)],
        vec!["kv", "list", "--json", p(&a)],
    ] {
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // like `| head -0`: the reader is gone
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert!(
            o.status.success() || o.status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {:?} {err}",
            o.status
        );
    }
}

#[test]
fn stale_temp_outputs_of_dead_runs_are_removed() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    // above any pid_max: no such process
    let stale = d.path().join(".b.tar.agar-tmp-4999999-x1Y2z3");
    let foreign = d.path().join(".b.tar.agar-tmp-x1Y2z3");
    let other = d.path().join(".c.tar.agar-tmp-4999999-x1Y2z3");
    for f in [&stale, &foreign, &other] {
        std::fs::write(f, b"old").unwrap();
    }
    let b = d.path().join("b.tar");
    let o = common::edit::run(&["edit", p(&a), "-o", p(&b), "--kv-set", "runQueue=[1]", "-q"]);
    common::edit::ok(&o);
    assert!(!stale.exists(), "the dead run's temp output is still there");
    assert!(
        foreign.exists() && other.exists(),
        "removed what is not provably stale"
    );
}

/// diff packs an export directory to a temporary archive first; a SIGTERM then (B, a
/// FIFO, blocks the run) removes it like every other temp output.
#[test]
fn interrupted_diff_removes_its_packed_export() {
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let fifo = d.path().join("b.fifo");
    mkfifo(&fifo);
    let export = common::fx("tiny/genesis/operational");
    let mut child = Command::new(BIN)
        .args(["diff", p(&export), p(&fifo), "-q"])
        .env("TMPDIR", &tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // the packed archive is complete once its temp dir holds it and B is being opened
    while !names(&tmp).iter().any(|n| {
        let packed = tmp.join(n).join("packed.tar");
        std::fs::metadata(packed).is_ok_and(|m| m.len() > 0)
    }) {
        if let Some(s) = child.try_wait().unwrap() {
            panic!("diff ended before it packed: {s:?}");
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no temp dir");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling our own child
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert!(names(&tmp).is_empty(), "left behind: {:?}", names(&tmp));
}
