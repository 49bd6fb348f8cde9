//! What a model version must prove before it loads, built from `[models]`: the
//! key-encryption key for sealed versions, the trusted signers, and which models must be
//! signed or sealed. The checks themselves live in `palisade_model::load`, shared with the CLI.

use std::sync::Arc;

use palisade_audit::{LoadProof, VersionProof};
use palisade_model::scan::Severity;
use palisade_model::seal::{KekSource, KeyProvider, LocalKek};
use palisade_model::signing::VerifyingKey;
use palisade_model::{LoadPolicy, LoadedModel, Risk};

/// Why `[models]` cannot become a load policy; the message names the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

pub fn load_policy(models: &palisade_config::Models) -> Result<LoadPolicy, PolicyError> {
    let kek = match &models.kek {
        None => None,
        Some(spec) => {
            let source = KekSource::parse(spec).map_err(|e| PolicyError(format!("kek: {e}")))?;
            let kek = LocalKek::load(&source).map_err(|e| PolicyError(format!("kek: {e}")))?;
            tracing::info!(kek_id = kek.kek_id(), "model key-encryption key loaded");
            Some(Arc::new(kek) as Arc<dyn KeyProvider>)
        }
    };
    let trusted_keys = models
        .trusted_keys
        .iter()
        .map(|p| VerifyingKey::read(p).map_err(|e| PolicyError(format!("trusted_keys: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    // The config validated these against the same vocabulary.
    let risk = |key: &str, level: &str| {
        Risk::parse(level)
            .ok_or_else(|| PolicyError(format!("{key}: '{level}' is not a risk level")))
    };
    let require_signature_for_risk = models
        .require_signature_for_risk
        .iter()
        .map(|level| risk("require_signature_for_risk", level))
        .collect::<Result<Vec<_>, _>>()?;
    let risk_pins = models
        .risk_pins
        .iter()
        .map(|(model, level)| Ok((model.clone(), risk(&format!("risk.{model}"), level)?)))
        .collect::<Result<_, PolicyError>>()?;
    Ok(LoadPolicy {
        kek,
        trusted_keys,
        require_signature: models.require_signature,
        require_signature_for_risk,
        risk_pins,
        require_signature_for: models.require_signature_for.clone(),
        require_encryption: models.require_encryption,
        require_encryption_for: models.require_encryption_for.clone(),
        refuse_at: Severity::parse(&models.refuse_findings_at).unwrap_or(Severity::High),
    })
}

/// What a loaded model proved, for its audit entry.
pub fn load_proof(model: &LoadedModel) -> LoadProof {
    LoadProof {
        risk: model.risk.as_str().to_string(),
        risk_source: model.risk.source.as_str().to_string(),
        versions: model
            .provenance
            .iter()
            .map(|(version, p)| {
                let proof = VersionProof {
                    sha256: p.sha256.clone(),
                    signed_by: p.signed_by.clone(),
                    sealed: p.sealed,
                    governance_signed: p.governance_signed,
                };
                (version.clone(), proof)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_manifests_share_one_risk_vocabulary() {
        let model: Vec<&str> = Risk::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(model, palisade_config::models::RISK_LEVELS);
    }
}
