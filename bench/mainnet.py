#!/usr/bin/env python3
"""Mainnet-scale benchmarks (issue 10): every agar command on generated agd exports of two
sizes, peak RSS and wall time. Run through bench/run.sh:

    bench/run.sh mainnet [--data DIR] [--sizes small,large] [--agar PATH] [--runs N]
                         [--ops pack,verify,inspect,digest,kv,edit,diff,explode,dbpack]
                         [--baselines jq,oracle] [--work DIR] [--keep]

DATA/<size>/export/ holds the generated export (genesis.json + swing-store/). When it is
missing it is generated first with `cargo run --release --example gen_mainnet` (or
$GEN_MAINNET, a built gen_mainnet binary) at the size's parameters:

  tiny:  64M artifacts,    20 k entries,   4M genesis   (smoke test of this script)
  small: 1G artifacts,   120 k entries,  60M genesis
  large: 10G artifacts, 1.2 M entries, 250M genesis   (the issue's mainnet shape)

Each size is generated once, deterministically (seed 1, operational, SDK 0.50 genesis),
and kept: reruns (e.g. "before" and "after" columns with two agar builds) reuse it.
Operations, each timed with GNU time (peak RSS = %M, per process):

  pack     agar pack DATA/<size>/export -o W/a.tar.gz
  verify   agar verify W/a.tar.gz
  inspect  agar inspect W/a.tar.gz
  digest   agar digest W/a.tar.gz
  kv       agar kv get W/a.tar.gz kernel.snapshotInterval
  edit     agar edit W/a.tar.gz -o W/e.tar.gz --kv-add agarBench.edited=1   (one kv key)
  diff     agar diff W/a.tar.gz W/e.tar.gz     (exit 1, "different", is expected)
  explode  agar explode W/a.tar.gz --home W/home --db   (the swing-store export and the DB)
  dbpack   agar pack --swing-store W/home/data/agoric --genesis <export>/genesis.json
                -o W/d.tar --allow-height-mismatch        (the DB explode built)
  http     verify and explode (no --db) of http://127.0.0.1:PORT/a.tar.gz, served by
           bench/http_range_server.py, beside the same commands on the local file, run
           alternately; the note gives the ratio URL / file (issue 16: <= 1.1)

Baselines (--baselines, default jq,oracle when present):
  jq       jq -S -c . genesis.json > /dev/null       (canonicalising the genesis alone)
  oracle   oracle import <export>/swing-store DB --artifact-mode operational
                --block-height H                     (the official importer)

agar is $AGAR or --agar, else built with `cargo build --release`. W (--work) defaults
to a temporary directory inside DATA; it needs room for two archives, an exploded home
(export + DB) and one uncompressed archive: about 4x the export at the large size.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import REPO, Stats, log, rm, run  # noqa: E402

SIZES = {
    "tiny": ("64M", "20000", "4M"),
    "small": ("1G", "120000", "60M"),
    "large": ("10G", "1200000", "250M"),
}
OPS = ["pack", "verify", "inspect", "digest", "kv", "edit", "diff", "explode", "dbpack", "http"]
RSS_LIMIT_MIB = 150


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def generate(size, out):
    art, ent, gen = SIZES[size]
    tmp = out + ".partial"
    rm(tmp)
    binary = os.environ.get("GEN_MAINNET")
    cmd = [binary] if binary else ["cargo", "run", "--release", "--quiet", "--example", "gen_mainnet", "--"]
    cmd += ["--out", tmp, "--artifact-bytes", art, "--entries", ent, "--genesis-bytes", gen, "--seed", "1"]
    log(f"[{size}] generating: {' '.join(cmd)}")
    subprocess.run(cmd, cwd=REPO, check=True)
    os.rename(tmp, out)


def http_rows(size, agar, arc, work, runs, rows):
    """verify and explode of the archive over HTTP on loopback against the local file."""
    import socket
    import time

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    server = subprocess.Popen([sys.executable, os.path.join(REPO, "bench", "http_range_server.py"),
                               os.path.dirname(arc), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/{os.path.basename(arc)}"
        home = os.path.join(work, "hhome")
        for op, mk in (("verify", lambda src: [agar, "verify", src, "-q"]),
                       ("explode", lambda src: [agar, "explode", src, "--home", home, "-q"])):
            by_file, by_url = Stats(), Stats()
            for i in range(runs):
                for st, src in ((by_file, arc), (by_url, url)):
                    rm(home)
                    log(f"[{size}] {op} {'URL' if src == url else 'file'} run {i + 1}/{runs} (load {loadavg()})")
                    st.add(*run(mk(src))[:3])
            rm(home)
            ratio = by_url.wall() / by_file.wall()
            rows.append((size, f"{op} (local file)", by_file, loadavg(), ""))
            rows.append((size, f"{op} (http://127.0.0.1)", by_url, loadavg(),
                         f"; URL / file = {ratio:.2f} (target <= 1.1)"))
    finally:
        server.terminate()
        server.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/mainnet-data")
    ap.add_argument("--sizes", default="small,large")
    ap.add_argument("--agar", default=os.environ.get("AGAR"))
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--baselines", default=None, help="jq,oracle (default: those available)")
    ap.add_argument("--work", default=None)
    ap.add_argument("--keep", action="store_true", help="keep W (archives, home)")
    a = ap.parse_args()

    data = os.path.abspath(a.data)
    os.makedirs(data, exist_ok=True)
    sizes = [s for s in a.sizes.split(",") if s]
    for s in sizes:
        if s not in SIZES:
            sys.exit(f"unknown size {s!r} ({', '.join(SIZES)})")
    ops = [o for o in a.ops.split(",") if o]
    for o in ops:
        if o not in OPS:
            sys.exit(f"unknown op {o!r} ({', '.join(OPS)})")
    # ../shared next to a checkout (/work/main), or two levels up from a worktree (/work/wt/NAME).
    oracle = os.environ.get("ORACLE") or next(
        (c for c in (os.path.join(REPO, "..", "shared", "oracle", "run.sh"),
                     os.path.join(REPO, "..", "..", "shared", "oracle", "run.sh")) if os.access(c, os.X_OK)),
        os.path.join(REPO, "..", "shared", "oracle", "run.sh"))
    oracle = os.path.abspath(oracle)
    if a.baselines is None:
        bl = []
        if shutil.which("jq"):
            bl.append("jq")
        if os.access(oracle, os.X_OK):
            bl.append("oracle")
    else:
        bl = [b for b in a.baselines.split(",") if b]

    agar = a.agar
    if not agar:
        log("building agar (cargo build --release) ...")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
        agar = os.path.join(REPO, "target", "release", "agar")
    agar = os.path.abspath(agar)
    version = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()

    rows = []  # (size, op, Stats, load before, note)

    def timed(size, op, cmd, ok_codes=(0,), note=""):
        st = Stats()
        for i in range(a.runs):
            log(f"[{size}] {op} run {i + 1}/{a.runs} (load {loadavg()})")
            ld = loadavg()
            st.add(*run_ok(cmd, ok_codes)[:3])
        rows.append((size, op, st, ld, note))
        log(f"[{size}] {op}: wall {st.wall():.1f} s, CPU {st.cpu_med():.1f} s, peak RSS {st.peak_mib():.0f} MiB")

    def run_ok(cmd, ok_codes):
        if ok_codes == (0,):
            return run(cmd)
        # diff exits 1 for "different": wrap it so that run() sees 0 for an expected code.
        codes = " ".join(str(c) for c in ok_codes)
        sh = 'set +e; "$@"; c=$?; for k in ' + codes + '; do [ $c = $k ] && exit 0; done; exit $c'
        return run(["/bin/bash", "-c", sh, "agar"] + cmd)

    for size in sizes:
        export = os.path.join(data, size, "export")
        if not os.path.isdir(export):
            os.makedirs(os.path.dirname(export), exist_ok=True)
            generate(size, export)
        genesis = os.path.join(export, "genesis.json")
        with open(genesis, "rb") as f:
            head = f.read(4096).decode(errors="replace")
        # initial_height without parsing the whole (large) file: it sits in the header.
        h = head.split('"initial_height":', 1)[1].lstrip().lstrip('"')
        initial_height = int("".join(ch for ch in h[:24] if ch.isdigit() or ch == " ").split()[0])
        work = a.work or tempfile.mkdtemp(prefix=f"work-{size}-", dir=data)
        os.makedirs(work, exist_ok=True)
        log(f"[{size}] work dir {work}")
        arc = os.path.join(work, "a.tar.gz")
        edited = os.path.join(work, "e.tar.gz")
        home = os.path.join(work, "home")
        dbout = os.path.join(work, "d.tar")
        try:
            need = set(ops) - {"pack"}
            if "pack" in ops:
                timed(size, "pack", [agar, "pack", export, "-o", arc, "--force", "-q"])
            elif need and not os.path.exists(arc):
                run([agar, "pack", export, "-o", arc, "--force", "-q"])
            if "verify" in ops:
                timed(size, "verify", [agar, "verify", arc, "-q"])
            if "inspect" in ops:
                timed(size, "inspect", [agar, "inspect", arc])
            if "digest" in ops:
                timed(size, "digest", [agar, "digest", arc])
            if "kv" in ops:
                timed(size, "kv get", [agar, "kv", "get", arc, "kernel.snapshotInterval"])
            if "edit" in ops or "diff" in ops:
                cmd = [agar, "edit", arc, "-o", edited, "--force", "-q", "--kv-add", "agarBench.edited=1"]
                if "edit" in ops:
                    timed(size, "edit (one kv key)", cmd)
                else:
                    run(cmd)
            if "diff" in ops:
                timed(size, "diff (archive vs edited)", [agar, "diff", arc, edited, "-q"], ok_codes=(0, 1))
            rm(edited)
            if "explode" in ops or "dbpack" in ops:
                for i in range(a.runs if "explode" in ops else 1):
                    rm(home)
                    cmd = [agar, "explode", arc, "--home", home, "--db", "-q"]
                    if "explode" in ops:
                        if i == 0:
                            rows.append((size, "explode", Stats(), loadavg(), ""))
                        log(f"[{size}] explode run {i + 1}/{a.runs} (load {loadavg()})")
                        rows[-1][2].add(*run(cmd)[:3])
                    else:
                        run(cmd)
            if "http" in ops:
                http_rows(size, agar, arc, work, a.runs, rows)
            if "dbpack" in ops:
                timed(size, "pack --swing-store", [agar, "pack", "--swing-store", os.path.join(home, "data", "agoric"),
                                                   "--genesis", genesis, "--allow-height-mismatch",
                                                   "-o", dbout, "--force", "-q"])
                rm(dbout)
            rm(home)
            if "jq" in bl:
                timed(size, "baseline: jq -S -c . genesis.json", ["/bin/bash", "-c", f"jq -S -c . '{genesis}' > /dev/null"])
            if "oracle" in bl:
                db = os.path.join(work, "odb")
                st = Stats()
                for i in range(a.runs):
                    rm(db)
                    ld = loadavg()
                    log(f"[{size}] oracle import run {i + 1}/{a.runs} (load {ld})")
                    st.add(*run([oracle, "oracle", "import", os.path.join(export, "swing-store"), db,
                                 "--artifact-mode", "operational", "--block-height", str(initial_height - 1)])[:3])
                    rm(db)
                rows.append((size, "baseline: oracle import (swing-store only)", st, ld, ""))
        finally:
            if not a.keep:
                rm(arc)
                rm(edited)
                rm(home)
                rm(dbout)
                if not a.work:
                    shutil.rmtree(work, ignore_errors=True)

    print(f"\nagar {agar} (repo HEAD {version}); data {data}; {a.runs} run(s), medians; "
          f"{os.cpu_count()} CPUs; load average at the end {loadavg()}.\n")
    for size in sizes:
        summ = os.path.join(data, size, "export", "genesis.json")
        gb = os.path.getsize(summ)
        ss = os.path.join(data, size, "export", "swing-store")
        total = sum(os.path.getsize(os.path.join(ss, f)) for f in os.listdir(ss))
        n = sum(1 for _ in open(os.path.join(ss, "export-data.jsonl"), "rb"))
        print(f"- {size}: genesis.json {gb / 1e6:.0f} MB, swing-store {total / 1e9:.2f} GB, {n} export-data entries")
    print()
    print("| size | operation | wall s | CPU s | peak RSS MiB | load at start | RSS ≤ 150 MiB |")
    print("|---|---|---:|---:|---:|---:|---|")
    for size, op, st, ld, note in rows:
        met = "-" if op.startswith("baseline") else ("yes" if st.peak_mib() <= RSS_LIMIT_MIB else "**no**")
        print(f"| {size} | {op} | {st.wall():.1f} | {st.cpu_med():.1f} | {st.peak_mib():.0f} | {ld} | {met}{note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
