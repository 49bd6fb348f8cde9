//! Continuous dependency scanning: every crate in the workspace's and the fuzz targets'
//! lockfiles against the RustSec advisory database, read from the offline snapshot the build
//! machines carry (`../shared/advisory-db`, or `PALISADE_ADVISORY_DB`), as
//! `cargo audit --db <snapshot> --no-fetch` would. Vulnerabilities and the informational
//! advisories cargo-audit warns about (unmaintained, unsound, notice) fail the test.

use std::path::{Path, PathBuf};

use rustsec::advisory::Informational;
use rustsec::report::{Report, Settings};
use rustsec::{Database, Lockfile};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The snapshot, or `None` (said loudly) on a machine without one.
fn snapshot() -> Option<Database> {
    let db_path = std::env::var_os("PALISADE_ADVISORY_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/advisory-db"));
    if !db_path.join("crates").is_dir() {
        eprintln!(
            "SKIPPED: no RustSec advisory snapshot at {} (set PALISADE_ADVISORY_DB to one)",
            db_path.display()
        );
        return None;
    }
    let db = Database::open(&db_path).unwrap();
    assert!(
        db.iter().count() > 100,
        "{} holds too few advisories to be the RustSec database",
        db_path.display()
    );
    Some(db)
}

/// What cargo-audit reports by default: vulnerabilities, and the informational advisories.
fn report(db: &Database, lockfile: &Lockfile) -> Report {
    let settings = Settings {
        informational_warnings: vec![
            Informational::Unmaintained,
            Informational::Unsound,
            Informational::Notice,
        ],
        ..Settings::default()
    };
    Report::generate(db, lockfile, &settings)
}

#[test]
fn the_scan_finds_a_known_advisory() {
    let Some(db) = snapshot() else { return };
    // smallvec 1.6.0: RUSTSEC-2021-0003 (buffer overflow in insert_many), fixed in 1.6.1.
    let lockfile: Lockfile = "version = 3\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
        .parse()
        .unwrap();
    let found = report(&db, &lockfile).vulnerabilities.list;
    assert!(
        found
            .iter()
            .any(|v| v.advisory.id.as_str() == "RUSTSEC-2021-0003"),
        "{found:?}"
    );
}

#[test]
fn no_dependency_has_a_known_advisory() {
    let Some(db) = snapshot() else { return };
    let mut found = Vec::new();
    for lock in ["Cargo.lock", "fuzz/Cargo.lock"] {
        let lockfile = Lockfile::load(workspace().join(lock)).unwrap();
        assert!(lockfile.packages.len() > 50, "{lock} looks empty");
        let report = report(&db, &lockfile);
        for v in &report.vulnerabilities.list {
            found.push(format!(
                "{lock}: {} {}: {} ({})",
                v.package.name, v.package.version, v.advisory.id, v.advisory.title
            ));
        }
        for w in report.warnings.values().flatten() {
            let id = w.advisory.as_ref().map(|a| a.id.to_string());
            found.push(format!(
                "{lock}: {} {}: {:?} {}",
                w.package.name,
                w.package.version,
                w.kind,
                id.unwrap_or_default()
            ));
        }
    }
    assert!(
        found.is_empty(),
        "dependencies with RustSec advisories (upgrade them, or replace the crate):\n{}",
        found.join("\n")
    );
}
