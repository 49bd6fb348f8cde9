#!/usr/bin/env bash
# Palisade vs MLServer on the same iris logistic regression, same load generator, same
# machine, one run. Prints a Markdown table (paste it into docs/benchmarks.md).
#
#   bash bench/run.sh            # defaults: wrk -t1 -c32 -d15s
#   DURATION=30s CONNECTIONS=64 bash bench/run.sh
#   DURABILITY=interval bash bench/run.sh   # audit entries synced every 100 ms instead of per call
#
# The bare server (bench/bare) is the limit: the same TLS, token compare, V2 JSON, model and
# runtime, nothing else; Palisade / bare is what the controls cost.
# Palisade runs with every control of the serving core on: TLS 1.3, API key, Cedar policy,
# input validation, Merkle audit log with per_call durability (each answer waits for its
# entry's fsync, shared with concurrent calls). MLServer runs as it ships: plain HTTP, no auth.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
work="$(mktemp -d)"
cleanup() { for pid in "${PAL_PID:-}" "${MLS_PID:-}" "${BARE_PID:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
venv=bench/.venv
if [ ! -x "$venv/bin/mlserver" ]; then
  python3 -m venv "$venv"
  # uvloop 0.22+ breaks MLServer 1.7's inference workers ("no current event loop" at start).
  "$venv/bin/pip" install --quiet --disable-pip-version-check mlserver mlserver-sklearn "uvloop<0.22"
fi
cargo build --release --quiet -p palisade -p palisade-bare

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 300); do curl -skf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "timeout waiting for $1" >&2; return 1; }
BODY='{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks

run_wrk() { # url token [server pid] -> "req/s p50_ms p99_ms server_cpu_us_per_call"
  local before=0 used=-1
  [ -n "${3:-}" ] && before=$(cpu_ticks "$3")
  BENCH_BODY="$BODY" BENCH_TOKEN="$2" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post.lua "$1" > "$work/wrk.txt"
  [ -n "${3:-}" ] && used=$(( $(cpu_ticks "$3") - before ))
  python3 - "$work/wrk.txt" "$used" "$(getconf CLK_TCK)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
used, tick = int(sys.argv[2]), int(sys.argv[3])
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors:
    sys.exit(f"wrk saw {errors.group(1)} failed responses:\n{text}")
calls = int(re.search(r"(\d+) requests in", text).group(1))
# The server's own CPU (its threads, not wrk's) per answered call, in microseconds.
cpu = f"{used / tick / calls * 1e6:.1f}" if used >= 0 else "-"
print(f"{rps:.0f} {lat['50']:.3f} {lat['99']:.3f} {cpu}")
PY
}

# --- MLServer --------------------------------------------------------------------------
mkdir -p "$work/mlserver/iris"
"$venv/bin/python" bench/iris_mlserver.py "$work/mlserver/iris"
MLS_PORT=$(free_port)
(cd "$work/mlserver" && MLSERVER_HTTP_PORT=$MLS_PORT MLSERVER_GRPC_PORT=$(free_port) MLSERVER_METRICS_PORT=$(free_port) \
  MLSERVER_HOST=127.0.0.1 exec "$OLDPWD/$venv/bin/mlserver" start . > "$work/mlserver.log" 2>&1) &
MLS_PID=$!
wait_for "http://127.0.0.1:$MLS_PORT/v2/models/iris/ready"
read -r mls_rps mls_p50 mls_p99 _ < <(run_wrk "http://127.0.0.1:$MLS_PORT/v2/models/iris/infer" "")
kill "$MLS_PID"; wait "$MLS_PID" 2>/dev/null || true; MLS_PID=

# --- Palisade --------------------------------------------------------------------------
PAL_PORT=$(free_port)
DURABILITY="${DURABILITY:-per_call}"
if [ "$DURABILITY" != per_call ]; then
  # Make the demo state once, then switch its audit durability before the measured run.
  target/release/palisade demo --state-dir "$work/palisade" --port "$PAL_PORT" --admin-port 0 > /dev/null 2>&1 &
  PAL_PID=$!
  wait_for "https://127.0.0.1:$PAL_PORT/v2/health/ready"
  kill "$PAL_PID"; wait "$PAL_PID" 2>/dev/null || true; PAL_PID=
  sed -i "s/^durability = \"per_call\"/durability = \"$DURABILITY\"/" "$work/palisade/palisade.toml"
fi
target/release/palisade demo --state-dir "$work/palisade" --port "$PAL_PORT" --admin-port 0 > "$work/palisade.out" 2> "$work/palisade.log" &
PAL_PID=$!
wait_for "https://127.0.0.1:$PAL_PORT/v2/health/ready"
read -r pal_rps pal_p50 pal_p99 pal_cpu < <(run_wrk "https://127.0.0.1:$PAL_PORT/v2/models/iris/infer" "$(cat "$work/palisade/keys/client.token")" "$PAL_PID")
kill "$PAL_PID"; wait "$PAL_PID" 2>/dev/null || true; PAL_PID=
audit_lines=$(cat "$work"/palisade/audit/segments/*.jsonl | wc -l)

# --- the bare server, on the demo's certificate and client token -------------------------
BARE_PORT=$(free_port)
target/release/palisade-bare models/iris/1/model.onnx "$work/palisade/tls/server.pem" "$work/palisade/tls/server.key" \
  "$work/palisade/keys/client.token" "$BARE_PORT" > "$work/bare.out" 2>&1 &
BARE_PID=$!
for _ in $(seq 1 100); do grep -q listening "$work/bare.out" && break; sleep 0.1; done
read -r bare_rps bare_p50 bare_p99 bare_cpu < <(run_wrk "https://127.0.0.1:$BARE_PORT/v2/models/iris/infer" "$(cat "$work/palisade/keys/client.token")" "$BARE_PID")
kill "$BARE_PID"; wait "$BARE_PID" 2>/dev/null || true; BARE_PID=
target/release/palisade audit verify "$work/palisade" --pubkey "$work/palisade/audit/log.pub" > /dev/null

ratio=$(python3 -c "print(f'{$pal_rps/$mls_rps:.1f}')")
of_bare=$(python3 -c "print(f'{$pal_rps/$bare_rps:.2f}')")
cat <<TABLE
Iris logistic regression, one V2 JSON inference per request, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, keep-alive, $(nproc) cores shared by server and load generator.

| server | transport and controls | req/s | p50 (ms) | p99 (ms) | server CPU per call (µs) |
|---|---|---:|---:|---:|---:|
| MLServer $("$venv/bin/pip" show mlserver 2>/dev/null | awk '/^Version/{print $2}') | plain HTTP, no auth | $mls_rps | $mls_p50 | $mls_p99 | |
| Palisade $(target/release/palisade --version | awk '{print $2}') | TLS 1.3, API key, Cedar policy, validation, audit ($DURABILITY) | $pal_rps | $pal_p50 | $pal_p99 | $pal_cpu |
| bare server (bench/bare) | TLS 1.3, token compare, V2 JSON, same model and runtime; nothing else | $bare_rps | $bare_p50 | $bare_p99 | $bare_cpu |
| ratio | Palisade / MLServer | ${ratio}x | | | |
| ratio | Palisade / bare server | ${of_bare}x | | | |

Palisade recorded $audit_lines audit events in this run; \`palisade audit verify\` passed on them.
TABLE
