#!/usr/bin/env bash
# The notebook session with the real pyarrow client, end to end: builds `dotation`, makes a
# Python venv with pyarrow and pandas (kept in the target folder between runs), generates
# the survey, starts `dotation serve` on loopback with a temporary data directory and a
# user whose password hash is made here, runs examples/notebook.py against it, restarts the
# server and checks that the job and its tables are still served, then stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet -p dotation-server
bin="$target/debug/dotation"

venv="${DOTATION_VENV:-$target/pyvenv}"
if ! "$venv/bin/python" -c "import pyarrow.flight, pandas" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check pyarrow pandas
fi
py="$venv/bin/python"

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" --quiet generate --out "$tmp/survey"
password="ci-$RANDOM-$RANDOM"
hash="$(printf '%s\n' "$password" | "$bin" serve --hash-password)"
cat > "$tmp/server.toml" <<EOF
listen = "127.0.0.1:0"
data_dir = "data"
[[auth.users]]
name = "ci"
password_hash = "$hash"
EOF

start_server() {
    : > "$tmp/server.log"
    "$bin" serve --config "$tmp/server.toml" >> "$tmp/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        address="$(sed -n 's/.*listening on grpc:\/\/\([0-9.:]*\).*/\1/p' "$tmp/server.log")"
        if [ -n "$address" ]; then return 0; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then cat "$tmp/server.log"; return 1; fi
        sleep 0.1
    done
    echo "the server did not start"; cat "$tmp/server.log"; return 1
}
stop_server() {
    kill -TERM "$server_pid"
    wait "$server_pid"
    server_pid=""
}

start_server
echo "== notebook session against grpc://$address"
"$py" examples/notebook.py --location "grpc://$address" --user ci --password "$password" --data "$tmp/survey"

echo "== after a restart, the job and its tables are still served"
stop_server
start_server
"$py" - "grpc://$address" "$password" <<'EOF'
import sys
sys.path.insert(0, "examples")
from dotation_client import Dotation
d = Dotation(sys.argv[1], user="ci", password=sys.argv[2])
jobs = d.jobs()
assert [j["state"] for j in jobs] == ["done", "done"], jobs
services = d.table(jobs[0]["id"], "services")
assert services.num_rows > 400, services.num_rows
print(f"OK: {len(jobs)} jobs kept, services has {services.num_rows} rows")
EOF
stop_server
echo "pyarrow client: 2 passed, 0 failed"
