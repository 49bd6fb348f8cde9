//! The gate: listeners, routes, and the stages every call passes through.
//!
//! Start reading at [`gate`]: it composes the stages in order. Each stage lives in a module
//! named after what it enforces (`identify`, `authorize`, `limit`, `inspect`, `infer`,
//! `harden`, `respond`, `record`, with `listen` below them all) and refuses with a [`refusal::Refusal`]. The
//! stores the stages consult have modules of their own: `keys` and `jwt` (identities),
//! `policy` (the Cedar set), `shared_limits` (Redis counters), `registry` (models).
#![forbid(unsafe_code)]

pub mod admin;
pub mod anonymous;
pub mod audit_api;
pub mod auth_backoff;
pub mod authorize;
pub mod body;
pub mod context;
pub mod detect;
pub mod fsutil;
pub mod gate;
pub mod harden;
pub mod identify;
pub mod infer;
pub mod inspect;
pub mod jwt;
pub mod keys;
pub mod limit;
pub mod listen;
pub mod metrics;
pub mod outbound;
pub mod pii;
pub mod policy;
pub mod pool;
pub mod principal;
pub mod record;
pub mod refusal;
pub mod registry;
pub mod respond;
pub mod routes;
pub mod server;
pub mod shared_limits;
pub mod state;
pub mod supply_chain;
pub mod tls;
pub mod traces;

pub use server::{Server, StartError};
