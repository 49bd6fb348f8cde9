//! The integration tests of the `palisade` binary: one test binary (each module a former
//! test file) so the shared harness in `common` is compiled and linked once.

mod access;
mod audit;
mod brute_force;
mod cli;
mod common;
mod crash;
mod data;
mod dependencies;
mod detect;
mod jwt;
mod lifecycle;
mod limits;
mod pii;
mod policies;
mod protocol;
mod rate_limits;
mod shared_limits;
mod supply_chain;
mod traces;
