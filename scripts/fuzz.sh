#!/usr/bin/env bash
# Run fuzz targets for a bounded time each and print how many inputs each tried.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (default: 60 s, every target)
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets the stable toolchain
# build the sanitizer instrumentation. A crash stops the script with libFuzzer's report and
# the input saved under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
fi
for t in "${targets[@]}"; do
  RUSTC_BOOTSTRAP=1 cargo fuzz build -O "$t" 2>/dev/null
  mkdir -p "corpus/$t"
  # Committed seeds: escaped, invisible-character and amplification inputs (issue 12).
  [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  log=$(mktemp)
  # -timeout: one input taking over 2 s counts as a crash (super-linear blow-ups).
  RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" -- -max_total_time="$seconds" -timeout=2 >"$log" 2>&1 || { cat "$log"; exit 1; }
  runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || true)
  printf '%-22s %4s s  %12s runs  no crash\n' "$t" "$seconds" "${runs:-?}"
  rm -f "$log"
done
