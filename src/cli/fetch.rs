//! `agar fetch URL -o FILE`, and the remote-transfer flags every reading command takes.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use agar::error::exit;
use agar::remote::{self, RemoteOptions};

use super::{print_json, Common};

/// How archives given as http(s) URLs are fetched (any reading command).
#[derive(Args, Clone, Default)]
pub struct RemoteArgs {
    /// For an archive given as a URL: parallel range requests (1-16; default 1, one
    /// streaming request resumed on drops).
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=remote::MAX_CONNECTIONS as u64))]
    pub connections: Option<u64>,
    /// Another URL serving the same archive (repeatable): ranges are spread over all.
    #[arg(long = "mirror", global = true, value_name = "URL")]
    pub mirrors: Vec<String>,
    /// For an archive given as a URL: attempts after a failed request or a dropped
    /// connection, with doubling backoff (default 8).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retries: Option<u32>,
}

impl RemoteArgs {
    /// Make these the process-wide remote options.
    pub fn configure(&self) {
        remote::configure(RemoteOptions {
            connections: self.connections.unwrap_or(1) as usize,
            mirrors: self.mirrors.clone(),
            retries: self.retries.unwrap_or(RemoteOptions::default().retries),
            ..RemoteOptions::default()
        });
    }
}

#[derive(Args)]
pub struct FetchArgs {
    /// The archive's http:// or https:// URL.
    pub url: String,
    /// Where to write it (written to a temp file beside it and renamed only once the
    /// whole archive verified).
    #[arg(long, short)]
    pub output: PathBuf,
    /// The agreed archive digest (64 hex, `sha256:` prefix optional): refuse, keeping nothing, if it differs.
    #[arg(long, value_name = "DIGEST", value_parser = super::parse_digest)]
    pub expect: Option<String>,
    /// Replace OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub common: Common,
}

/// Copies everything read into the download's temp file.
struct Tee<R> {
    inner: R,
    out: std::io::BufWriter<std::fs::File>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

pub fn cmd_fetch(args: FetchArgs) -> Result<i32> {
    if !remote::is_url(&args.url) {
        return Err(agar::Error::invalid(
            "URL",
            format!("{:?} is not an http:// or https:// URL", args.url),
        )
        .into());
    }
    if !args.force && args.output.exists() {
        return Err(agar::Error::Refused(format!(
            "{} exists; use --force to replace it",
            args.output.display()
        ))
        .into());
    }
    let tmp = agar::archive::writer::temp_next_to(&args.output)?;
    let file = tmp.reopen().map_err(|e| agar::Error::io(tmp.path(), e))?;
    let url = args.url.clone();
    let rep = agar::verify::verify_input(
        &args.url,
        move || {
            let mut i = remote::open(std::path::Path::new(&url))?;
            i.reader = Box::new(Tee {
                inner: i.reader,
                out: std::io::BufWriter::with_capacity(1 << 20, file),
            });
            Ok(i)
        },
        args.expect.as_deref(),
        !args.common.quiet,
    )?;
    if !rep.ok {
        for p in &rep.problems {
            println!("FAIL {p}");
        }
        println!(
            "{}: {} problem(s); nothing kept",
            rep.archive,
            rep.problems.len()
        );
        return Ok(super::attest::problems_exit(&rep));
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| agar::Error::io(tmp.path(), e))?;
    tmp.persist(&args.output)
        .map_err(|e| agar::Error::io(&args.output, e.error))?;
    if args.common.json {
        print_json(&serde_json::json!({
            "archive": rep.archive,
            "output": args.output.display().to_string(),
            "digest": rep.digest,
            "ok": true,
        }))?;
    } else {
        println!("OK {} -> {}", rep.archive, args.output.display());
        println!("archive digest: {}", rep.digest.unwrap_or_default());
    }
    Ok(exit::OK)
}
