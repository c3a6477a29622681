#!/usr/bin/env bash
# Times statsmodels against dotation's calibration on the same national data, in the
# same run (benches/peer/calibrate.py). Usage: benches/peer/run_calibrate.sh [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m venv benches/peer/.venv
benches/peer/.venv/bin/pip install --quiet -r benches/peer/requirements.txt
cargo build --release -p dotation-benches --bin calibrate_peer
benches/peer/.venv/bin/python benches/peer/calibrate.py "${1:-7}"
