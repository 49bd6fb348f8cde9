//! Single-threaded scan throughput on prose with PII sprinkled in (about one entity per
//! 400 bytes), on prose without any, on the dense labeled corpus, and on adversarial inputs
//! (their MB/s next to prose's is the CPU amplification an attacker gets).
//!
//! `cargo bench -p palisade-pii --bench scan` prints MB/s. Under `cargo test` it runs once on
//! a small text so the code stays exercised.

use std::time::Instant;

use palisade_pii::Engine;

const PROSE: &str = "The quarterly review covered the migration plan, the budget for the next \
release and the staffing of the support rotation. Nobody raised objections to the schedule, \
although two teams asked for more time to finish their integration tests before the freeze. ";

const PII: [&str; 8] = [
    "Contact jane.doe@example.com for details. ",
    "Her number is (415) 555-2671. ",
    "SSN 536-22-1234 was on the form. ",
    "Card 4111 1111 1111 1111 was charged. ",
    "Login from 203.0.113.42 was blocked. ",
    "IBAN GB82 WEST 1234 5698 7654 32 for refunds. ",
    "See https://example.com/orders/12345 for the order. ",
    "She was born on 14/03/1987. ",
];

fn text(bytes: usize, with_pii: bool) -> String {
    let mut out = String::with_capacity(bytes + 512);
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(PROSE);
        if with_pii {
            out.push_str(PII[i % PII.len()]);
        }
        i += 1;
    }
    out
}

/// The rows of `tests/fixtures/pii-corpus.jsonl` (positives and hard negatives, about one
/// candidate per 40 bytes), one per line, repeated to `bytes`: the corpus of bench/pii.sh,
/// without the CLI around the engine.
fn corpus(bytes: usize) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/pii-corpus.jsonl"
    );
    let rows: Vec<String> = std::fs::read_to_string(path)
        .expect("the labeled corpus")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some(v["text"].as_str()?.to_string()))
        .collect();
    let one = rows.join("\n") + "\n";
    one.repeat(bytes / one.len() + 1)
}

/// Inputs built to make a scan do more work per byte than prose does: dense candidates that
/// every classifier rejects, prefixes of long shapes that never complete, invisible
/// characters everywhere. The ratio to prose of the same size is the amplification an
/// attacker gets (issue 12 measured 70x for `1-` repeated before the fix).
pub fn adversarial(bytes: usize) -> Vec<(&'static str, String)> {
    let fill = |unit: &str| unit.repeat(bytes / unit.len() + 1);
    vec![
        ("`1-` repeated", fill("1-")),
        ("`4111 ` repeated", fill("4111 ")),
        ("`http://a:a:` repeated", fill("http://a:a:")),
        ("`1.` repeated", fill("1.")),
        ("`a@` repeated", fill("a@")),
        ("`a@b.` repeated", fill("a@b.")),
        ("`1:` repeated", fill("1:")),
        ("`::` repeated", fill("::")),
        ("`eyJhbGci.` repeated", fill("eyJhbGci.")),
        (
            "`-----BEGIN PRIVATE KEY-----` repeated",
            fill("-----BEGIN PRIVATE KEY-----"),
        ),
        ("`GB82 WEST ` repeated", fill("GB82 WEST ")),
        ("`+1 (` repeated", fill("+1 (")),
        ("`Ab1-` repeated", fill("Ab1-")),
        ("`1\u{200b}` repeated", fill("1\u{200b}")),
        ("`\u{ff11}-` repeated", fill("\u{ff11}-")),
        ("`14 March ` repeated", fill("14 March ")),
        ("`12/12/` repeated", fill("12/12/")),
        ("`www.a.` repeated", fill("www.a.")),
    ]
}

/// Dense text that is not an attack: what the work budget must let through.
pub fn dense_but_legitimate(bytes: usize) -> Vec<(&'static str, String)> {
    let rows = |f: &dyn Fn(usize) -> String| {
        let mut out = String::new();
        let mut i = 0;
        while out.len() < bytes {
            out.push_str(&f(i));
            i += 1;
        }
        out
    };
    vec![
        (
            "phone list",
            rows(&|i| format!("+1 415-555-{:04}\n", i % 10_000)),
        ),
        (
            "SSN list",
            rows(&|i| format!("SSN 536-22-{:04}\n", i % 10_000)),
        ),
        (
            "dates",
            rows(&|i| format!("2024-{:02}-{:02}\n", 1 + i % 12, 1 + i % 28)),
        ),
        (
            "small numbers, CSV",
            rows(&|i| format!("{},{},{}\n", i % 97, i % 13, i % 7)),
        ),
        (
            "IPv4 list",
            rows(&|i| format!("10.{}.{}.{}\n", i % 250, i % 200, i % 100)),
        ),
        (
            "floats, JSON array",
            rows(&|i| format!("{}.{:03}, ", i % 1000, i % 997)),
        ),
        ("e-mail list", rows(&|i| format!("user{i}@example.com\n"))),
        (
            "hex digests",
            rows(&|i| format!("sha256 {:064x}\n", i as u128 * 0x9e3779b97f4a7c15)),
        ),
    ]
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let size = if benching { 64 << 20 } else { 64 << 10 };
    let engine = Engine::new().expect("engine");
    println!(
        "| text | MB | spans | MB/s (best of 5) | work per byte (budget {}) |",
        palisade_pii::WORK_PER_BYTE
    );
    println!("|---|---|---|---|---|");
    let mut texts = vec![
        ("prose with PII", text(size, true)),
        ("prose only", text(size, false)),
        ("labeled corpus (dense)", corpus(size)),
    ];
    // Adversarial inputs are smaller: the point is their cost per byte next to prose's.
    texts.extend(dense_but_legitimate(if benching {
        4 << 20
    } else {
        64 << 10
    }));
    texts.extend(adversarial(if benching { 4 << 20 } else { 64 << 10 }));
    for (label, t) in texts {
        let mut best = f64::MAX;
        let mut spans = 0;
        for _ in 0..if benching { 5 } else { 1 } {
            let start = Instant::now();
            spans = engine.scan_str(&t).map_or(0, |s| s.len());
            best = best.min(start.elapsed().as_secs_f64());
        }
        let mb = t.len() as f64 / 1e6;
        let work = engine.work_per_byte(t.as_bytes());
        let verdict = if work > palisade_pii::WORK_PER_BYTE as f64 {
            " (refused)"
        } else {
            ""
        };
        println!(
            "| {label} | {mb:.1} | {spans} | {:.0} | {work:.1}{verdict} |",
            mb / best
        );
    }
}
