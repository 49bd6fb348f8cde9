//! Bearer tokens: any string must verify or be refused with a reason, never a panic.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use palisade_config::{JwtIssuer, JwtKeys};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: std::sync::Arc<palisade_access::jwt::JwtVerifier>,
}

fuzz_target!(|token: &str| {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    let f = FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let secret = std::env::temp_dir().join("palisade-fuzz-jwt-secret");
        std::fs::write(&secret, "a-shared-secret-of-at-least-32-bytes!!").unwrap();
        let issuer = JwtIssuer::new("https://idp.fuzz", "palisade", JwtKeys::HmacSecretFile(secret));
        let verifier = runtime
            .block_on(palisade_access::jwt::JwtVerifier::start(&[issuer]))
            .unwrap();
        Fixture { runtime, verifier }
    });
    let _ = f.runtime.block_on(f.verifier.verify(token));
});
