#!/usr/bin/env bash
# Benchmarks of every agar operation against its baseline; prints a markdown table.
#   bench/run.sh FIXTURE_DIR [--runs N] [--modes operational,debug] [--ops pack,verify,explode,dbpack,edit,backup,restore]
# See bench/bench.py for the details (needs python3; the oracle and GNU tar are optional).
#   bench/run.sh mainnet [--data DIR] [--sizes small,large] [--agar PATH] [--ops ...]
# runs the mainnet-scale set (generated exports, peak RSS and wall of every command); see
# bench/mainnet.py.
if [ "${1:-}" = mainnet ]; then
    shift
    exec python3 "$(dirname "$0")/mainnet.py" "$@"
fi
exec python3 "$(dirname "$0")/bench.py" "$@"
