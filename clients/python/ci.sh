#!/usr/bin/env bash
# The Python client's tests against a live server, as CI runs them: installs the package
# (clients/python, with pandas, polars and tqdm) and pytest into a venv kept in the target
# folder between runs, then runs clients/python/tests, which start `dotation serve` on
# loopback in temporary data directories (the release binary $DOTATION_BIN when set, as
# .ci/run does; else it is built) and run the notebook session (examples/notebook.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
if [ -n "${DOTATION_BIN:-}" ]; then
    bin="$DOTATION_BIN"
    [ -x "$bin" ] || { echo "DOTATION_BIN=$bin is not an executable" >&2; exit 1; }
else
    cargo build --quiet --release -p dotation-server
    bin="$target/release/dotation"
fi
# Absolute: the tests run the server from elsewhere.
export DOTATION_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

venv="${DOTATION_VENV:-$target/pyvenv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# pip reinstalls a local package every time (its code is the tree's), its dependencies
# only when missing.
"$venv/bin/pip" install --quiet --disable-pip-version-check "./clients/python[test]"
# The type hints hold (pyarrow has no stubs: its types are Any).
"$venv/bin/python" -m mypy --strict --ignore-missing-imports --no-incremental clients/python/dotation
# From the repository's root, so that `import dotation` is the installed package.
"$venv/bin/python" -m pytest clients/python/tests -q -p no:cacheprovider
