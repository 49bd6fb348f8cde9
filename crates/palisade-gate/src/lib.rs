#![forbid(unsafe_code)]
pub mod fsutil; pub mod keys; pub mod tls;
