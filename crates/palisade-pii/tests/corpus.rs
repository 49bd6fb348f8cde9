//! Per-entity precision and recall on the labeled corpus (`scripts/make_pii_corpus.py`):
//! positives in sentences and hard negatives. A finding counts when its type and byte span
//! match a label exactly. Thresholds (docs/pii.md): precision and recall at least 0.98 for
//! every entity type.

use std::collections::BTreeMap;

use palisade_pii::Engine;
use serde_json::Value;

const MIN_PRECISION: f64 = 0.98;
const MIN_RECALL: f64 = 0.98;

#[test]
fn every_entity_type_meets_the_thresholds() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/pii-corpus.jsonl"
    );
    let engine = Engine::new().unwrap();
    // type -> (true positives, false positives, false negatives)
    let mut tally: BTreeMap<String, (u32, u32, u32)> = BTreeMap::new();
    let mut misses = Vec::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let text = row["text"].as_str().unwrap();
        let labels: Vec<(usize, usize, String)> = row["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["start"].as_u64().unwrap() as usize,
                    s["end"].as_u64().unwrap() as usize,
                    s["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let found: Vec<(usize, usize, String)> = engine
            .scan_str(text)
            .unwrap()
            .into_iter()
            .map(|s| (s.start, s.end, s.entity.as_str().to_string()))
            .collect();
        for f in &found {
            let entry = tally.entry(f.2.clone()).or_default();
            if labels.contains(f) {
                entry.0 += 1;
            } else {
                entry.1 += 1;
                misses.push(format!(
                    "false positive {} {:?} in {text:?}",
                    f.2,
                    &text[f.0..f.1]
                ));
            }
        }
        for l in &labels {
            if !found.contains(l) {
                tally.entry(l.2.clone()).or_default().2 += 1;
                misses.push(format!("missed {} {:?} in {text:?}", l.2, &text[l.0..l.1]));
            }
        }
    }
    let mut table = String::from(
        "| entity | precision | recall | F1 | tp | fp | fn |\n|---|---|---|---|---|---|---|\n",
    );
    let mut failing = Vec::new();
    for (entity, (tp, fp, fn_)) in &tally {
        let p = f64::from(*tp) / f64::from(tp + fp).max(1.0);
        let r = f64::from(*tp) / f64::from(tp + fn_).max(1.0);
        let f1 = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        table.push_str(&format!(
            "| {entity} | {p:.3} | {r:.3} | {f1:.3} | {tp} | {fp} | {fn_} |\n"
        ));
        if p < MIN_PRECISION || r < MIN_RECALL {
            failing.push(entity.clone());
        }
    }
    println!("{table}");
    assert!(tally.len() >= 20, "every entity type is in the corpus");
    assert!(
        failing.is_empty(),
        "below the thresholds: {failing:?}\n{table}\n{}",
        misses
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
