#!/usr/bin/env python3
"""agar benchmarks against their baselines (stdlib only). Run through bench/run.sh:

    bench/run.sh FIXTURE_DIR [--runs N] [--modes operational,debug] [--ops pack,verify,...]
                 [--work DIR] [--db-out tar|tar.gz] [--keep]

FIXTURE_DIR has the layout `../shared/oracle/run.sh make-all` writes (e.g. /work/fx/large):
  genesis/<mode>/{genesis.json,swing-store/}   agd export dirs (packed, then verified,
                                               exploded and edited)
  db/swingstore.sqlite                         the DB the exports were made from

Each operation and its baseline run in the same invocation, alternately, N times (default
3). Printed per row: median wall time, peak RSS (per process, from wait4's rusage; for a
shell pipeline the largest of its processes), median CPU (user+sys) and the ratio
agar/baseline. Operations:

  pack     agar pack genesis/<mode> -o out.tar.gz
           vs tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 | gzip -6
  verify   agar verify out.tar.gz               vs gzip -dc out.tar.gz | sha256sum
  explode  agar explode out.tar.gz --home H --db vs oracle import genesis/<mode>/swing-store
                                                   DBDIR --artifact-mode <mode>
                                                   --block-height <initial_height>
  dbpack   agar pack --swing-store DB --genesis genesis/<mode>/genesis.json
                 --artifact-mode <mode> -o out.tar
           vs oracle export DB X --artifact-mode <mode>, then
              agar pack --swing-store-export X --genesis ... -o out.tar  (sum of both)
           (the DB is copied into WORK first; the official exporter gets a fresh copy
           each run, since it opens the DB read-write and may leave -wal/-shm files;
           both archives must have the same digest)
  edit     agar edit out.tar.gz -o e.tar.gz --kv-add K=V  vs  agar pack (same mode)
  backup   agar backup --home H --artifact-mode <mode> -o b.tar  (H/data/agoric holds a copy
           of the DB)  vs  oracle export DB X --artifact-mode <mode> (a fresh copy each run)
  restore  agar restore b.tar --home H2  vs  oracle import X DBDIR --artifact-mode <mode>
           (X: the official export of the same DB; DBDIR new each run; after the runs
           `agar dump` of both DBs must be equal)

Issue 11 (zstd, libdeflate, parallel decompression); sizes are compared too:

  pigz     agar pack -o out.tar.gz              vs tar ... | pigz -6      (wall <= 0.7, size <= 1.02)
  zst      agar pack -o out.tar.zst             vs tar ... | zstd -3 -T0  (wall <= 1.2, size <= 1.05)
  vgz      agar verify out.tar.gz               vs gzip -dc | openssl dgst -sha256 (<= 0.6)
  vzst     agar verify out.tar.zst              vs zstd -dc | openssl dgst -sha256 (<= 1.0)
  xzst     agar explode out.tar.zst --home H    vs oracle import (as explode)      (<= 0.35)
  stages   single-core throughput of tar framing, hashing, the compressors and
           decompressors (examples/stages.rs on the first 256 MiB of the .tar)

The oracle is ../shared/oracle/run.sh relative to the repo root, or $ORACLE. Without it
(or without GNU tar) the affected baselines are skipped with a message. agar is built
first with `cargo build --release` (or taken from $AGAR). WORK defaults to a temp dir
next to FIXTURE_DIR (needs room for a few archives, an export and a DB per mode).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = {  # ratio agar/baseline (wall) to meet
    "pack": 1.0,
    "verify": 1.2,
    "explode": 0.5,
    "dbpack": 0.5,
    "edit": None,  # "little more than a copy": reported, no fixed bound
    "pigz": 0.7,
    "zst": 1.2,
    "vgz": 0.6,
    "vzst": 1.0,
    "xzst": 0.35,
    "backup": 0.5,
    "restore": 0.5,
}
SIZE_TARGETS = {"pigz": 1.02, "zst": 1.05}
RSS_LIMIT_MIB = 150


def log(msg):
    print(msg, file=sys.stderr, flush=True)


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run(cmd, shell=False, cwd=None, stdout=subprocess.DEVNULL):
    """Run one process; return (wall s, peak RSS KiB, cpu s, stdout text or None).

    Peak RSS and CPU come from GNU time when it is installed: a child forked by this
    Python process inherits Python's memory high-water mark across exec (the kernel keeps
    the larger of the two), so wait4's ru_maxrss could not go below ~15 MiB. Without GNU
    time, wait4's rusage is used (and small peaks read as that floor)."""
    if shell:
        cmd = ["/bin/bash", "-c", cmd]
    tfile = None
    if GNU_TIME:
        fd, tfile = tempfile.mkstemp(prefix="agar-bench-time-")
        os.close(fd)
        cmd = [GNU_TIME, "-f", "%M %U %S", "-o", tfile] + cmd
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    out = p.stdout.read() if p.stdout else None
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    rss, cpu = ru.ru_maxrss, ru.ru_utime + ru.ru_stime
    if tfile:
        with open(tfile) as f:
            fields = f.read().split()
        os.remove(tfile)
        if code == 0:
            rss, cpu = int(fields[-3]), float(fields[-2]) + float(fields[-1])
    if code != 0:
        raise RuntimeError(
            f"command failed (exit {code}): {' '.join(cmd)}\n{err.decode(errors='replace')[-2000:]}"
        )
    text = out.decode() if out is not None else None
    return wall, rss, cpu, text


