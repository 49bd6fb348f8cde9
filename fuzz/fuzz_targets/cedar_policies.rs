//! Policy files: any text must compile to a validated set or give diagnostics, never a panic.
#![no_main]
use std::collections::BTreeSet;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    static SCHEMA: OnceLock<cedar_policy::Schema> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| palisade_access::policy::schema().unwrap());
    let _ = palisade_access::policy::compile(schema, text, None, &BTreeSet::new(), 0);
});
