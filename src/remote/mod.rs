//! Archives straight from a mirror: every reading command takes an `http://` or
//! `https://` URL where it takes an archive path, and reads it as a stream through the
//! same closed-world reader as a local file — no second copy on disk.
//!
//! The transfer is resilient but never trusting:
//! * a dropped connection resumes with a `Range` request from the last byte received
//!   (bounded retries with exponential backoff; retries reset once bytes flow again);
//! * every resumed or parallel request carries the first response's validators
//!   (`If-Range` with the ETag or Last-Modified) and must come back `206` with the exact
//!   `Content-Range` asked for and the same total length and validators: a server that
//!   changed the file, ignores `Range` after a drop, or keeps returning a short body is
//!   an error naming what differed, never a wrong success;
//! * `--connections N` fetches fixed-size ranges ahead in parallel into a bounded window
//!   (at most `2 × N` chunks of [`CHUNK`] bytes in memory), `--mirror URL` spreads those
//!   ranges over mirrors of the same file (same length and, when they send one, the
//!   same ETag), failing over to another mirror when one errs;
//! * proxies come from the usual `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY`
//!   variables (ureq's support for them).
//!
//! Whatever the transfer does, the archive reader checks every byte it delivers (member
//! digests, the manifest, `--expect`), so a transfer bug cannot produce a wrong success.
//! HTTP is done by `ureq` with rustls (ring): a well-kept blocking client with no OpenSSL
//! build dependency.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, Result};

/// Bytes fetched per range request in parallel mode.
pub const CHUNK: u64 = 4 << 20;
/// Most parallel connections (`--connections`): 16 × 2 × 4 MiB = 128 MiB of window.
pub const MAX_CONNECTIONS: usize = 16;

/// How remote archives are fetched (set once by the CLI, read by every reader).
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// Parallel range requests (1: one streaming request, resumed on drops).
    pub connections: usize,
    /// Other URLs serving the same file.
    pub mirrors: Vec<String>,
    /// Attempts per request after a failure, with backoff (doubling, capped).
    pub retries: u32,
    /// First backoff delay.
    pub backoff: Duration,
    /// Connect and read timeout (a stalled connection counts as a drop).
    pub timeout: Duration,
    /// Bytes per range request in parallel mode ([`CHUNK`]).
    pub chunk: u64,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            connections: 1,
            mirrors: Vec::new(),
            retries: 8,
            backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(60),
            chunk: CHUNK,
        }
    }
}

static OPTIONS: OnceLock<RemoteOptions> = OnceLock::new();

/// Set the process-wide remote options (the CLI does this once, from its flags).
pub fn configure(opts: RemoteOptions) {
    let _ = OPTIONS.set(opts);
}

fn options() -> RemoteOptions {
    OPTIONS.get().cloned().unwrap_or_default()
}

/// `http://…` or `https://…` (case-insensitive scheme).
pub fn is_url(s: &str) -> bool {
    let l = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

/// An archive input: a local file or a remote stream.
pub struct Input {
    pub reader: Box<dyn Read + Send>,
    /// Total bytes, when known (file size, Content-Length).
    pub len: Option<u64>,
    /// True for a regular file (announced sizes can be checked against `len` up front).
    pub regular_file: bool,
}

/// Open an archive path or URL for reading.
pub fn open(path: &Path) -> Result<Input> {
    let s = path.to_string_lossy();
    if is_url(&s) {
        let r = open_url(&s, &options())?;
        let len = r.len;
        return Ok(Input {
            reader: r.reader,
            len: Some(len),
            regular_file: true,
        });
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let md = f.metadata().map_err(|e| Error::io(path, e))?;
    Ok(Input {
        len: Some(md.len()),
        regular_file: md.is_file(),
        reader: Box::new(f),
    })
}

/// What the first response said about the file: requests after it must agree.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Validators {
    len: u64,
    etag: Option<String>,
    last_modified: Option<String>,
    ranges: bool,
}

fn agent(opts: &RemoteOptions) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(opts.timeout))
        .timeout_recv_response(Some(opts.timeout))
        .timeout_recv_body(None)
        .proxy(ureq::Proxy::try_from_env())
        .build()
        .into()
}

