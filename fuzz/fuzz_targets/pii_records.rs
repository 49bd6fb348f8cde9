//! The JSON Lines and CSV record readers of `palisade pii`: never a panic; every field's
//! spans map inside its record; a rewrite that changes nothing gives the record back byte
//! for byte; a rewrite that changes every value is still valid JSON (a JSON line) or reads
//! back as the same number of cells (CSV).
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_pii::records::{CsvRecords, FieldKind, JsonLines, Record};

fn check(record: &Record) {
    for f in &record.fields {
        assert!(f.raw.0 <= f.raw.1 && f.raw.1 <= record.raw.len());
        if !f.value.is_empty() {
            let (s, e) = f.raw_span(0, f.value.len());
            assert!(f.raw.0 <= s && s < e && e <= f.raw.1, "{f:?}");
        }
    }
    assert_eq!(record.rewrite(|_| None, false), record.raw);
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&kind, input)) = bytes.split_first() else { return };
    if kind % 2 == 0 {
        for record in JsonLines::new(input).flatten() {
            check(&record);
            let out = record.rewrite(|_| Some("<X\"\\>".to_string()), false);
            let text = String::from_utf8(out).expect("UTF-8 out");
            if !text.trim().is_empty() {
                serde_json::from_str::<serde_json::Value>(text.trim_end_matches(['\n', '\r']))
                    .expect("a rewritten line is valid JSON");
            }
        }
    } else {
        let records: Vec<Record> = CsvRecords::new(input).flatten().collect();
        for record in &records {
            check(record);
            let out = record.rewrite(|_| Some("a,\"b\"\nc".to_string()), true);
            let cells = record.fields.iter().filter(|f| f.kind == FieldKind::CsvCell).count();
            if cells > 0 {
                let again: Vec<Record> = CsvRecords::new(&out[..]).flatten().collect();
                assert_eq!(again.first().map(|r| r.fields.len()), Some(cells));
            }
        }
    }
});
