#!/usr/bin/env bash
# The runbook "backup of the Agoric JavaScript VM State", done with agar (docs/backup.md),
# on a copy of a swing-store DB in a scratch node home.
#
#   examples/backup-restore.sh [WORKDIR]
#     AGAR=/path/to/agar                   (default: agar on PATH)
#     DB=/path/to/swingstore.sqlite        (default: the tiny test fixture)
#
# status -> backup (replay) -> verify -> the DB gets damaged -> restore pinned to the
# digest and height -> the restored DB backs up to the same digest. Exits non-zero on the
# first step that does not hold.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
AGAR="${AGAR:-agar}"
DB="${DB:-$here/../tests/fixtures/tiny/db/swingstore.sqlite}"
WORK="${1:-$(mktemp -d)}"
NODE="$WORK/node"
mkdir -p "$NODE/data/agoric"
cp "$DB" "$NODE/data/agoric/swingstore.sqlite"
step() { printf '\n== %s\n' "$*"; }

step "1. the node is stopped: check the DB (runbook: db-get.js host.height)"
"$AGAR" status --home "$NODE" | tee "$WORK/status.txt"
grep -q "held open by:    no process" "$WORK/status.txt"
HEIGHT="$(sed -n 's/^host.height: *\([0-9][0-9]*\)$/\1/p' "$WORK/status.txt")"
test -n "$HEIGHT"
grep -Eq "^  replay +possible" "$WORK/status.txt"

step "2. back up the swing-store (runbook: export-kernel-db.js --artifact-mode replay)"
BACKUP="$WORK/swingstore-$HEIGHT.tar.gz"
"$AGAR" backup --home "$NODE" -o "$BACKUP" --artifact-mode replay -q | tee "$WORK/backup.txt"
DIGEST="$(tail -n 1 "$WORK/backup.txt")"
echo "recorded: host.height $HEIGHT, digest $DIGEST"

step "3. verify the backup (anyone with the digest can, also with gzip -dc | sha256sum)"
"$AGAR" verify "$BACKUP" --expect "$DIGEST" -q
test "$(gzip -dc "$BACKUP" | sha256sum | cut -d' ' -f1)" = "$DIGEST"

step "4. (the upgrade went wrong: the swing-store is damaged)"
printf 'damaged' > "$NODE/data/agoric/swingstore.sqlite"

step "5. restore (runbook: import-kernel-db.js), pinned to the digest and the height"
"$AGAR" restore "$BACKUP" --home "$NODE" --expect "$DIGEST" --height "$HEIGHT" -q

step "6. check: the restored DB is at the height and backs up to the same digest"
"$AGAR" status --home "$NODE" | tee "$WORK/status2.txt"
grep -q "^host.height:     $HEIGHT$" "$WORK/status2.txt"
AGAIN="$("$AGAR" backup --home "$NODE" -o "$WORK/again.tar" --artifact-mode replay -q | tail -n 1)"
test "$AGAIN" = "$DIGEST"
ls -d "$NODE"/data/agoric/swingstore-before-restore-*/ >/dev/null

echo
echo "backup-restore OK: host.height $HEIGHT, digest $DIGEST"