fn header(r: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `bytes START-END/TOTAL`.
fn content_range(v: &str) -> Option<(u64, u64, u64)> {
    let v = v.trim().strip_prefix("bytes ")?;
    let (range, total) = v.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

/// A transfer error: retryable (the connection or server hiccuped) or final (the
/// file or server is not what it was: going on could mix two files).
enum Fail {
    Retry(String),
    Final(String),
}

/// A transfer that cannot go on: an environment error (exit 2) naming the URL.
fn fail_final(url: &str, msg: impl Into<String>) -> Error {
    Error::io_at(url.to_string(), io::Error::other(msg.into()))
}

/// One GET of `start..` (to `end` inclusive when given), checked against `want`.
fn request(
    agent: &ureq::Agent,
    url: &str,
    start: u64,
    end: Option<u64>,
    want: Option<&Validators>,
) -> std::result::Result<(ureq::Body, Validators), Fail> {
    let mut req = agent.get(url).header("Accept-Encoding", "identity").header(
        "Range",
        match end {
            Some(e) => format!("bytes={start}-{e}"),
            None => format!("bytes={start}-"),
        },
    );
    if let Some(w) = want {
        if let Some(v) = w.etag.as_ref().or(w.last_modified.as_ref()) {
            req = req.header("If-Range", v);
        }
    }
    let resp = req
        .call()
        .map_err(|e| Fail::Retry(format!("request failed: {e}")))?;
    let status = resp.status().as_u16();
    let etag = header(&resp, "etag");
    let last_modified = header(&resp, "last-modified");
    let got = match status {
        206 => {
            let cr = header(&resp, "content-range").unwrap_or_default();
            let Some((a, b, total)) = content_range(&cr) else {
                return Err(Fail::Final(format!(
                    "answered 206 with an unreadable Content-Range {cr:?}"
                )));
            };
            if a != start || end.is_some_and(|e| b != e.min(total.saturating_sub(1))) {
                return Err(Fail::Final(format!(
                    "asked for bytes {start}-{}, got Content-Range {cr:?}",
                    end.map_or(String::new(), |e| e.to_string())
                )));
            }
            Validators {
                len: total,
                etag,
                last_modified,
                ranges: true,
            }
        }
        200 if start == 0 && want.is_none() => Validators {
            len: header(&resp, "content-length")
                .and_then(|l| l.trim().parse().ok())
                .ok_or_else(|| {
                    Fail::Final("sent no Content-Length: the archive size must be known".into())
                })?,
            etag,
            last_modified,
            ranges: false,
        },
        200 => {
            return Err(Fail::Final(
                "answered a range request with the whole file (200): it ignores Range, or the file changed since the transfer began (If-Range)".into(),
            ))
        }
        416 => return Err(Fail::Final("416 Range Not Satisfiable: the file is shorter than it was".into())),
        404 | 410 => return Err(Fail::Final(format!("{status}: no archive at this URL"))),
        400..=499 => return Err(Fail::Final(format!("HTTP {status}"))),
        _ => return Err(Fail::Retry(format!("HTTP {status}"))),
    };
    if let Some(w) = want {
        let what = if got.len != w.len {
            Some(format!("length {} (was {})", got.len, w.len))
        } else if got.etag.is_some() && w.etag.is_some() && got.etag != w.etag {
            Some(format!("ETag {:?} (was {:?})", got.etag, w.etag))
        } else if got.last_modified.is_some()
            && w.last_modified.is_some()
            && got.last_modified != w.last_modified
        {
            Some(format!(
                "Last-Modified {:?} (was {:?})",
                got.last_modified, w.last_modified
            ))
        } else {
            None
        };
        if let Some(what) = what {
            return Err(Fail::Final(format!(
                "the file changed during the transfer: now {what}; download it again"
            )));
        }
    }
    Ok((resp.into_body(), got))
}

/// An opened remote archive.
pub struct Remote {
    pub reader: Box<dyn Read + Send>,
    pub len: u64,
}

/// Open `url` (and the configured mirrors) as one checked byte stream.
pub fn open_url(url: &str, opts: &RemoteOptions) -> Result<Remote> {
    let agent = agent(opts);
    let (body, v) = retry(opts, url, || request(&agent, url, 0, None, None))?;
    let parallel = opts.connections > 1 || !opts.mirrors.is_empty();
    if !parallel || v.len <= opts.chunk {
        let len = v.len;
        return Ok(Remote {
            reader: Box::new(Sequential {
                agent,
                url: url.to_string(),
                opts: opts.clone(),
                v,
                body: Some(body.into_reader()),
                pos: 0,
            }),
            len,
        });
    }
    if !v.ranges {
        return Err(fail_final(
            url,
            "does not answer Range requests: --connections and --mirror need them; retry without",
        ));
    }
    drop(body);
    let mut urls = vec![url.to_string()];
    for m in &opts.mirrors {
        let (b, mv) = retry(opts, m, || request(&agent, m, 0, Some(0), None))?;
        drop(b);
        if mv.len != v.len || (mv.etag.is_some() && v.etag.is_some() && mv.etag != v.etag) {
            return Err(fail_final(
                m,
                format!(
                    "is not the same file as {url}: length {} and ETag {:?}, against {} and {:?}",
                    mv.len, mv.etag, v.len, v.etag
                ),
            ));
        }
        urls.push(m.clone());
    }
    Ok(Remote {
        len: v.len,
        reader: Box::new(Parallel::start(agent, urls, v, opts.clone())),
    })
}

/// Run `f` until it succeeds, a final error, or the retries are spent.
fn retry<T>(
    opts: &RemoteOptions,
    url: &str,
    mut f: impl FnMut() -> std::result::Result<T, Fail>,
) -> Result<T> {
    let mut delay = opts.backoff;
    let mut last = String::new();
    for attempt in 0..=opts.retries {
        if attempt > 0 {
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        match f() {
            Ok(t) => return Ok(t),
            Err(Fail::Final(m)) => return Err(fail_final(url, m)),
            Err(Fail::Retry(m)) => last = m,
        }
    }
    Err(fail_final(
        url,
        format!("{last} (gave up after {} retries)", opts.retries),
    ))
}

/// One streaming request, resumed from the last byte on a drop.
struct Sequential {
    agent: ureq::Agent,
    url: String,
    opts: RemoteOptions,
    v: Validators,
    body: Option<ureq::BodyReader<'static>>,
    pos: u64,
}

fn to_io(e: Error) -> io::Error {
    io::Error::other(e)
}

impl Read for Sequential {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.v.len || buf.is_empty() {
            return Ok(0);
        }
        let mut drops = 0u32;
        loop {
            if let Some(b) = self.body.as_mut() {
                let want = buf.len().min((self.v.len - self.pos) as usize);
                match b.read(&mut buf[..want]) {
                    Ok(n) if n > 0 => {
                        self.pos += n as u64;
                        return Ok(n);
                    }
                    // a body that ends early, or a broken connection: resume
                    Ok(_) | Err(_) => self.body = None,
                }
            }
            if drops >= self.opts.retries {
                return Err(to_io(fail_final(
                    &self.url,
                    format!(
                        "the body ended at byte {} of {} and {} resumes failed",
                        self.pos, self.v.len, drops
                    ),
                )));
            }
            if !self.v.ranges {
                return Err(to_io(fail_final(
                    &self.url,
                    format!(
                        "the connection dropped at byte {} of {} and the server does not answer Range requests, so the transfer cannot resume",
                        self.pos, self.v.len
                    ),
                )));
            }
            drops += 1;
            std::thread::sleep(self.opts.backoff * drops);
            let (agent, url, pos, v) = (&self.agent, &self.url, self.pos, &self.v);
            let (body, _) = retry(&self.opts, url, || request(agent, url, pos, None, Some(v)))
                .map_err(to_io)?;
            self.body = Some(body.into_reader());
        }
    }
}

/// Parallel range fetches into a bounded, ordered window.
struct Parallel {
    rx: mpsc::Receiver<(u64, std::result::Result<Vec<u8>, String>)>,
    pending: BTreeMap<u64, Vec<u8>>,
    window: Arc<(Mutex<u64>, Condvar)>,
    stop: Arc<AtomicBool>,
    next: u64,
    chunks: u64,
    cur: Vec<u8>,
    off: usize,
}

impl Parallel {
    fn start(
        agent: ureq::Agent,
        urls: Vec<String>,
        v: Validators,
        opts: RemoteOptions,
    ) -> Parallel {
        let chunks = v.len.div_ceil(opts.chunk.max(1));
        let conns = opts
            .connections
            .clamp(1, MAX_CONNECTIONS)
            .max(urls.len().min(MAX_CONNECTIONS));
        let ahead = 2 * conns as u64;
        let (tx, rx) = mpsc::channel();
        let window = Arc::new((Mutex::new(0u64), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicU64::new(0));
        for w in 0..conns {
            let (agent, urls, v, opts) = (agent.clone(), urls.clone(), v.clone(), opts.clone());
            let (tx, window, stop, counter) =
                (tx.clone(), window.clone(), stop.clone(), counter.clone());
            std::thread::spawn(move || loop {
                let k = counter.fetch_add(1, Ordering::SeqCst);
                if k >= chunks || stop.load(Ordering::SeqCst) {
                    return;
                }
                {
                    let (m, cv) = &*window;
                    let mut consumed = m.lock().unwrap_or_else(|e| e.into_inner());
                    while k >= *consumed + ahead && !stop.load(Ordering::SeqCst) {
                        consumed = cv.wait(consumed).unwrap_or_else(|e| e.into_inner());
                    }
                }
                let r = fetch_chunk(&agent, &urls, w + k as usize, k, &v, &opts);
                if tx.send((k, r)).is_err() {
                    return;
                }
            });
        }
        Parallel {
            rx,
            pending: BTreeMap::new(),
            window,
            stop,
            next: 0,
            chunks,
            cur: Vec::new(),
            off: 0,
        }
    }
}

impl Drop for Parallel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.window.1.notify_all();
    }
}

/// Fetch chunk `k` whole, resuming inside it and failing over across `urls`.
fn fetch_chunk(
    agent: &ureq::Agent,
    urls: &[String],
    first: usize,
    k: u64,
    v: &Validators,
    opts: &RemoteOptions,
) -> std::result::Result<Vec<u8>, String> {
    let start = k * opts.chunk;
    let end = (start + opts.chunk).min(v.len) - 1;
    let mut buf = Vec::with_capacity((end - start + 1) as usize);
    let mut delay = opts.backoff;
    let mut fails = 0;
    let mut attempt = first;
    loop {
        let url = &urls[attempt % urls.len()];
        let at = start + buf.len() as u64;
        let r = request(agent, url, at, Some(end), Some(v)).and_then(|(body, _)| {
            let mut rd = body.into_reader();
            let mut tmp = vec![0u8; 256 << 10];
            loop {
                match rd.read(&mut tmp) {
                    Ok(0) => break,
                    Ok(n) => {
                        let room = (end - start + 1) as usize - buf.len();
                        buf.extend_from_slice(&tmp[..n.min(room)]);
                    }
                    Err(e) => return Err(Fail::Retry(format!("connection dropped: {e}"))),
                }
            }
            Ok(())
        });
        if buf.len() as u64 == end - start + 1 {
            return Ok(buf);
        }
        match r {
            Err(Fail::Final(m)) => return Err(format!("{url}: {m}")),
            Err(Fail::Retry(m)) if fails >= opts.retries => {
                return Err(format!("{url}: {m} (gave up after {fails} retries)"))
            }
            _ => {}
        }
        fails += 1;
        attempt += 1;
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

impl Read for Parallel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.off >= self.cur.len() {
            if self.next >= self.chunks {
                return Ok(0);
            }
            while !self.pending.contains_key(&self.next) {
                let (k, r) = self
                    .rx
                    .recv()
                    .map_err(|_| io::Error::other("the download threads stopped"))?;
                let data = r.map_err(io::Error::other)?;
                self.pending.insert(k, data);
            }
            self.cur = self.pending.remove(&self.next).unwrap_or_default();
            self.off = 0;
            self.next += 1;
            let (m, cv) = &*self.window;
            *m.lock().unwrap_or_else(|e| e.into_inner()) = self.next;
            cv.notify_all();
        }
        let n = buf.len().min(self.cur.len() - self.off);
        buf[..n].copy_from_slice(&self.cur[self.off..self.off + n]);
        self.off += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_ranges() {
        assert!(is_url("https://example.com/a.tar.gz"));
        assert!(is_url("HTTP://x/y"));
        assert!(!is_url("./https:/x"));
        assert!(!is_url("genesis.tar"));
        assert_eq!(content_range("bytes 0-99/1000"), Some((0, 99, 1000)));
        assert_eq!(content_range("bytes 5-5/6"), Some((5, 5, 6)));
        assert_eq!(content_range("bytes */1000"), None);
        assert_eq!(content_range("items 0-1/2"), None);
    }
}
