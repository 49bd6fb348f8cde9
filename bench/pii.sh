#!/usr/bin/env bash
# PII engine vs Microsoft Presidio's AnalyzerEngine on the same labeled corpus (and on the same
# prose), same machine, one run. Prints Markdown tables (paste them into docs/benchmarks.md): throughput (scan and
# redact MB/s, single-threaded) and per-entity precision / recall / F1 (exact type and span).
#
#   bash bench/pii.sh            # REPEAT=100 copies of the corpus for Palisade's throughput
#
# Presidio runs its predefined pattern recognizers only (the spaCy NER recognizer removed) on
# a blank spaCy English pipeline saved to disk, so no model is downloaded; it is scored at its
# default threshold. Palisade runs `palisade pii` (release build, one thread).
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT="${REPEAT:-100}"
venv=bench/.venv-pii
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check presidio-analyzer
fi
cargo build --release --quiet --bin palisade
# The engine alone, in-process on the same corpus (as Presidio is measured): benches/scan.rs.
bench_table=$(cargo bench --quiet -p palisade-pii --bench scan 2>/dev/null)
engine_mbs=$(awk -F'|' '/labeled corpus/ {gsub(/ /, "", $5); print $5}' <<<"$bench_table")
prose_mbs=$(awk -F'|' '/prose with PII/ {gsub(/ /, "", $5); print $5}' <<<"$bench_table")
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" - tests/fixtures/pii-corpus.jsonl "$work" "$REPEAT" target/release/palisade "$engine_mbs" "$prose_mbs" <<'PY'
import json, subprocess, sys, time
from collections import defaultdict

corpus, work, repeat, palisade = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
engine_mbs, prose_mbs = float(sys.argv[5]), float(sys.argv[6])
rows = [json.loads(l) for l in open(corpus, encoding="utf-8")]
texts = [r["text"] for r in rows]
labels = [{(s["start"], s["end"], s["type"]) for s in r["spans"]} for r in rows]
# One JSON object per row, scanned as records (`--fields text`), so context never crosses rows.
lines = [json.dumps({"text": t}, ensure_ascii=False) for t in texts]
one = "\n".join(lines) + "\n"
one_bytes = sum(len(t.encode()) for t in texts)
with open(f"{work}/corpus.jsonl", "w", encoding="utf-8") as f:
    f.write(one)
with open(f"{work}/big.jsonl", "w", encoding="utf-8") as f:
    f.write(one * repeat)

def best(cmd, runs=3):
    t = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
        t = min(t, time.perf_counter() - start)
    return t

# Palisade: spans over the one-copy file, mapped back to each row's text.
scan = [palisade, "pii", "scan", "--fields", "text", "--format", "json"]
out = subprocess.run(scan + [f"{work}/corpus.jsonl"], capture_output=True, text=True)
starts, at = [], 0
for line in lines:
    starts.append(at + len('{"text": "'))
    at += len(line.encode()) + 1
ours = [set() for _ in rows]
for s in json.loads(out.stdout)["spans"]:
    row = s["line"] - 1
    ours[row].add((s["start"] - starts[row], s["end"] - starts[row], s["type"]))
scan_s = best(scan + [f"{work}/big.jsonl"])
redact_s = best([palisade, "pii", "redact", "--fields", "text", f"{work}/big.jsonl"])
big_mb = one_bytes * repeat / 1e6  # text bytes only, as for Presidio

# Presidio: pattern recognizers, blank spaCy pipeline from disk.
import spacy
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpEngineProvider
spacy.blank("en").to_disk(f"{work}/blank_en")
nlp = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": f"{work}/blank_en"}]}).create_engine()
registry = RecognizerRegistry()
registry.load_predefined_recognizers(nlp_engine=nlp)
for r in list(registry.recognizers):
    if r.name in ("SpacyRecognizer",):
        registry.remove_recognizer(r.name)
analyzer = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])
supported = set(analyzer.get_supported_entities("en"))
start = time.perf_counter()
theirs = []
for t in texts:
    found = set()
    for r in analyzer.analyze(text=t, language="en"):
        b0 = len(t[:r.start].encode()); b1 = len(t[:r.end].encode())
        found.add((b0, b1, r.entity_type))
    theirs.append(found)
presidio_s = time.perf_counter() - start

