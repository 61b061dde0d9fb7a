#!/usr/bin/env bash
# Emergency-restart rehearsal on the shipped example export (see EDITING.md).
#
#   examples/rehearsal.sh [WORKDIR]        (AGAR=/path/to/agar to choose the binary)
#
# pack -> publish the digest -> review the proposed edits with diff -> apply them
# (pinned to the published digest) -> a second "validator" replays them and compares
# digests -> verify -> explode into a reset node home with --expect --force (skipped if
# this agar has no `explode` yet). Exits non-zero on the first step that does not hold.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
AGAR="${AGAR:-agar}"
EXPORT="${EXPORT:-$here/tiny-export}"
SCRIPT="${SCRIPT:-$here/edits/remove-stuck-item.json}"
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
step() { printf '\n== %s\n' "$*"; }

step "1. pack the agd export (every validator, or one who publishes)"
"$AGAR" pack "$EXPORT" -o "$WORK/genesis.tar.gz" --force -q | tee "$WORK/pack.txt"
DIGEST="$(tail -n 1 "$WORK/pack.txt")"

step "2. publish the archive digest (and the genesis.json / export-data hashes)"
"$AGAR" digest "$WORK/genesis.tar.gz" -q | tee "$WORK/published.txt"
grep -q "$DIGEST" "$WORK/published.txt"
echo "published: $DIGEST"

step "3. review the proposed edit script: apply it to a scratch copy and diff"
"$AGAR" edit "$WORK/genesis.tar.gz" -o "$WORK/proposed.tar.gz" --script "$SCRIPT" --base "$DIGEST" --force -q >/dev/null
set +e
"$AGAR" diff "$WORK/genesis.tar.gz" "$WORK/proposed.tar.gz" -q
rc=$?
set -e
if [ "$rc" -ne 1 ]; then
  echo "diff should report differences (exit 1), got exit $rc" >&2
  exit 1
fi

step "4. apply the edits, pinned to the published digest"
"$AGAR" edit "$WORK/genesis.tar.gz" -o "$WORK/edited.tar.gz" --script "$SCRIPT" --base "$DIGEST" --force | tee "$WORK/edit.txt"
EDITED="$(tail -n 1 "$WORK/edit.txt")"

step "5. another validator replays the same script on the same archive: same digest"
"$AGAR" edit "$WORK/genesis.tar.gz" -o "$WORK/validator2.tar" --script "$SCRIPT" --base "$DIGEST" --force -q > "$WORK/edit2.txt"
OTHER="$(tail -n 1 "$WORK/edit2.txt")"
if [ "$EDITED" != "$OTHER" ]; then
  echo "digests differ: $EDITED vs $OTHER" >&2
  exit 1
fi
echo "both validators: $EDITED"

step "6. verify the edited archive against the agreed digest"
"$AGAR" verify "$WORK/edited.tar.gz" --expect "$EDITED" -q

step "6b. two validators attest the edited archive; everyone requires both (docs/attest.md)"
for who in alice bob; do
  rm -f "$WORK/$who" "$WORK/$who.pub"
  ssh-keygen -q -t ed25519 -N '' -C "$who (throwaway rehearsal key)" -f "$WORK/$who"
  printf '%s@rehearsal namespaces="agar-archive" %s\n' "$who" "$(cat "$WORK/$who.pub")"
done > "$WORK/allowed_signers"
mkdir -p "$WORK/attestations"
for who in alice bob; do
  "$AGAR" attest "$WORK/edited.tar.gz" --expect "$EDITED" --key "$WORK/$who" -o "$WORK/attestations/$who.json" --force -q
done
"$AGAR" verify "$WORK/edited.tar.gz" --expect "$EDITED" -q \
  --attestations "$WORK/attestations" --allowed-signers "$WORK/allowed_signers" --threshold 2

step "7. restart: reset the node's Cosmos state, explode (pinned to the agreed digest), start"
if "$AGAR" explode --help >/dev/null 2>&1; then
  HOME_DIR="$WORK/node-home"
  rm -rf "$HOME_DIR"
  # On a real validator (H = ~/.agoric):
  #   1. stop agd
  #   2. agd tendermint unsafe-reset-all --home H --keep-addr-book
  #   3. agar explode edited.tar.gz --home H --expect <agreed digest> --force
  #   4. agd start --home H
  # Here, a stand-in for H as step 2 leaves it: keys, configs, the old genesis.json, and
  # data/ holding only priv_validator_state.json at height 0.
  mkdir -p "$HOME_DIR/config" "$HOME_DIR/data"
  echo '{"chain_id":"old-chain"}' > "$HOME_DIR/config/genesis.json"
  echo '{"priv_key":"rehearsal"}' > "$HOME_DIR/config/priv_validator_key.json"
  printf '{\n  "height": "0",\n  "round": 0,\n  "step": 0\n}' > "$HOME_DIR/data/priv_validator_state.json"
  "$AGAR" explode "$WORK/edited.tar.gz" --home "$HOME_DIR" --expect "$EDITED" --force
  echo "exploded into $HOME_DIR; agd start --home $HOME_DIR would run InitGenesis from it"
else
  echo "SKIPPED: this agar has no 'explode' subcommand yet; unpack by hand or upgrade agar"
fi

printf '\nrehearsal OK: published %s, edited %s\n' "$DIGEST" "$EDITED"
