#!/usr/bin/env bash
# Flight benchmarks quoted in BENCHMARKS.md: `dotation serve` (release build) against
# pyarrow's own Flight server on the same Parquet files, both on loopback, timed from the
# same pyarrow client in the same run. Usage: benches/peer/flight.sh [REPEATS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --release -p dotation-server
bin="$target/release/dotation"
python3 -m venv benches/peer/.venv
benches/peer/.venv/bin/pip install --quiet -r benches/peer/requirements.txt
py=benches/peer/.venv/bin/python

tmp="$(mktemp -d)"
. examples/lib/local_server.sh
"$bin" --quiet generate --out "$tmp/survey"
password="bench-$RANDOM"
local_server_config bench "$password"
start_server
"$py" benches/peer/flight_bench.py "grpc://$address" bench "$password" "$tmp/survey" \
    benches/peer/flight_peer_server.py "${1:-5}" "${2:-20}"
