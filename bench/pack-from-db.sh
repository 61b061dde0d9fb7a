#!/usr/bin/env bash
# Benchmark (not a test): `agar pack --swing-store DB` versus the baseline it replaces,
# the official exporter (oracle `export`, i.e. @agoric/swing-store's exporter as
# export-kernel-db.js runs it) followed by `agar pack` of that export directory.
#
#   bench/pack-from-db.sh DB_DIR GENESIS.json [MODE] [WORK_DIR]
#
# DB_DIR holds swingstore.sqlite (it is copied into WORK_DIR first, because the official
# exporter opens the DB read-write and may leave -wal/-shm files). MODE defaults to
# operational. WORK_DIR defaults to a fresh temp dir (needs room for the DB copy, the
# export and two archives). Prints wall time and peak RSS of each side (GNU time -v),
# the ratios, and checks both archives have the same digest. Without the oracle
# (ORACLE=../shared/oracle/run.sh relative to the repo root by default) only the native side is measured.
#
# Targets: native wall time <= 0.5x the baseline, native peak RSS <= 100 MiB.
set -euo pipefail

if [ $# -lt 2 ]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
DB_DIR=$1
GENESIS=$2
MODE=${3:-operational}
WORK=${4:-$(mktemp -d)}
HERE0=$(cd "$(dirname "$0")/.." && pwd)
ORACLE=${ORACLE:-$HERE0/../shared/oracle/run.sh}
HERE=$(cd "$(dirname "$0")/.." && pwd)
AGAR=${AGAR:-$HERE/target/release/agar}
TIME=/usr/bin/time

[ -x "$AGAR" ] || (cd "$HERE" && cargo build --release --quiet)
[ -x "$TIME" ] || { echo "needs GNU time at $TIME" >&2; exit 2; }

mkdir -p "$WORK/db"
cp "$DB_DIR/swingstore.sqlite" "$WORK/db/swingstore.sqlite"
sync

# run NAME CMD...: runs CMD under GNU time, records wall seconds and peak RSS (KiB)
run() {
  local name=$1
  shift
  "$TIME" -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
    echo "$name failed:" >&2
    tail -5 "$WORK/$name.err" >&2
    exit 1
  }
}
wall() { # GNU time prints h:mm:ss or m:ss.cc
  awk -F': ' '/Elapsed \(wall clock\)/ {
    n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"
}
rss() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
cpu() { awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$1"; }

# native: one process, straight from the DB
rm -f "$WORK/native.tar"
run native "$AGAR" pack --swing-store "$WORK/db" --genesis "$GENESIS" \
  --artifact-mode "$MODE" -o "$WORK/native.tar" --force -q
n_wall=$(wall "$WORK/native.time")
n_rss=$(rss "$WORK/native.time")
n_digest=$(tail -1 "$WORK/native.out")
n_cpu=$(cpu "$WORK/native.time")
printf 'native pack from DB:      %8.2f s  %8.1f MiB peak RSS  %8.2f s CPU\n' "$n_wall" "$(echo "$n_rss/1024" | bc -l)" "$n_cpu"

if ! [ -x "$ORACLE" ]; then
  echo "oracle not found at $ORACLE: skipping the baseline (official export + agar pack)"
  echo "digest: $n_digest"
  exit 0
fi

# baseline: official exporter, then agar pack of its export directory
rm -rf "$WORK/export"
run export "$ORACLE" oracle export "$WORK/db" "$WORK/export" --artifact-mode "$MODE"
rm -f "$WORK/baseline.tar"
run pack "$AGAR" pack --swing-store-export "$WORK/export" --genesis "$GENESIS" \
  -o "$WORK/baseline.tar" --force -q
e_wall=$(wall "$WORK/export.time")
e_rss=$(rss "$WORK/export.time")
p_wall=$(wall "$WORK/pack.time")
p_rss=$(rss "$WORK/pack.time")
b_wall=$(echo "$e_wall + $p_wall" | bc -l)
b_rss=$((e_rss > p_rss ? e_rss : p_rss))
b_digest=$(tail -1 "$WORK/pack.out")
e_cpu=$(cpu "$WORK/export.time")
p_cpu=$(cpu "$WORK/pack.time")
b_cpu=$(echo "$e_cpu + $p_cpu" | bc -l)
printf 'official export:          %8.2f s  %8.1f MiB peak RSS  %8.2f s CPU\n' "$e_wall" "$(echo "$e_rss/1024" | bc -l)" "$e_cpu"
printf 'agar pack of the export:  %8.2f s  %8.1f MiB peak RSS  %8.2f s CPU\n' "$p_wall" "$(echo "$p_rss/1024" | bc -l)" "$p_cpu"
printf 'baseline (both steps):    %8.2f s  %8.1f MiB peak RSS  %8.2f s CPU (RSS: max of the two)\n' "$b_wall" "$(echo "$b_rss/1024" | bc -l)" "$b_cpu"
printf 'ratio native/baseline:    wall %.3f  peak RSS %.3f  CPU %.3f\n' \
  "$(echo "$n_wall / $b_wall" | bc -l)" "$(echo "$n_rss / $b_rss" | bc -l)" "$(echo "$n_cpu / $b_cpu" | bc -l)"
echo "targets: wall ratio <= 0.5, native peak RSS <= 100 MiB (machine load: $(cut -d' ' -f1-3 /proc/loadavg))"
if [ "$n_digest" = "$b_digest" ]; then
  echo "digests equal: $n_digest"
else
  echo "DIGESTS DIFFER: native $n_digest, baseline $b_digest" >&2
  exit 1
fi
