#!/usr/bin/env bash
# Flight benchmarks quoted in BENCHMARKS.md: `dotation serve` (release build) against
# pyarrow's own Flight server on the same Parquet files, both on loopback, timed from the
# same pyarrow client in the same run (benches/peer/flight_bench.py).
#
# Usage: benches/peer/flight.sh [REPEATS] [JOBS]
#   REPEATS  DoGet repeats per table (median), 5 by default
#   JOBS     distinct baseline jobs submitted at once, 20 by default
# Reduced scale (CI): benches/peer/flight.sh 2 4
# The binary: $DOTATION_BIN if set, else target/release/dotation (built by cargo, a no-op
# when up to date). Exits non-zero only if a tool fails, never because of a timing.
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats="${1:-5}"
jobs="${2:-20}"

if [ -n "${DOTATION_BIN:-}" ]; then
  bin="$DOTATION_BIN"
  [ -x "$bin" ] || { echo "DOTATION_BIN=$bin is not an executable" >&2; exit 1; }
else
  bin="${CARGO_TARGET_DIR:-target}/release/dotation"
  cargo build --quiet --release -p dotation-server
fi
# Absolute, as local_server.sh runs it from elsewhere too.
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
echo "binary: $bin ($("$bin" --version))" >&2

venv=benches/peer/.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet -r benches/peer/requirements.txt
"$venv/bin/pip" install --quiet --disable-pip-version-check ./clients/python
py="$venv/bin/python"

tmp="$(mktemp -d)"
. examples/lib/local_server.sh
"$bin" --quiet generate --out "$tmp/survey"
password="bench-$RANDOM-$RANDOM"
local_server_config bench "$password"
start_server
if ! "$py" benches/peer/flight_bench.py "grpc://$address" bench "$password" "$tmp/survey" \
    benches/peer/flight_peer_server.py "$repeats" "$jobs"; then
  echo "flight_bench.py failed; the server's log:" >&2
  tail -n 40 "$tmp/server.log" >&2
  exit 1
fi
stop_server
