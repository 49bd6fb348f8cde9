#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (the real binary over real TLS),
# then the Python client tests (tritonclient against the binary, onnxruntime as reference).
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need from the system, installed when missing: Python's venv module and a
# real Redis for the shared-limits tests (they start their own on a free loopback port).
need_apt=()
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# onnxruntime's StringNormalizer (the reference for Palisade's) needs the en_US locale's sources.
[ -e /usr/share/i18n/locales/en_US ] || need_apt+=(locales)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing ${need_apt[*]} (Debian packages the tests need)" >&2
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

venv="${PALISADE_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt

# The dependency scan (crates/palisade/tests/it/dependencies.rs) reads the offline RustSec
# snapshot; without one it cannot scan, and says so here rather than pass in silence.
advisory_db="${PALISADE_ADVISORY_DB:-../shared/advisory-db}"
[ -d "$advisory_db/crates" ] || echo "WARNING: no RustSec advisory snapshot at $advisory_db: dependencies are not scanned (set PALISADE_ADVISORY_DB)" >&2

# Also builds target/debug/palisade, which the integration tests and the Python tests run.
cargo test --workspace --all-targets
PALISADE_BIN="$PWD/target/debug/palisade" "$venv/bin/python" -m pytest -q tests/python