def rm(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


class Stats:
    def __init__(self):
        self.walls, self.rss, self.cpu = [], [], []

    def add(self, wall, rss, cpu):
        self.walls.append(wall)
        self.rss.append(rss)
        self.cpu.append(cpu)

    def wall(self):
        return statistics.median(self.walls)

    def peak_mib(self):
        return max(self.rss) / 1024.0

    def cpu_med(self):
        return statistics.median(self.cpu)


def gnu_tar():
    try:
        v = subprocess.run(["tar", "--version"], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "GNU tar" in v


def last_digest(text):
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fixture")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="operational,debug")
    ap.add_argument("--ops", default="pack,verify,explode,dbpack,edit,pigz,zst,vgz,vzst,xzst,stages")
    ap.add_argument("--work", default=None)
    ap.add_argument("--db-out", default="tar", choices=["tar", "tar.gz"])
    ap.add_argument("--keep", action="store_true", help="keep WORK")
    a = ap.parse_args()

    fx = os.path.abspath(a.fixture)
    modes = [m for m in a.modes.split(",") if m]
    ops = [o for o in a.ops.split(",") if o]
    for o in ops:
        if o not in TARGETS and o != "stages":
            sys.exit(f"unknown op {o!r} ({', '.join(TARGETS)}, stages)")
    tools = {t: shutil.which(t) is not None for t in ("pigz", "zstd", "openssl", "gzip")}
    for t, ok in tools.items():
        if not ok:
            log(f"note: {t} not found (apt-get install {t}): the baselines that need it are skipped")
    oracle = os.environ.get("ORACLE", os.path.join(REPO, "..", "shared", "oracle", "run.sh"))
    oracle = os.path.abspath(oracle)
    have_oracle = os.access(oracle, os.X_OK)
    have_tar = gnu_tar()
    if not have_oracle:
        log(f"note: oracle not found at {oracle} (set ORACLE): explode and dbpack baselines are skipped")
    if not have_tar:
        log("note: GNU tar not found: the pack baseline is skipped")

    agar = os.environ.get("AGAR")
    if not agar:
        log("building agar (cargo build --release) ...")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
        agar = os.path.join(REPO, "target", "release", "agar")
    agar = os.path.abspath(agar)

    work = a.work or tempfile.mkdtemp(prefix="agar-bench-", dir=os.path.dirname(fx))
    os.makedirs(work, exist_ok=True)
    log(f"work dir: {work}")
    rows = []  # (op, mode, agar Stats, baseline Stats or None, baseline name, note)
    load_before = open("/proc/loadavg").read().split()[:3]

    def row(op, mode, ag, base, what, note="", sizes=None):
        rows.append((op, mode, ag, base, what, note, sizes))

    stage_tables = []

    def tar_cmd(gdir):
        return ("set -o pipefail; tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 "
                f"-cf - -C '{os.path.dirname(gdir)}' '{os.path.basename(gdir)}'")

    def versus(op, mode, agar_cmd, base_cmd, what, out=None, base_out=None, need=()):
        """agar_cmd and base_cmd alternately; sizes of out / base_out when given."""
        missing = [t for t in need if not tools.get(t, True)]
        ag, base = Stats(), Stats()
        for i in range(a.runs):
            log(f"[{mode}] {op} run {i + 1}/{a.runs}")
            ag.add(*run(agar_cmd)[:3])
            if not missing:
                base.add(*run(base_cmd, shell=True)[:3])
        sizes = None
        if out and base_out and not missing:
            sizes = (os.path.getsize(out), os.path.getsize(base_out))
        row(op, mode, ag, None if missing else base, what,
            f"{', '.join(missing)} missing: baseline skipped" if missing else "", sizes)

    try:
        for mode in modes:
            if "backup" in ops or "restore" in ops:  # need only the DB
                backup_rows(a, agar, oracle, have_oracle, fx, work, mode, ops, row)
                if not set(ops) - {"backup", "restore"}:
                    continue
            gdir = os.path.join(fx, "genesis", mode)
            genesis = os.path.join(gdir, "genesis.json")
            if not os.path.isfile(genesis):
                log(f"skip mode {mode}: {genesis} not found")
                continue
            with open(genesis) as f:
                initial_height = int(json.load(f)["initial_height"])
            archive = os.path.join(work, f"{mode}.tar.gz")
            pack_cmd = [agar, "pack", gdir, "-o", archive, "--force", "-q"]
            need_archive = any(o in ops for o in ("pack", "verify", "explode", "edit"))
            pack_stats = None
            if "pack" in ops or "edit" in ops:
                ag, base = Stats(), Stats()
                tarball = os.path.join(work, f"{mode}.baseline.tar.gz")
                base_cmd = (
                    "set -o pipefail; tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 "
                    f"-cf - -C '{os.path.dirname(gdir)}' '{mode}' | gzip -6 > '{tarball}'"
                )
                for i in range(a.runs):
                    log(f"[{mode}] pack run {i + 1}/{a.runs}")
                    ag.add(*run(pack_cmd)[:3])
                    if have_tar and "pack" in ops:
                        base.add(*run(base_cmd, shell=True)[:3])
                        rm(tarball)
                pack_stats = ag
                if "pack" in ops:
                    row("pack", mode, ag, base if have_tar else None, "tar \\| gzip -6",
                        "" if have_tar else "GNU tar missing: baseline skipped")
            elif need_archive:
                run(pack_cmd)
            if "verify" in ops:
                ag, base = Stats(), Stats()
                for i in range(a.runs):
                    log(f"[{mode}] verify run {i + 1}/{a.runs}")
                    ag.add(*run([agar, "verify", archive, "-q"])[:3])
                    base.add(*run(f"set -o pipefail; gzip -dc '{archive}' | sha256sum", shell=True)[:3])
                row("verify", mode, ag, base, "gzip -dc \\| sha256sum")
            def explode_vs(op, path):
                ag, base = Stats(), Stats()
                home = os.path.join(work, "home")
                dbdir = os.path.join(work, "imported")
                for i in range(a.runs):
                    log(f"[{mode}] {op} run {i + 1}/{a.runs}")
                    rm(home)
                    ag.add(*run([agar, "explode", path, "--home", home, "--db", "-q"])[:3])
                    rm(home)
                    if have_oracle:
                        rm(dbdir)
                        base.add(*run([oracle, "oracle", "import", os.path.join(gdir, "swing-store"), dbdir,
                                       "--artifact-mode", mode, "--block-height", str(initial_height)])[:3])
                        rm(dbdir)
                row(op, mode, ag, base if have_oracle else None, "oracle import",
                    "" if have_oracle else "oracle missing: baseline skipped")

            if "explode" in ops:
                explode_vs("explode", archive)
            if "dbpack" in ops:
                ag, base = Stats(), Stats()
                src_db = os.path.join(fx, "db", "swingstore.sqlite")
                dbcopy = os.path.join(work, "db")
                rm(dbcopy)
                os.makedirs(dbcopy)
                shutil.copyfile(src_db, os.path.join(dbcopy, "swingstore.sqlite"))
                out_n = os.path.join(work, f"native.{a.db_out}")
                out_b = os.path.join(work, f"viaexport.{a.db_out}")
                odb = os.path.join(work, "odb")
                oexp = os.path.join(work, "oexport")
                digests = set()
                for i in range(a.runs):
                    log(f"[{mode}] dbpack run {i + 1}/{a.runs}")
                    w, r, c, out = run([agar, "pack", "--swing-store", dbcopy, "--genesis", genesis,
                                        "--artifact-mode", mode, "-o", out_n, "--force", "-q"],
                                       stdout=subprocess.PIPE)
                    ag.add(w, r, c)
                    digests.add(("native", last_digest(out)))
                    rm(out_n)
                    if have_oracle:
                        rm(odb)
                        os.makedirs(odb)
                        shutil.copyfile(src_db, os.path.join(odb, "swingstore.sqlite"))
                        rm(oexp)
                        w1, r1, c1, _ = run([oracle, "oracle", "export", odb, oexp, "--artifact-mode", mode])
                        w2, r2, c2, out = run([agar, "pack", "--swing-store-export", oexp, "--genesis", genesis,
                                               "-o", out_b, "--force", "-q"], stdout=subprocess.PIPE)
                        base.add(w1 + w2, max(r1, r2), c1 + c2)
                        digests.add(("export", last_digest(out)))
                        rm(out_b)
                        rm(oexp)
                        rm(odb)
                rm(dbcopy)
                values = {d for _, d in digests}
                note = ""
                if len(values) != 1:
                    note = f"DIGESTS DIFFER: {sorted(digests)}"
                    log(note)
                if not have_oracle:
                    note = "oracle missing: baseline skipped"
                row("dbpack", mode, ag, base if have_oracle else None, "oracle export + agar pack", note)
            if "edit" in ops:
                ag = Stats()
                out_e = os.path.join(work, f"{mode}.edited.tar.gz")
                for i in range(a.runs):
                    log(f"[{mode}] edit run {i + 1}/{a.runs}")
                    ag.add(*run([agar, "edit", archive, "-o", out_e, "--force", "-q",
                                 "--kv-add", "agarBench.edited=1"])[:3])
                    rm(out_e)
                row("edit", mode, ag, pack_stats, "agar pack (same mode)")
            zarchive = os.path.join(work, f"{mode}.tar.zst")
            if any(o in ops for o in ("pigz", "zst", "vgz", "vzst", "xzst", "stages")):
                if "pigz" in ops:
                    bout = os.path.join(work, f"{mode}.pigz.tar.gz")
                    versus("pigz", mode, pack_cmd, f"{tar_cmd(gdir)} | pigz -6 > '{bout}'",
                           "tar \\| pigz -6", archive, bout, need=("pigz",))
                    rm(bout)
                else:
                    run(pack_cmd)
                zpack = [agar, "pack", gdir, "-o", zarchive, "--force", "-q"]
                if "zst" in ops:
                    bout = os.path.join(work, f"{mode}.zstd.tar.zst")
                    versus("zst", mode, zpack, f"{tar_cmd(gdir)} | zstd -q -3 -T0 > '{bout}'",
                           "tar \\| zstd -3 -T0", zarchive, bout, need=("zstd",))
                    rm(bout)
                else:
                    run(zpack)
                if "vgz" in ops:
                    versus("vgz", mode, [agar, "verify", archive, "-q"],
                           f"set -o pipefail; gzip -dc '{archive}' | openssl dgst -sha256",
                           "gzip -dc \\| openssl dgst -sha256", need=("gzip", "openssl"))
                if "vzst" in ops:
                    versus("vzst", mode, [agar, "verify", zarchive, "-q"],
                           f"set -o pipefail; zstd -dc '{zarchive}' | openssl dgst -sha256",
                           "zstd -dc \\| openssl dgst -sha256", need=("zstd", "openssl"))
                if "xzst" in ops:
                    explode_vs("xzst", zarchive)
                if "stages" in ops:
                    plain = os.path.join(work, f"{mode}.tar")
                    run([agar, "pack", gdir, "-o", plain, "--force", "-q"])
                    stages = os.environ.get("AGAR_STAGES")
                    if not stages:
                        subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "stages"],
                                       cwd=REPO, check=True)
                        stages = os.path.join(REPO, "target", "release", "examples", "stages")
                    _, _, _, text = run([stages, plain], stdout=subprocess.PIPE)
                    stage_tables.append(text)
                    rm(plain)
                rm(zarchive)
            rm(archive)
    finally:
        if not a.keep and not a.work:
            shutil.rmtree(work, ignore_errors=True)

    load_after = open("/proc/loadavg").read().split()[:3]
    ncpu = os.cpu_count()
    print(f"\nFixture `{fx}`, {a.runs} runs, medians; {ncpu} CPUs; load average before "
          f"{' '.join(load_before)}, after {' '.join(load_after)}.\n")
    print("| operation | mode | agar wall s | agar CPU s | agar peak RSS MiB | baseline | baseline wall s | "
          "baseline CPU s | baseline peak RSS MiB | ratio (wall) | size agar / baseline | target | met |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|")
    failed = False
    for op, mode, ag, base, what, note, sizes in rows:
        tgt = TARGETS[op]
        stgt = SIZE_TARGETS.get(op)
        rss_ok = ag.peak_mib() <= RSS_LIMIT_MIB
        size_ok, sz = True, "-"
        if sizes:
            sratio = sizes[0] / sizes[1]
            sz = f"{sizes[0] / 1e6:.0f} / {sizes[1] / 1e6:.0f} MB = {sratio:.3f}"
            size_ok = stgt is None or sratio <= stgt
        if base is not None and base.walls:
            ratio = ag.wall() / base.wall()
            b = f"{base.wall():.2f} | {base.cpu_med():.2f} | {base.peak_mib():.1f}"
            r = f"{ratio:.2f}"
            ok = (tgt is None or ratio <= tgt) and rss_ok and size_ok
        else:
            b, r, ok = "- | - | -", "-", rss_ok
        t = (f"≤ {tgt}" if tgt is not None else "report") + (f", size ≤ {stgt}" if stgt else "") + f", RSS ≤ {RSS_LIMIT_MIB}"
        met = "yes" if ok else "**no**"
        if note:
            met += f" ({note})"
        failed |= not ok
        print(f"| {op} | {mode} | {ag.wall():.2f} | {ag.cpu_med():.2f} | {ag.peak_mib():.1f} | {what} | {b} | {r} | {sz} | {t} | {met} |")
    for text in stage_tables:
        print()
        print(text.strip())
    return 1 if failed else 0


