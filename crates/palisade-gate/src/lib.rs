//! The gate: listeners, routes, and the stages every call passes through.
//!
//! Start reading at [`gate`]: it composes the stages in order. Each stage lives in a module
//! named after what it enforces (`identify`, `authorize`, `limit`, `inspect`, `infer`,
//! `harden`, `respond`, `record`, with `listen` below them all) and refuses with a
//! [`refusal::Refusal`].
//!
//! What each module may use, floor by floor; a module imports only from floors below its
//! own, so there is no import circle (checked by reading the `use crate::` lines):
//!
//! | floor | modules | may use |
//! |---|---|---|
//! | ground | `refusal`, `metrics`, `supply_chain`, `operators` | nothing of the gate |
//! | stores and codecs | `registry`, `shared_limits`, `pool`, `pii`, `tls`, `routes`, `body` (keys, JWT, policies and principals are `palisade-access`) | the ground |
//! | the call | `context` | the ground, `pii` (its findings) |
//! | stages | `authorize`, `limit`, `inspect`, `infer`, `harden`, `respond`, `traces`, `detect` | the stores and the call, never `state` nor another stage (`harden` reads `inspect`'s `Signature`) |
//! | per-source guards | `anonymous`, `auth_backoff` | `limit`'s counters |
//! | the server's state | `state` | every store, `detect`'s handles |
//! | stages with a view of the state | `identify` (its `Identities`), `record` (its `Sinks`) | what the view holds; `state` only to build the view |
//! | admin operations | `audit_api`, `admin` | the state, `record` |
//! | composition | `gate`, then `listen`, then `server`; `preflight` beside them | everything below |
#![forbid(unsafe_code)]

pub mod admin;
pub mod anonymous;
pub mod audit_api;
pub mod auth_backoff;
pub mod authorize;
pub mod body;
pub mod context;
pub mod detect;
pub mod gate;
pub mod harden;
pub mod identify;
pub mod infer;
pub mod inspect;
pub mod limit;
pub mod listen;
pub mod metrics;
pub mod operators;
pub mod pii;
pub mod pool;
pub mod preflight;
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
