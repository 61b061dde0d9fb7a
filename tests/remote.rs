//! Archives over HTTP: a real HTTP/1.1 server on 127.0.0.1 (started by each test,
//! nothing else is ever contacted) that serves Range requests and injects faults: a drop
//! after N bytes, Range ignored after a drop, content changed mid-way, 404, 500, slow
//! responses, a mirror of another file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    /// The first response closes the connection after this many body bytes.
    DropFirstAfter(usize),
    /// Like DropFirstAfter, then every later request is answered 200 (Range ignored).
    DropThenIgnoreRange(usize),
    /// Like DropFirstAfter, then the file changes (other bytes, other ETag).
    DropThenChange(usize),
    /// Every response closes after this many body bytes (a short body, always).
    AlwaysShort(usize),
    /// Like DropFirstAfter, then every later response closes before its body.
    DropThenNothing(usize),
    Status(u16),
    /// 500 for the first request, then normal.
    FailFirst,
    /// Each 64 KiB written is followed by this pause.
    Slow(Duration),
}

struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    ranges: Arc<Mutex<Vec<String>>>,
}

fn serve(content: Vec<u8>, fault: Fault) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/genesis.tar", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let content = Arc::new(content);
    let (h, r) = (hits.clone(), ranges.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let n = h.fetch_add(1, Ordering::SeqCst);
            let (content, r) = (content.clone(), r.clone());
            std::thread::spawn(move || {
                let _ = handle(conn, n, &content, fault, &r);
            });
        }
    });
    Server { url, hits, ranges }
}

