//! Access: who is calling and what they may do, shared by the gate (every call) and the
//! command line (`palisade keys`, `palisade policies check`, `palisade check`).
//!
//! - [`keys`]: API keys, stored as hashes of their secrets in a file the CLI edits and the
//!   server reloads;
//! - [`jwt`]: tokens from configured OIDC issuers, verified against their JWKS;
//! - [`principal`]: who a verified credential names (API key, user, workload);
//! - [`policy`]: the role table and Cedar policies, compiled once and swapped atomically,
//!   deciding deny by default;
//! - [`outbound`]: the one way the server makes outbound HTTPS calls (JWKS here, alert
//!   webhooks and trace export in the gate).
//!
//! Why a crate of its own: two users (the gate and the CLI) and a clear job; it reads its
//! settings as `palisade-config` types and imports no other Palisade crate but
//! `palisade-files`.
#![forbid(unsafe_code)]

pub mod jwt;
pub mod keys;
pub mod outbound;
pub mod policy;
pub mod principal;
