//! The dataset tools on arbitrary input: a CSV or JSON Lines table (first byte picks which)
//! parses or fails cleanly, what parses survives a write and a re-read, and anonymizing and
//! synthesizing it never panic.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use palisade_pii::dataset::{self, Format, Formulas, Limits, Rules, SynthesisOptions, Table};
use palisade_pii::{Engine, Keys};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new().expect("engine"))
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&pick, body)) = bytes.split_first() else {
        return;
    };
    let format = if pick & 1 == 0 { Format::Csv } else { Format::JsonLines };
    let limits = Limits {
        max_bytes: 8192,
        max_columns: 16,
        max_cell_bytes: 512,
    };
    let Ok(table) = Table::from_reader(body, format, limits, "fuzz") else {
        return;
    };
    let mut written = Vec::new();
    table
        .write_to(&mut written, format, Formulas::DangerousKeep)
        .expect("writing to memory");
    let again = Table::from_reader(&written[..], format, Limits::default(), "again")
        .expect("what was written reads back");
    assert_eq!(again.columns, table.columns);
    assert_eq!(again.rows.len(), table.rows.len());
    // Neutralized output reads back too, with the same shape.
    let mut safe = Vec::new();
    table
        .write_to(&mut safe, format, Formulas::Neutralize)
        .expect("writing to memory");
    let again = Table::from_reader(&safe[..], format, Limits::default(), "safe")
        .expect("what was written reads back");
    assert_eq!(again.rows.len(), table.rows.len());
    let Some(first) = table.columns.first() else {
        return;
    };
    let rules = Rules::parse(
        &format!(
            "default = \"redact\"\n[privacy]\nquasi_identifiers = [{}]\nk = 2\nmax_suppressed = 1.0\n",
            serde_json::to_string(first).expect("a string")
        ),
        "rules",
    );
    if let Ok(rules) = rules {
        let _ = dataset::anonymize(table.clone(), &rules, engine(), &Keys::default());
    }
    let options = SynthesisOptions {
        rows: 20,
        seed: Some(u64::from(pick)),
        privacy_sample: 20,
        ..SynthesisOptions::default()
    };
    let _ = dataset::synthesize(&table, &options, engine());
});
