//! Single-threaded scan throughput on prose with PII sprinkled in (about one entity per
//! 400 bytes), and on prose without any.
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

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let size = if benching { 64 << 20 } else { 64 << 10 };
    let engine = Engine::new().expect("engine");
    println!("| text | MB | spans | MB/s (best of 5) |");
    println!("|---|---|---|---|");
    for (label, with_pii) in [("prose with PII", true), ("prose only", false)] {
        let t = text(size, with_pii);
        let mut best = f64::MAX;
        let mut spans = 0;
        for _ in 0..if benching { 5 } else { 1 } {
            let start = Instant::now();
            spans = engine.scan_str(&t).len();
            best = best.min(start.elapsed().as_secs_f64());
        }
        let mb = t.len() as f64 / 1e6;
        println!("| {label} | {mb:.1} | {spans} | {:.0} |", mb / best);
    }
}
