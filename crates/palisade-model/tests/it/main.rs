//! The integration tests of palisade-model, in one test binary.

mod scan_corpus;
mod supply_chain;
