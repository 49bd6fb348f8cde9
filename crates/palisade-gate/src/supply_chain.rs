//! What a model version must prove before it loads, built from `[models]`: the
//! key-encryption key for sealed versions, the trusted signers, and which models must be
//! signed or sealed. The checks themselves live in `palisade_model::load`, shared with the CLI.

use std::sync::Arc;

use palisade_model::scan::Severity;
use palisade_model::seal::{KekSource, KeyProvider, LocalKek};
use palisade_model::signing::VerifyingKey;
use palisade_model::LoadPolicy;

use crate::server::StartError;

pub fn load_policy(models: &palisade_config::Models) -> Result<LoadPolicy, StartError> {
    let kek = match &models.kek {
        None => None,
        Some(spec) => {
            let source =
                KekSource::parse(spec).map_err(|e| StartError::Models(format!("kek: {e}")))?;
            let kek =
                LocalKek::load(&source).map_err(|e| StartError::Models(format!("kek: {e}")))?;
            tracing::info!(kek_id = kek.kek_id(), "model key-encryption key loaded");
            Some(Arc::new(kek) as Arc<dyn KeyProvider>)
        }
    };
    let trusted_keys = models
        .trusted_keys
        .iter()
        .map(|p| {
            VerifyingKey::read(p).map_err(|e| StartError::Models(format!("trusted_keys: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LoadPolicy {
        kek,
        trusted_keys,
        require_signature: models.require_signature,
        require_signature_for_risk: models.require_signature_for_risk.clone(),
        require_signature_for: models.require_signature_for.clone(),
        require_encryption: models.require_encryption,
        require_encryption_for: models.require_encryption_for.clone(),
        refuse_at: Severity::parse(&models.refuse_findings_at).unwrap_or(Severity::High),
    })
}
