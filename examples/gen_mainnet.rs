//! Write a realistic `agd export` directory at mainnet scale (genesis.json + swing-store/ in
//! agd's Go layout), every hash consistent, deterministic for a seed:
//!
//! ```sh
//! cargo run --release --example gen_mainnet -- --out DIR \
//!     --artifact-bytes 10G --entries 1.2M --genesis-bytes 250M [--seed 1] \
//!     [--mode operational|replay] [--sdk 0.50|0.47] [--vats N]
//! ```
//!
//! Sizes take K/M/G suffixes (binary for bytes, decimal for --entries). See
//! `examples/mainnet/gen.rs` for what is generated and BENCHMARKS.md ("Mainnet scale") for how
//! the benchmarks use it.

#[path = "mainnet/gen.rs"]
mod gen;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Generate a realistic agd export (genesis.json + swing-store/) of any size")]
struct Args {
    /// Output directory (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Total artifact bytes (snapshots, transcript spans, bundles), e.g. 10G.
    #[arg(long, default_value = "64M")]
    artifact_bytes: String,
    /// Export-data entries (exact), e.g. 1.2M.
    #[arg(long, default_value = "20000")]
    entries: String,
    /// genesis.json size to aim for, e.g. 250M.
    #[arg(long, default_value = "4M")]
    genesis_bytes: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// operational (what agd export writes) or replay (all spans of the current incarnations).
    #[arg(long, default_value = "operational")]
    mode: String,
    /// genesis.json shape: 0.50 (SDK 0.50+, agoric upgrade-22 and later) or 0.47.
    #[arg(long, default_value = "0.50")]
    sdk: String,
    /// Number of vats (default: one per 40 MiB of artifacts, 4 to 400).
    #[arg(long, default_value_t = 0)]
    vats: u32,
    /// Export height (genesis initial_height is this + 1).
    #[arg(long, default_value_t = 18_940_812)]
    height: u64,
    #[arg(long, default_value = "agoric-3")]
    chain_id: String,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

fn run(a: Args) -> Result<(), String> {
    let mut p = gen::Params::new(a.out);
    p.artifact_bytes = gen::parse_size(&a.artifact_bytes, true)?;
    p.entries = gen::parse_size(&a.entries, false)?;
    p.genesis_bytes = gen::parse_size(&a.genesis_bytes, true)?;
    p.seed = a.seed;
    p.mode = match a.mode.as_str() {
        "operational" => gen::Mode::Operational,
        "replay" => gen::Mode::Replay,
        m => return Err(format!("--mode {m:?}: use operational or replay")),
    };
    p.sdk = match a.sdk.as_str() {
        "0.50" | "0.53" | "050" => gen::Sdk::V050,
        "0.47" | "047" => gen::Sdk::V047,
        v => return Err(format!("--sdk {v:?}: use 0.50 or 0.47")),
    };
    p.vats = a.vats;
    p.height = a.height;
    p.chain_id = a.chain_id;
    p.progress = !a.quiet;
    let s = gen::generate(&p).map_err(|e| format!("{}: {e}", p.out.display()))?;
    println!(
        "{}: {} artifacts, {} artifact bytes, {} vats; {} export-data entries ({} bytes, {}); genesis.json {} bytes ({} accounts, {} vstorage entries)",
        p.out.display(),
        s.artifacts,
        s.artifact_bytes,
        s.vats,
        s.entries,
        s.export_data_bytes,
        s.export_data_hash,
        s.genesis_bytes,
        s.accounts,
        s.vstorage_entries
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_mainnet: {e}");
            ExitCode::from(2)
        }
    }
}
