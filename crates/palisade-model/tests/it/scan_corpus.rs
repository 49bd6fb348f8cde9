//! The committed corpus (`scripts/make_scan_corpus.py`): every sample judged as
//! `expected.json` says: format, worst severity and the rule behind it.

use std::path::Path;

use palisade_model::scan::{scan_bytes, Limits};
use serde_json::Value;

#[test]
fn every_corpus_sample_is_judged_as_expected() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/scan-corpus");
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("expected.json")).unwrap())
            .unwrap();
    assert!(expected.len() >= 20);
    let mut wrong = Vec::new();
    for (name, want) in &expected {
        let path = corpus.join(name);
        let data = std::fs::read(&path).unwrap();
        let report = scan_bytes(name, &data, path.parent(), Limits::default());
        let top = report.findings.first();
        let got = (
            serde_json::to_value(report.format).unwrap(),
            top.map(|f| Value::from(f.severity.as_str()))
                .unwrap_or(Value::Null),
            top.map(|f| Value::from(f.rule)).unwrap_or(Value::Null),
        );
        if got
            != (
                want["format"].clone(),
                want["severity"].clone(),
                want["rule"].clone(),
            )
        {
            wrong.push(format!(
                "{name} ({}): got {got:?}, want {want}",
                want["what"]
            ));
        }
    }
    assert!(wrong.is_empty(), "misjudged:\n{}", wrong.join("\n"));

    // Nothing in the folder escapes the table.
    let mut on_disk = Vec::new();
    let mut dirs = vec![corpus.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let rel = p
                    .strip_prefix(&corpus)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if rel != "expected.json" {
                    on_disk.push(rel);
                }
            }
        }
    }
    for f in on_disk {
        assert!(expected.contains_key(&f), "{f} has no expected verdict");
    }
}