def backup_rows(a, agar, oracle, have_oracle, fx, work, mode, ops, row):
    """The backup and restore rows (docs/backup.md) for one mode."""
    src_db = os.path.join(fx, "db", "swingstore.sqlite")
    home = os.path.join(work, "bhome")
    rm(home)
    os.makedirs(os.path.join(home, "data", "agoric"))
    shutil.copyfile(src_db, os.path.join(home, "data", "agoric", "swingstore.sqlite"))
    out = os.path.join(work, f"backup-{mode}.tar")
    odb = os.path.join(work, "odb")
    oexp = os.path.join(work, f"oexport-{mode}")
    ag, base = Stats(), Stats()
    digests = set()
    for i in range(a.runs):
        log(f"[{mode}] backup run {i + 1}/{a.runs}")
        w, r, c, text = run([agar, "backup", "--home", home, "--artifact-mode", mode, "-o", out,
                             "--force", "-q"], stdout=subprocess.PIPE)
        ag.add(w, r, c)
        digests.add(last_digest(text))
        if have_oracle:
            rm(odb)
            os.makedirs(odb)
            shutil.copyfile(src_db, os.path.join(odb, "swingstore.sqlite"))
            rm(oexp)
            base.add(*run([oracle, "oracle", "export", odb, oexp, "--artifact-mode", mode])[:3])
            rm(odb)
    note = "" if len(digests) == 1 else f"DIGESTS DIFFER: {sorted(digests)}"
    if "backup" in ops:
        row("backup", mode, ag, base if have_oracle else None, "oracle export",
            note or ("" if have_oracle else "oracle missing: baseline skipped"))
    if "restore" in ops:
        ag, base = Stats(), Stats()
        rhome = os.path.join(work, "rhome")
        dbdir = os.path.join(work, "oimported")
        for i in range(a.runs):
            log(f"[{mode}] restore run {i + 1}/{a.runs}")
            rm(rhome)
            os.makedirs(os.path.join(rhome, "data", "agoric"))
            ag.add(*run([agar, "restore", out, "--home", rhome, "-q"])[:3])
            if have_oracle:
                rm(dbdir)
                base.add(*run([oracle, "oracle", "import", oexp, dbdir, "--artifact-mode", mode])[:3])
        note = ""
        if have_oracle:
            dumps = {run([agar, "dump", d], stdout=subprocess.PIPE)[3]
                     for d in (os.path.join(rhome, "data", "agoric"), dbdir)}
            if len(dumps) != 1:
                note = "DUMPS DIFFER"
                log(note)
            rm(dbdir)
        rm(rhome)
        row("restore", mode, ag, base if have_oracle else None, "oracle import",
            note or ("" if have_oracle else "oracle missing: baseline skipped"))
    rm(home)
    rm(out)
    rm(oexp)


if __name__ == "__main__":
    sys.exit(main())
