#!/usr/bin/env bash
# Visit aggregation, dotation against polars on the same Parquet files in the same run
# (benches/peer/aggregate.py): builds the release tool, installs the Python peers in a
# virtual environment (benches/peer/.venv), and prints the table quoted in BENCHMARKS.md.
#
# Usage: benches/peer/run.sh [VISITS] [REPEATS]   (10,000,000 visits, 5 repeats by default)
# Reduced scale (CI): benches/peer/run.sh 2000000 2
# The tool: $AGGREGATE_PEER if set, else aggregate_peer next to $DOTATION_BIN if that is
# set (built beforehand, e.g. `cargo build --release -p dotation-benches --bins`), else
# target/release/aggregate_peer built by cargo. Exits non-zero only if a tool fails, never
# because of a timing.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${AGGREGATE_PEER:-}" ]; then
  if [ -n "${DOTATION_BIN:-}" ]; then
    AGGREGATE_PEER="$(dirname "$DOTATION_BIN")/aggregate_peer"
  else
    cargo build --quiet --release -p dotation-benches --bin aggregate_peer
    AGGREGATE_PEER="${CARGO_TARGET_DIR:-target}/release/aggregate_peer"
  fi
fi
[ -x "$AGGREGATE_PEER" ] || { echo "$AGGREGATE_PEER: no such tool (cargo build --release -p dotation-benches --bins)" >&2; exit 1; }
export AGGREGATE_PEER

venv=benches/peer/.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet -r benches/peer/requirements.txt
"$venv/bin/python" benches/peer/aggregate.py "${1:-10000000}" "${2:-5}"