fn handle(
    mut conn: TcpStream,
    n: usize,
    content: &[u8],
    fault: Fault,
    ranges: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut rd = BufReader::new(conn.try_clone()?);
    let mut range = None;
    let mut line = String::new();
    rd.read_line(&mut line)?;
    if !line.starts_with("GET /genesis.tar ") {
        return conn.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    loop {
        line.clear();
        rd.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    ranges
        .lock()
        .unwrap()
        .push(range.clone().unwrap_or_default());
    let status = match fault {
        Fault::Status(s) => Some(s),
        Fault::FailFirst if n == 0 => Some(500),
        _ => None,
    };
    if let Some(s) = status {
        return write!(
            conn,
            "HTTP/1.1 {s} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    // a changed file: every byte differs, and so does the ETag
    let changed: Vec<u8>;
    let (body, etag) = match fault {
        Fault::DropThenChange(_) if n > 0 => {
            changed = content.iter().map(|b| b ^ 0xff).collect();
            (&changed[..], "\"v2\"")
        }
        _ => (content, "\"v1\""),
    };
    let ignore_range = matches!(fault, Fault::DropThenIgnoreRange(_)) && n > 0;
    let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) if !ignore_range => {
            let (a, b) = r.split_once('-').unwrap();
            let a: usize = a.parse().unwrap();
            let b: usize = if b.is_empty() {
                body.len() - 1
            } else {
                b.parse().unwrap()
            };
            (a, b.min(body.len() - 1))
        }
        _ => (0, body.len() - 1),
    };
    let part = range.is_some() && !ignore_range;
    let mut head = format!(
        "HTTP/1.1 {}\r\nContent-Length: {}\r\nETag: {etag}\r\nLast-Modified: Mon, 30 Nov 2026 00:00:00 GMT\r\nAccept-Ranges: bytes\r\nConnection: close\r\n",
        if part { "206 Partial Content" } else { "200 OK" },
        end + 1 - start
    );
    if part {
        head.push_str(&format!(
            "Content-Range: bytes {start}-{end}/{}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    let mut data = &body[start..=end];
    let cut = match fault {
        Fault::DropFirstAfter(k) | Fault::DropThenIgnoreRange(k) | Fault::DropThenChange(k)
            if n == 0 =>
        {
            Some(k)
        }
        Fault::AlwaysShort(k) => Some(k),
        Fault::DropThenNothing(k) => Some(if n == 0 { k } else { 0 }),
        _ => None,
    };
    if let Some(k) = cut {
        data = &data[..k.min(data.len())];
    }
    for c in data.chunks(64 << 10) {
        conn.write_all(c)?;
        if let Fault::Slow(d) = fault {
            std::thread::sleep(d);
        }
    }
    conn.flush()?;
    conn.shutdown(std::net::Shutdown::Both)
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    archive: std::path::PathBuf,
    bytes: Vec<u8>,
    digest: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let archive = dir.join("genesis.tar.gz");
    let digest = pack_dir(&repo("examples/tiny-export"), &archive);
    let bytes = std::fs::read(&archive).unwrap();
    Fixture {
        _tmp: tmp,
        dir,
        archive,
        bytes,
        digest,
    }
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn verify_inspect_kv_explode_from_a_url() {
    let f = fixture();
    let s = serve(f.bytes.clone(), Fault::None);
    let out = ok(&["verify", &s.url, "--expect", &f.digest, "-q"]);
    assert!(out.contains(&f.digest), "{out}");
    let local = ok(&["inspect", p(&f.archive), "--json", "-q"]);
    let remote: serde_json::Value =
        serde_json::from_str(&ok(&["inspect", &s.url, "--json", "-q"])).unwrap();
    let local: serde_json::Value = serde_json::from_str(&local).unwrap();
    assert_eq!(remote["chain_id"], local["chain_id"]);
    assert_eq!(remote["export_data_entries"], local["export_data_entries"]);
    let home = f.dir.join("home");
    ok(&[
        "explode",
        &s.url,
        "--home",
        p(&home),
        "--expect",
        &f.digest,
        "--db",
        "-q",
    ]);
    assert!(home.join("config/genesis.json").is_file());
    assert!(home.join("data/agoric/swingstore.sqlite").is_file());
    // nothing else was written beside the home: no second copy of the archive
    let names: Vec<_> = std::fs::read_dir(&f.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_dropped_connection_resumes_from_the_last_byte() {
    let f = fixture();
    let cut = f.bytes.len() / 3;
    let s = serve(f.bytes.clone(), Fault::DropFirstAfter(cut));
    let out = ok(&["verify", &s.url, "--expect", &f.digest, "-q"]);
    assert!(out.contains(&f.digest), "{out}");
    let ranges = s.ranges.lock().unwrap().clone();
    assert_eq!(ranges[0], "bytes=0-");
    assert_eq!(ranges[1], format!("bytes={cut}-"), "{ranges:?}");
    // fetch writes the same bytes, only after they verified
    let dest = f.dir.join("copy.tar.gz");
    let s = serve(f.bytes.clone(), Fault::DropFirstAfter(cut));
    ok(&["fetch", &s.url, "-o", p(&dest), "--expect", &f.digest, "-q"]);
    assert_eq!(std::fs::read(&dest).unwrap(), f.bytes);
}

#[test]
fn a_server_that_ignores_range_after_a_drop_is_an_error() {
    let f = fixture();
    let s = serve(
        f.bytes.clone(),
        Fault::DropThenIgnoreRange(f.bytes.len() / 2),
    );
    let o = agar(&["verify", &s.url, "-q"]);
    assert_ne!(code(&o), 0);
    let all = stdout(&o) + &stderr(&o);
    assert!(all.contains("ignores Range"), "{all}");
}

#[test]
fn a_file_that_changes_mid_transfer_is_an_error_never_a_success() {
    let f = fixture();
    let s = serve(f.bytes.clone(), Fault::DropThenChange(f.bytes.len() / 2));
    let dest = f.dir.join("copy.tar.gz");
    let o = agar(&["fetch", &s.url, "-o", p(&dest), "-q"]);
    assert_ne!(code(&o), 0);
    let all = stdout(&o) + &stderr(&o);
    assert!(all.contains("changed"), "{all}");
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(&f.dir).unwrap().count(),
        1,
        "a temp file was left"
    );
}

#[test]
fn a_body_that_is_always_short_gives_up_with_a_reason() {
    let f = fixture();
    let s = serve(f.bytes.clone(), Fault::AlwaysShort(0));
    let o = agar(&["verify", &s.url, "--retries", "2", "-q"]);
    assert_ne!(code(&o), 0);
    let all = stdout(&o) + &stderr(&o);
    assert!(all.contains("resumes failed"), "{all}");
    assert!(s.hits.load(Ordering::SeqCst) >= 3);
}

#[test]
fn http_errors() {
    let f = fixture();
    let s = serve(f.bytes.clone(), Fault::Status(404));
    let o = agar(&["verify", &s.url, "-q"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("404") || stdout(&o).contains("404"));
    // a 500 is retried…
    let s = serve(f.bytes.clone(), Fault::FailFirst);
    ok(&["verify", &s.url, "--expect", &f.digest, "-q"]);
    // …but not forever
    let s = serve(f.bytes.clone(), Fault::Status(500));
    let o = agar(&["digest", &s.url, "--retries", "1", "-q"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("gave up after 1 retries"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[test]
fn fetch_keeps_nothing_when_the_digest_differs() {
    let f = fixture();
    let s = serve(f.bytes.clone(), Fault::None);
    let dest = f.dir.join("copy.tar.gz");
    let o = agar(&[
        "fetch",
        &s.url,
        "-o",
        p(&dest),
        "--expect",
        &"0".repeat(64),
        "-q",
    ]);
    assert_eq!(code(&o), 4, "a digest mismatch is refused");
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(&f.dir).unwrap().count(),
        1,
        "a temp file was left"
    );
    // and an existing output is kept unless --force
    std::fs::write(&dest, b"mine").unwrap();
    let o = agar(&["fetch", &s.url, "-o", p(&dest), "-q"]);
    assert_eq!(code(&o), 4);
    assert_eq!(std::fs::read(&dest).unwrap(), b"mine");
}

fn read_all(url: &str, opts: &agar::remote::RemoteOptions) -> Vec<u8> {
    let mut r = agar::remote::open_url(url, opts).unwrap();
    let mut v = Vec::new();
    r.reader.read_to_end(&mut v).unwrap();
    assert_eq!(v.len() as u64, r.len);
    v
}

fn small_chunks(connections: usize, mirrors: Vec<String>) -> agar::remote::RemoteOptions {
    agar::remote::RemoteOptions {
        connections,
        mirrors,
        chunk: 512,
        retries: 3,
        backoff: Duration::from_millis(10),
        ..Default::default()
    }
}

#[test]
fn parallel_ranges_and_mirrors_deliver_the_same_bytes() {
    let f = fixture();
    let s = serve(f.bytes.clone(), Fault::None);
    assert_eq!(read_all(&s.url, &small_chunks(4, vec![])), f.bytes);
    let chunks = f.bytes.len().div_ceil(512);
    assert!(chunks > 8, "{chunks}");
    assert!(
        s.hits.load(Ordering::SeqCst) > chunks,
        "one request per chunk"
    );
    // a mirror takes its share
    let a = serve(f.bytes.clone(), Fault::None);
    let b = serve(f.bytes.clone(), Fault::Slow(Duration::from_millis(1)));
    assert_eq!(
        read_all(&a.url, &small_chunks(2, vec![b.url.clone()])),
        f.bytes
    );
    assert!(a.hits.load(Ordering::SeqCst) > 2 && b.hits.load(Ordering::SeqCst) > 2);
    // a dropped range is resumed inside its chunk
    let d = serve(f.bytes.clone(), Fault::DropFirstAfter(100));
    assert_eq!(read_all(&d.url, &small_chunks(3, vec![])), f.bytes);
    // a mirror of another file is refused before anything is read
    let mut other = f.bytes.clone();
    other.push(0);
    let m = serve(other, Fault::None);
    let e = agar::remote::open_url(&s.url, &small_chunks(2, vec![m.url.clone()]))
        .err()
        .expect("a different mirror is refused")
        .to_string();
    assert!(e.contains("is not the same file"), "{e}");
    // and through the command line, a whole verify with --connections and --mirror
    let a = serve(f.bytes.clone(), Fault::None);
    let b = serve(f.bytes.clone(), Fault::None);
    let out = ok(&[
        "verify",
        &a.url,
        "--connections",
        "4",
        "--mirror",
        &b.url,
        "--expect",
        &f.digest,
        "-q",
    ]);
    assert!(out.contains(&f.digest));
}

#[test]
fn flags_are_range_checked() {
    let o = agar(&["verify", "http://127.0.0.1:9/x", "--connections", "0"]);
    assert_eq!(code(&o), 2);
    let o = agar(&["verify", "http://127.0.0.1:9/x", "--connections", "17"]);
    assert_eq!(code(&o), 2);
    assert!(Path::new(bin()).exists());
}

/// A transfer that fails for good is an I/O error of the run (exit 2), never a problem
/// of the archive (exit 1), wherever it stops: in the body, or in the last byte, after
/// the end-of-archive marker.
#[test]
fn a_transfer_that_fails_for_good_is_exit_2_wherever_it_stops() {
    let f = fixture();
    for at in [f.bytes.len() / 2, f.bytes.len() - 1] {
        let s = serve(f.bytes.clone(), Fault::DropThenNothing(at));
        let o = agar(&["verify", &s.url, "--retries", "1", "--json", "-q"]);
        assert_eq!(code(&o), 2, "stopped at {at}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "no report: {}", stdout(&o));
    }
}
