#!/usr/bin/env bash
# Runs the peer comparisons: builds the release tools, installs the Python peers in a
# virtual environment (benches/peer/.venv), and prints the tables quoted in BENCHMARKS.md.
# Usage: benches/peer/run.sh [VISITS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m venv benches/peer/.venv
benches/peer/.venv/bin/pip install --quiet -r benches/peer/requirements.txt
cargo build --release -p dotation-benches --bin aggregate_peer
benches/peer/.venv/bin/python benches/peer/aggregate.py "${1:-10000000}" "${2:-5}"
