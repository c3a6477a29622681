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
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
"$bin" --quiet generate --out "$tmp/survey"
password="bench-$RANDOM"
hash="$(printf '%s\n' "$password" | "$bin" serve --hash-password)"
cat > "$tmp/server.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "data"
[[auth.users]]
name = "bench"
password_hash = "$hash"
TOML
"$bin" serve --config "$tmp/server.toml" > "$tmp/server.log" 2>&1 &
server_pid=$!
address=""
for _ in $(seq 1 300); do
    address="$(sed -n 's/.*listening on grpc:\/\/\([0-9.:]*\).*/\1/p' "$tmp/server.log")"
    [ -n "$address" ] && break
    sleep 0.1
done
[ -n "$address" ] || { cat "$tmp/server.log"; exit 1; }
"$py" benches/peer/flight_bench.py "grpc://$address" bench "$password" "$tmp/survey" \
    benches/peer/flight_peer_server.py "${1:-5}" "${2:-20}"
