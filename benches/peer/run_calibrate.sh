#!/usr/bin/env bash
# Times statsmodels (and numpy, quadprog) against dotation's calibration on the same
# national data, in the same run, and checks they agree (benches/peer/calibrate.py).
#
# Usage: benches/peer/run_calibrate.sh [REPEATS]   (7 by default; CI: 2)
# The tool: $CALIBRATE_PEER if set, else calibrate_peer next to $DOTATION_BIN if that is
# set (built beforehand, e.g. `cargo build --release -p dotation-benches --bins`), else
# target/release/calibrate_peer built by cargo. Exits non-zero if a tool fails or the
# results disagree, never because of a timing.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${CALIBRATE_PEER:-}" ]; then
  if [ -n "${DOTATION_BIN:-}" ]; then
    CALIBRATE_PEER="$(dirname "$DOTATION_BIN")/calibrate_peer"
  else
    cargo build --quiet --release -p dotation-benches --bin calibrate_peer
    CALIBRATE_PEER="${CARGO_TARGET_DIR:-target}/release/calibrate_peer"
  fi
fi
[ -x "$CALIBRATE_PEER" ] || { echo "$CALIBRATE_PEER: no such tool (cargo build --release -p dotation-benches --bins)" >&2; exit 1; }
export CALIBRATE_PEER

venv=benches/peer/.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet -r benches/peer/requirements.txt
"$venv/bin/python" benches/peer/calibrate.py "${1:-7}"
