#!/usr/bin/env bash
# The reports in a real browser: installs Debian's chromium when /usr/bin/chromium is absent
# (no browser download), makes the reports of the embedded survey's default calibration
# (French, with --report; English, from the result folder with `dotation report`), of
# its baseline, of survey weights calibrated to the reference margins and of the
# calibration applied to the national frame without visits, and checks each in headless Chromium with check_report.py: no console
# error, no network request, every plot rendered with the number of marks the result
# tables call for, the headline equal to summary.json at the precision shown, at most 2 MB.
# Screenshots are written to target/report-*.png. Takes `dotation` from $DOTATION_BIN when
# set (as .ci/run does), else builds it; pyarrow comes from the venv of the pyarrow client
# (examples/ci_client.sh), made here when absent.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
if [ -n "${DOTATION_BIN:-}" ]; then
    bin="$DOTATION_BIN"
else
    cargo build --quiet --release -p dotation-server
    bin="$target/release/dotation"
fi
[ -x "$bin" ] || { echo "$bin is not an executable" >&2; exit 1; }

chromium=/usr/bin/chromium
if [ ! -x "$chromium" ]; then
    echo "== installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium > /dev/null
fi

venv="${DOTATION_VENV:-$target/pyvenv}"
if ! "$venv/bin/python" -c "import pyarrow" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check pyarrow pandas
fi
py="$venv/bin/python"

out="$target/report-check"
rm -rf "$out"
mkdir -p "$out"
"$bin" --quiet calibrate --out "$out/calibration" --report "$out/calibration.fr.html" --lang fr
"$bin" --quiet report --results "$out/calibration" --out "$out/calibration.en.html" --lang en
"$bin" --quiet report --results "$out/calibration" --out "$out/calibration.fr.again.html"
# The report of a job that just ran and that of its result folder are the same bytes.
cmp "$out/calibration.fr.html" "$out/calibration.fr.again.html"
"$bin" --quiet baseline --out "$out/baseline" --report "$out/baseline.fr.html"
"$bin" --quiet weights --margins tests/reference/weights/margins.csv --method logit \
    --bounds 0.4,1.5 --out "$out/weights" --report "$out/weights.fr.html"
"$bin" --quiet generate --scale national --no-visits --out "$out/frame"
"$bin" --quiet apply --calibration "$out/calibration" --data "$out/frame" --out "$out/apply" \
    --report "$out/apply.en.html" --lang en

status=0
for check in \
    "calibrate $out/calibration $out/calibration.fr.html $target/report-calibration.png" \
    "calibrate $out/calibration $out/calibration.en.html $target/report-calibration-en.png" \
    "baseline $out/baseline $out/baseline.fr.html $target/report-baseline.png" \
    "weights $out/weights $out/weights.fr.html $target/report-weights.png" \
    "apply $out/apply $out/apply.en.html $target/report-apply.png"; do
    set -- $check
    "$py" tests/report/check_report.py --chromium "$chromium" --kind "$1" --results "$2" \
        --report "$3" --screenshot "$4" || status=1
done
exit $status