# Prose: the text of benches/scan.rs (English paragraphs, one entity every ~300 bytes), the
# density of real documents. Presidio gets 256 kB in paragraph-sized texts; Palisade's engine
# figure is the bench's 64 MiB row, its CLI scans 100 copies of the same 256 kB as text.
PROSE = ("The quarterly review covered the migration plan, the budget for the next release and "
         "the staffing of the support rotation. Nobody raised objections to the schedule, although "
         "two teams asked for more time to finish their integration tests before the freeze. ")
PII = ["Contact jane.doe@example.com for details. ", "Her number is (415) 555-2671. ",
       "SSN 536-22-1234 was on the form. ", "Card 4111 1111 1111 1111 was charged. ",
       "Login from 203.0.113.42 was blocked. ", "IBAN GB82 WEST 1234 5698 7654 32 for refunds. ",
       "See https://example.com/orders/12345 for the order. ", "She was born on 14/03/1987. "]
paragraphs = [PROSE + PII[i % len(PII)] for i in range(256_000 // 320)]
prose_bytes = sum(len(p.encode()) for p in paragraphs)
with open(f"{work}/prose.txt", "w") as f:
    f.write("\n".join(paragraphs * repeat) + "\n")
prose_cli_s = best([palisade, "pii", "scan", "--format", "json", f"{work}/prose.txt"])
start = time.perf_counter()
for p in paragraphs:
    analyzer.analyze(text=p, language="en")
presidio_prose_mbs = prose_bytes / 1e6 / (time.perf_counter() - start)

def prf(pred, gold, types):
    tally = defaultdict(lambda: [0, 0, 0])
    for p, g in zip(pred, gold):
        for x in p:
            if x[2] in types:
                tally[x[2]][0 if x in g else 1] += 1
        for x in g:
            if x[2] in types and x not in p:
                tally[x[2]][2] += 1
    out = {}
    for t in types:
        tp, fp, fn = tally[t]
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out[t] = (p, r, 2 * p * r / (p + r) if p + r else 0.0)
    return out

types = sorted({x[2] for g in labels for x in g})
both = [t for t in types if t in supported]
six = ["CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "PHONE_NUMBER", "US_SSN"]
mine, yours = prf(ours, labels, types), prf(theirs, labels, types)
mb = one_bytes / 1e6
print(f"Corpus: {len(rows)} rows, {one_bytes / 1e3:.0f} kB of text; Palisade throughput over {repeat} copies ({big_mb:.1f} MB of text, read as JSON Lines).\n")
print("| | Palisade | Presidio | Palisade / Presidio |")
print("|---|---|---|---|")
presidio_mbs = mb / presidio_s
print(f"| scan MB/s, engine in-process (both as libraries) | {engine_mbs:.1f} | {presidio_mbs:.3f} | {engine_mbs / presidio_mbs:,.0f}x |")
print(f"| scan MB/s, `palisade pii scan --format json` (CLI, JSON Lines in, every span out) | {big_mb / scan_s:.1f} | {presidio_mbs:.3f} | {(big_mb / scan_s) / presidio_mbs:,.0f}x |")
print(f"| redact MB/s (CLI) | {big_mb / redact_s:.1f} | — | — |")
macro = lambda m, ts: sum(m[t][2] for t in ts) / len(ts)
print(f"| macro F1, six common types | {macro(mine, six):.3f} | {macro(yours, six):.3f} | |")
print(f"| macro F1, the {len(both)} types both detect | {macro(mine, both):.3f} | {macro(yours, both):.3f} | |\n")
print(f"Prose ({prose_bytes / 1e3:.0f} kB, an entity every ~300 bytes):\n")
print("| | Palisade | Presidio | Palisade / Presidio |")
print("|---|---|---|---|")
print(f"| scan MB/s, engine in-process (benches/scan.rs, 64 MiB) | {prose_mbs:.1f} | {presidio_prose_mbs:.3f} | {prose_mbs / presidio_prose_mbs:,.0f}x |")
prose_cli_mbs = prose_bytes * repeat / 1e6 / prose_cli_s
print(f"| scan MB/s, `palisade pii scan --format json` | {prose_cli_mbs:.1f} | {presidio_prose_mbs:.3f} | {prose_cli_mbs / presidio_prose_mbs:,.0f}x |\n")
print("| entity | Palisade P / R / F1 | Presidio P / R / F1 |")
print("|---|---|---|")
for t in types:
    p = "%.3f / %.3f / %.3f" % mine[t]
    q = "%.3f / %.3f / %.3f" % yours[t] if t in supported else "not detected"
    print(f"| {t} | {p} | {q} |")
PY
