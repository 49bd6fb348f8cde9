#!/usr/bin/env bash
# Scanner throughput: `palisade models scan` vs picklescan on the same files, one run,
# same machine. Prints a Markdown table (paste it into docs/benchmarks.md).
#
#   bash bench/scan.sh            # REPEAT=5 runs each, best kept
#
# Two sets: the committed corpus (20 small crafted samples: start-up dominates), and the
# corpus plus large benign artifacts (a 64 MiB NumPy array pickle, a scikit-learn random
# forest pickle, a torch-style zip over 64 MiB of storage), where reading dominates.
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT="${REPEAT:-5}"
venv=.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
cargo build --release --quiet --bin palisade
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp -r tests/fixtures/scan-corpus "$work/small"
rm "$work/small/expected.json"
cp -r "$work/small" "$work/large"
"$venv/bin/python" - "$work/large" <<'PY'
import io, pickle, struct, sys, zipfile
import numpy as np
from sklearn.ensemble import RandomForestClassifier
out = sys.argv[1]
rng = np.random.default_rng(0)
with open(f"{out}/array.pkl", "wb") as f:
    pickle.dump({"w": rng.standard_normal(8 << 20).astype(np.float64)}, f, protocol=4)
x = rng.standard_normal((2000, 20)); y = (x[:, 0] > 0).astype(int)
with open(f"{out}/forest.pkl", "wb") as f:
    pickle.dump(RandomForestClassifier(n_estimators=50, random_state=0).fit(x, y), f, protocol=5)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("archive/data.pkl", pickle.dumps({"weight": b"storage-ref"}, protocol=2))
    z.writestr("archive/data/0", rng.bytes(64 << 20))
open(f"{out}/big.pt", "wb").write(buf.getvalue())
PY

best() {  # best wall time in seconds of REPEAT runs of "$@"
  local b=""
  for _ in $(seq "$REPEAT"); do
    local s e t
    s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}

echo "| files | bytes | palisade models scan | picklescan 1.0.5 | palisade / picklescan |"
echo "|---|---|---|---|---|"
for set in small large; do
  dir="$work/$set"
  files=$(find "$dir" -type f | wc -l)
  bytes=$(du -sb "$dir" | cut -f1)
  p=$(best target/release/palisade models scan "$dir" --format json)
  q=$(best "$venv/bin/picklescan" --path "$dir")
  mb=$(echo "$bytes / 1000000" | bc -l)
  printf '| %s (%d) | %.2f MB | %.3f s, %.0f MB/s | %.3f s, %.0f MB/s | %.1fx |\n' \
    "$set" "$files" "$mb" "$p" "$(echo "$mb / $p" | bc -l)" "$q" "$(echo "$mb / $q" | bc -l)" "$(echo "$q / $p" | bc -l)"
done
