#!/usr/bin/env bash
# The notebook session with the real pyarrow client, end to end: takes `dotation` (the
# release binary $DOTATION_BIN when set, as .ci/run does; else builds it), makes a
# Python venv with pyarrow and pandas (kept in the target folder between runs), generates
# the survey, starts `dotation serve` on loopback with a temporary data directory and a
# user whose password hash is made here, runs examples/notebook.py against it, restarts the
# server and checks that the job and its tables are still served, then stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
if [ -n "${DOTATION_BIN:-}" ]; then
    bin="$DOTATION_BIN"
    [ -x "$bin" ] || { echo "DOTATION_BIN=$bin is not an executable" >&2; exit 1; }
else
    cargo build --quiet --release -p dotation-server
    bin="$target/release/dotation"
fi
# Absolute: the server is started from elsewhere too.
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

venv="${DOTATION_VENV:-$target/pyvenv}"
if ! "$venv/bin/python" -c "import pyarrow.flight, pandas" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check pyarrow pandas
fi
py="$venv/bin/python"

tmp="$(mktemp -d)"
. examples/lib/local_server.sh

"$bin" --quiet generate --out "$tmp/survey"
password="ci-$RANDOM-$RANDOM"
local_server_config ci "$password"

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
