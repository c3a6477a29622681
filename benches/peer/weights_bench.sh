#!/usr/bin/env bash
# Survey weights (calage sur marges): dotation's raking against R's survey::calibrate on
# the same services and margins, in the same run, and a check that they give the same
# weights.
#
# Usage: benches/peer/weights_bench.sh [REPEATS]   (5 by default)
#
# Two cases, both generated with the default seed (2026) into a temporary folder:
#   national  the national frame without visits (6,314 services, ~783k users) with
#             perturbed design weights, 1 x exp(N(0, 0.3^2)) per service (seed 1) rescaled
#             to sum to 6,314, raked to the TRUE frame's totals: departement*habilitated
#             (every crossing that has a service), status, hours_apa, hours_pch,
#             users:gir=1..4, users (>= 150 cells, checked);
#   survey    the 437-service survey without visits, its own design weights, raked to
#             the frame's totals of tests/reference/weights/margins.csv (13 cells).
# benches/peer/weights_data.py builds the inputs (and the CSVs R reads); see its header.
#
# What is timed, REPEATS times each, medians:
#   - `dotation weights --data DIR --margins FILE --method raking --out DIR` (tolerance
#     1e-12, at most 100 iterations: the defaults), the whole process under
#     /usr/bin/time -v (wall time; peak RSS, the largest over the runs): reading and
#     validating the tables, the auxiliary variables, the calibration, writing the results;
#   - R: benches/peer/weights_bench.R, calibrate(calfun = "raking", epsilon = 1e-12,
#     maxit = 100) alone with system.time (REPEATS calls in one process), and the whole
#     Rscript process (read the CSVs, build the model matrix, svydesign, one calibrate(),
#     write the weights) under /usr/bin/time -v, REPEATS processes.
#   - then, unless WEIGHTS_CRITERION=0, the criterion bench `cargo bench -p
#     dotation-benches --bench weights` (benches/benches/weights.rs): dotation's
#     calibration in the process, without process start and files, on the same two cases
#     (compiled first if needed: minutes on 2 cores).
# Exits non-zero if a tool fails or the weights differ by more than 1e-8 relative, never
# because of a timing.
#
# The binary: $DOTATION_BIN if set, else target/release/dotation (built if missing).
# WEIGHTS_BENCH_DIR: keep the work folder there (default: a temporary one, removed).
# Needs R with the survey package (apt-get install -y r-cran-survey) and /usr/bin/time;
# pyarrow comes from python3 if it has it, else from the peers' venv (benches/peer/.venv).
set -euo pipefail
cd "$(dirname "$0")/../.."

repeats="${1:-5}"

if [ -n "${DOTATION_BIN:-}" ]; then
  bin="$DOTATION_BIN"
else
  bin=target/release/dotation
  [ -x "$bin" ] || cargo build --release -p dotation-server
fi
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing (apt-get install -y time)" >&2; exit 1; }
Rscript -e 'suppressPackageStartupMessages(library(survey))' >/dev/null 2>&1 ||
  { echo "R's survey package is missing (apt-get install -y r-cran-survey)" >&2; exit 1; }

if python3 -c 'import pyarrow' 2>/dev/null; then
  py=python3
else
  venv=benches/peer/.venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c 'import pyarrow' 2>/dev/null ||
    "$venv/bin/pip" install --quiet "$(grep '^pyarrow' benches/peer/requirements.txt)"
  py="$venv/bin/python"
fi

if [ -n "${WEIGHTS_BENCH_DIR:-}" ]; then
  work="$WEIGHTS_BENCH_DIR"
  rm -rf "$work" && mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/times"

echo "binary: $bin ($("$bin" --version)); $(Rscript -e 'cat(R.version.string, "| survey", as.character(packageVersion("survey")))' 2>/dev/null); $(nproc) cores" >&2

"$bin" --quiet generate --scale national --no-visits --out "$work/frame"
"$bin" --quiet generate --no-visits --out "$work/survey"
"$py" benches/peer/weights_data.py prepare "$work/frame" "$work/survey" "$work"

data_of() { case "$1" in national) echo "$work/national" ;; survey) echo "$work/survey" ;; esac; }

for case in national survey; do
  data="$(data_of "$case")"
  margins="$work/${case}_margins.csv"
  services="$work/${case}_services.csv"
  echo "== $case: dotation weights, $repeats runs" >&2
  for i in $(seq "$repeats"); do
    rm -rf "$work/dotation-$case"
    /usr/bin/time -v -o "$work/times/dotation-$case-$i.txt" \
      "$bin" --quiet weights --data "$data" --margins "$margins" --method raking \
      --out "$work/dotation-$case"
  done
  echo "== $case: R calibrate(), $repeats calls in one process" >&2
  Rscript benches/peer/weights_bench.R "$services" "$margins" "$work/r-$case-weights.csv" \
    "$repeats" --count >"$work/r-$case.json"
  echo "== $case: Rscript, $repeats processes" >&2
  for i in $(seq "$repeats"); do
    /usr/bin/time -v -o "$work/times/r-$case-$i.txt" \
      Rscript benches/peer/weights_bench.R "$services" "$margins" "$work/r-$case-process.csv" \
      >/dev/null
  done
  "$py" benches/peer/weights_data.py compare "$work/dotation-$case/weights.parquet" \
    "$work/r-$case-weights.csv" --json "$work/compare-$case.json"
done

criterion=()
if [ "${WEIGHTS_CRITERION:-1}" != 0 ]; then
  echo "== criterion: cargo bench -p dotation-benches --bench weights" >&2
  cargo bench --quiet -p dotation-benches --bench weights -- --noplot 2>&1 |
    { grep -v '^Benchmarking ' || true; } >&2
  criterion=(--criterion "${CARGO_TARGET_DIR:-target}/criterion")
fi

"$py" benches/peer/weights_data.py report "$work" ${criterion[@]+"${criterion[@]}"}
