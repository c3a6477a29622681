#!/usr/bin/env bash
# The CI benchmark step: the criterion benches in quick mode, then the peer comparisons at
# a reduced scale, each under a header, with their tables and ratios, and a summary of the
# time each step took. Timings are printed, never judged: the script exits non-zero only
# if a step fails (a tool crashes, a file is missing, results disagree), so that the
# benchmarks keep running; slow or fast, it exits 0. About 1.5 min on 2 cores once
# compiled (the criterion benches ~30 s, the peers ~60 s, the venv check a few seconds;
# a fresh venv adds its pip download).
#
# Usage: [DOTATION_BIN=target/release/dotation] benches/ci.sh
#   DOTATION_BIN    the release `dotation`; aggregate_peer and calibrate_peer are expected
#                   next to it (`cargo build --release -p dotation-server -p dotation-benches
#                   --bins`). Unset: this script builds them into target/release.
#   BENCHES         the criterion benches to run (default: "calibrate aggregate"; empty: none)
#   CRITERION_ARGS  their arguments (default: quick mode, below)
#   PEERS           the peer steps to run (default: "national calibrate aggregate flight";
#                   empty: none)
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

BENCHES="${BENCHES-calibrate aggregate}"
# --quick: 1, 2, 4… iterations until two successive batches agree within 5 % or the
# measurement time (1 s) is spent: a few seconds per benchmark whatever its size (a plain
# run would take the bench's sample_size, at least 10 iterations). Nothing is saved as a
# baseline, so a local run does not replace the baseline of a full one.
CRITERION_ARGS="${CRITERION_ARGS:---quick --warm-up-time 0.5 --measurement-time 1 --nresamples 10000 --noplot --discard-baseline}"
PEERS="${PEERS-national calibrate aggregate flight}"

names=()
seconds=()
results=()
failed=0

now() { date +%s%3N; }  # milliseconds

# step NAME COMMAND...: runs the command under a header, records its time and outcome.
step() {
  local name="$1"; shift
  echo
  echo "==== bench: $name"
  [ "$(type -t "$1")" = function ] || echo "     \$ $*"
  local t0 rc
  t0="$(now)"
  "$@"
  rc=$?
  local ms=$(($(now) - t0))
  names+=("$name")
  seconds+=("$((ms / 1000)).$((ms % 1000 / 100))")
  if [ "$rc" -eq 0 ]; then
    results+=("ok")
  else
    results+=("FAILED (exit $rc)")
    failed=1
    echo "!!!! bench: $name failed (exit $rc)"
  fi
  return 0
}

summary() {
  echo
  echo "==== bench: summary (times in seconds; timings are reported, never judged)"
  echo "| step | seconds | result |"
  echo "|---|---|---|"
  local i
  for i in "${!names[@]}"; do
    echo "| ${names[$i]} | ${seconds[$i]} | ${results[$i]} |"
  done
}
trap summary EXIT

# The release binaries, built once.
if [ -z "${DOTATION_BIN:-}" ]; then
  step "build the release binaries" \
    cargo build --release -p dotation-server -p dotation-benches --bins
  DOTATION_BIN="${CARGO_TARGET_DIR:-target}/release/dotation"
fi
if [ ! -x "$DOTATION_BIN" ]; then
  echo "DOTATION_BIN=$DOTATION_BIN: no such binary" >&2
  exit 1
fi
export DOTATION_BIN
echo "binary: $DOTATION_BIN ($("$DOTATION_BIN" --version)); $(nproc) cores"

# criterion_bench BENCH ARGS...: one bench, without criterion's progress lines; the exit
# status is cargo's.
criterion_bench() {
  local b="$1"; shift
  echo "     \$ cargo bench --quiet -p dotation-benches --bench $b -- $*"
  cargo bench --quiet -p dotation-benches --bench "$b" -- "$@" 2>&1 |
    { grep -v '^Benchmarking ' || true; }
}

# The criterion benches: compiled first (so that their run times exclude compilation).
bench_flags=()
for b in $BENCHES; do bench_flags+=(--bench "$b"); done
if [ "${#bench_flags[@]}" -gt 0 ]; then
  step "compile the criterion benches ($BENCHES)" \
    cargo bench --quiet -p dotation-benches "${bench_flags[@]}" --no-run
  [ "${results[-1]}" = ok ] || BENCHES=""  # reported once, as the compile step
  for b in $BENCHES; do
    # shellcheck disable=SC2086 # CRITERION_ARGS is a list of arguments
    step "criterion: $b (quick)" criterion_bench "$b" $CRITERION_ARGS
  done
fi

# The peers' Python environment, made once (each script checks it again, a no-op then).
venv=benches/peer/.venv
setup_venv() {
  { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } &&
    "$venv/bin/pip" install --quiet -r benches/peer/requirements.txt &&
    "$venv/bin/python" -c "import duckdb, numpy, pandas, polars, pyarrow, quadprog, statsmodels;
print('python', __import__('sys').version.split()[0], '| polars', polars.__version__,
      '| duckdb', duckdb.__version__, '| pyarrow', pyarrow.__version__,
      '| statsmodels', statsmodels.__version__)"
}
if [ -n "$PEERS" ]; then
  step "python peers (benches/peer/.venv)" setup_venv
fi

for p in $PEERS; do
  case "$p" in
    national)
      step "peer: DuckDB and polars vs dotation end to end, survey scale, 1 run" \
        benches/peer/national.sh survey 1 ;;
    calibrate)
      step "peer: statsmodels and quadprog vs dotation's calibration, national, 3 repeats" \
        benches/peer/run_calibrate.sh 3 ;;
    aggregate)
      step "peer: polars vs dotation's visit aggregation, 2,000,000 visits, 2 repeats" \
        benches/peer/run.sh 2000000 2 ;;
    flight)
      step "peer: pyarrow's Flight server vs dotation serve, 3 repeats, 4 jobs" \
        benches/peer/flight.sh 3 4 ;;
    *)
      echo "unknown peer step: $p (national, calibrate, aggregate, flight)" >&2
      failed=1 ;;
  esac
done

exit "$failed"
