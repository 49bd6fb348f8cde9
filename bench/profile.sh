#!/usr/bin/env bash
# Profile the served call end to end: `palisade demo` (release build) under the same wrk load
# as bench/run.sh, `perf record` on the server for a few seconds mid-run, then
#   - the top entries, self and inclusive, printed as Markdown tables;
#   - a flame graph (inferno) written to $OUT (default docs/flamegraph-<durability>.svg).
#
#   bash bench/profile.sh                       # per_call durability
#   DURABILITY=interval bash bench/profile.sh
#
# Needs perf (Debian: linux-perf) and inferno (`cargo install inferno`); installs both if
# missing. The release profile keeps line tables, and DWARF unwinding gives full stacks.
set -euo pipefail
cd "$(dirname "$0")/.."
DURABILITY="${DURABILITY:-per_call}"
OUT="${OUT:-docs/flamegraph-$DURABILITY.svg}"
work="$(mktemp -d)"
cleanup() { [ -n "${PAL_PID:-}" ] && kill "$PAL_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
command -v inferno-flamegraph >/dev/null || cargo install --quiet inferno
cargo build --release --quiet -p palisade

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ready() { for _ in $(seq 1 300); do curl -skf -o /dev/null "https://127.0.0.1:$port/v2/health/ready" && return 0; sleep 0.2; done; return 1; }
target/release/palisade demo --state-dir "$work/state" --port "$port" --admin-port 0 > /dev/null 2>&1 &
PAL_PID=$!
ready
if [ "$DURABILITY" != per_call ]; then
  kill "$PAL_PID"; wait "$PAL_PID" 2>/dev/null || true
  sed -i "s/^durability = \"per_call\"/durability = \"$DURABILITY\"/" "$work/state/palisade.toml"
  # `demo` again (it reuses the state): palisade.toml listens on the demo's default ports.
  target/release/palisade demo --state-dir "$work/state" --port "$port" --admin-port 0 > /dev/null 2>&1 &
  PAL_PID=$!
  ready
fi

BODY='{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
BENCH_BODY="$BODY" BENCH_TOKEN="$(cat "$work/state/keys/client.token")" \
  wrk -t1 -c32 -d14s --latency -s bench/post.lua "https://127.0.0.1:$port/v2/models/iris/infer" > "$work/wrk.txt" &
wrk_pid=$!
sleep 3
perf record -F 999 -g --call-graph dwarf,32768 -p "$PAL_PID" -o "$work/perf.data" -- sleep 6 > /dev/null 2>&1
wait "$wrk_pid"
kill "$PAL_PID"; wait "$PAL_PID" 2>/dev/null || true; PAL_PID=

echo "Palisade ($DURABILITY) under wrk -t1 -c32 while profiled: $(awk '/Requests\/sec/{print $2}' "$work/wrk.txt") req/s"
echo
table() { # perf report args -> the top 25 entries as a Markdown table
  perf report -i "$work/perf.data" "$@" --sort comm,symbol -g none --stdio > "$work/report.txt" 2>/dev/null
  python3 - "$work/report.txt" <<'PY'
import re, sys
print("| share of samples | thread | symbol |")
print("|---:|---|---|")
rows = 0
for line in open(sys.argv[1]):
    m = re.match(r"\s+([\d.]+)%\s+(?:[\d.]+%\s+)?(\S+)\s+\[[.k]\]\s+(.*?)\s+-\s+-\s*$", line)
    if not m or "(inlined)" in m.group(3) or m.group(3).startswith("0x"):
        continue
    symbol = m.group(3) if len(m.group(3)) <= 90 else m.group(3)[:90] + "…"
    print(f"| {m.group(1)}% | {m.group(2)} | `{symbol}` |")
    rows += 1
    if rows == 25:
        break
PY
}
echo "Self time (where the CPU is spent):"; echo
table --no-children
echo; echo "Inclusive time (what each function and its callees cost):"; echo
table --children
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf > "$work/folded"
# Frames under 0.5% of the width are left out: the graph stays readable and small.
inferno-flamegraph --title "palisade, served V2 call, durability $DURABILITY" --width 1600 --minwidth 8 < "$work/folded" > "$OUT"
echo; echo "flame graph: $OUT"
