#!/usr/bin/env bash
# `palisade data anonymize` and `palisade data synthesize` on a generated patient table
# (release build, one thread). Prints a Markdown table: rows, seconds, rows/s, and what the
# reports say (k, l and suppression; fidelity and closeness).
#
#   bash bench/data.sh            # ROWS=100000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-100000}"
cargo build --release --quiet --bin palisade
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$ROWS" <<'PY'
import csv, random, sys
work, rows = sys.argv[1], int(sys.argv[2])
random.seed(1)
zips = ["94107", "94110", "94103", "10001", "10002", "60601", "60602", "03601", "02134", "73301"]
with open(f"{work}/patients.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["patient_id", "name", "email", "age", "sex", "zip", "dob", "notes", "diagnosis", "bmi", "glucose"])
    for i in range(rows):
        age = random.randint(18, 95)
        bmi = round(random.gauss(22 + age * 0.08, 4), 1)
        glucose = round(70 + bmi * 1.5 + random.gauss(0, 10))
        diagnosis = random.choice(["flu", "asthma", "diabetes", "healthy"] if glucose < 120 else ["diabetes", "prediabetes"])
        note = random.choice(["", "no notes", f"SSN 536-22-{random.randint(1000, 9999)} on file", f"call 415-555-{random.randint(1000, 9999)}"])
        w.writerow([100000 + i, f"Person {i}", f"p{i}@example.com", age, random.choice("FM"), random.choice(zips),
                    f"{2025 - age}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}", note, diagnosis, bmi, glucose])
open(f"{work}/hash.key", "w").write("5a" * 32)
open(f"{work}/rules.toml", "w").write('''
hash_key = "hash.key"
[columns]
patient_id = "drop"
name = "drop"
email = "hash"
age = { generalize = "age", width = 10 }
sex = "keep"
zip = { generalize = "zip", keep = 3 }
dob = { generalize = "date", to = "year" }
notes = "redact"
diagnosis = "keep"
bmi = "keep"
glucose = "keep"
[privacy]
quasi_identifiers = ["age", "sex", "zip", "dob"]
k = 5
sensitive = ["diagnosis"]
l = 2
''')
PY
p=target/release/palisade
mb=$(python3 -c "import os; print(os.path.getsize('$work/patients.csv') / 1e6)")
t0=$(date +%s.%N)
"$p" data anonymize "$work/patients.csv" "$work/anon.csv" --rules "$work/rules.toml" --report "$work/anon.json" 2>/dev/null
t1=$(date +%s.%N)
"$p" data synthesize "$work/patients.csv" "$work/syn.csv" --rows "$ROWS" --seed 1 --report "$work/syn.json" 2>/dev/null
t2=$(date +%s.%N)
python3 - "$work" "$ROWS" "$mb" "$t0" "$t1" "$t2" <<'PY'
import json, sys
work, rows, mb, t0, t1, t2 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *map(float, sys.argv[4:])
a = json.load(open(f"{work}/anon.json")); s = json.load(open(f"{work}/syn.json"))
print(f"Input: {rows:,} rows, {mb:.1f} MB of CSV, 11 columns.\n")
print("| tool | seconds | rows/s | MB/s | result |")
print("|---|---|---|---|---|")
print(f"| anonymize | {t1 - t0:.2f} | {rows / (t1 - t0):,.0f} | {mb / (t1 - t0):.1f} | k {a['before']['k']} → {a['after']['k']}, l {a['before']['l']} → {a['after']['l']}, {a['suppressed']} rows suppressed, PII redacted {a['pii_redacted']} |")
worst = max(c["distance"] for c in s["columns"])
p = s["privacy"]
print(f"| synthesize | {t2 - t1:.2f} | {rows / (t2 - t1):,.0f} | — | worst column distance {worst:.3f}, correlation difference mean {s['correlation']['mean_abs_difference']:.3f} / max {s['correlation']['max_abs_difference']:.3f}; {p['exact_matches']} exact matches ({p['resampled']} redrawn); DCR p5 synthetic {p['synthetic_to_real']['dcr_p5']:.4f} vs real {p['real_to_real']['dcr_p5']:.4f} |\n")
print("| column | kind | distance |")
print("|---|---|---|")
for c in s["columns"]:
    print(f"| {c['name']} | {c['kind']} | {c['metric']} {c['distance']:.3f} |")
print("\nLeft out by synthesize: " + ", ".join(f"{c} ({w.split(';')[0]})" for c, w in s["left_out"]))
PY
