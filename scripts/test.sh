#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (the real binary over real TLS),
# then the Python client tests (tritonclient against the binary, onnxruntime as reference).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${PALISADE_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt

# Also builds target/debug/palisade, which the integration tests and the Python tests run.
cargo test --workspace --all-targets
PALISADE_BIN="$PWD/target/debug/palisade" "$venv/bin/python" -m pytest -q tests/python
