#!/usr/bin/env bash
# dotation end to end (calibrate, validate) against DuckDB and polars' streaming engine
# computing the visit drivers from the same visits.parquet, in the same run, with wall
# time and peak RSS from /usr/bin/time -v (benches/peer/national.py says what is measured).
#
# Usage: benches/peer/national.sh [survey|national] [REPEATS]
#   survey   ~1.3 M visits, 3 repeats by default
#   national ~191 M visits (415 MB of Parquet, ~35 s to generate), 1 repeat by default
# The binary: $DOTATION_BIN if set, else target/release/dotation, built only if missing.
# The data: target/peer-data/SCALE (seed 1), generated only if missing.
# Exits non-zero only if a tool fails (or the setup does), never because of a timing.
set -euo pipefail
cd "$(dirname "$0")/../.."

scale="${1:-survey}"
case "$scale" in
  survey) repeats="${2:-3}" ;;
  national) repeats="${2:-1}" ;;
  *) echo "usage: $0 [survey|national] [REPEATS]" >&2; exit 2 ;;
esac

if [ ! -x /usr/bin/time ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq time >/dev/null || { $sudo apt-get update -qq && $sudo apt-get install -y -qq time >/dev/null; }
fi

venv=benches/peer/.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet -r benches/peer/requirements.txt

if [ -n "${DOTATION_BIN:-}" ]; then
  bin="$DOTATION_BIN"
else
  bin=target/release/dotation
  [ -x "$bin" ] || cargo build --release -p dotation-server
fi
echo "binary: $bin ($("$bin" --version))" >&2

data="target/peer-data/$scale"
if [ ! -f "$data/visits.parquet" ]; then
  rm -rf "$data.partial"
  "$bin" --quiet generate --scale "$scale" --seed 1 --out "$data.partial"
  rm -rf "$data" && mv "$data.partial" "$data"
fi

"$venv/bin/python" benches/peer/national.py "$data" --repeats "$repeats" --threads 2 --dotation "$bin"
