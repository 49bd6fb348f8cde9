//! The load pipeline of one model version: read → decrypt → verify → scan → build → self-test.
//!
//! Every step runs on bytes in memory; a sealed version's plaintext never touches the disk.
//! Decryption authenticates every chunk (AES-GCM), the manifest pin and the signature are
//! checked against the plaintext digests, the scanner reads every file's structure, and only
//! then does the runtime parse the model. ONNX external data is served from the same
//! verified bytes (inlined into the graph), never re-read from the folder, so what was
//! checked is what runs.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto};

use crate::manifest::{Risk, RiskSource, TrustedRisk};
use crate::scan::{self, Format, Severity};
use crate::seal::{self, Envelope, KeyProvider, SealError};
use crate::selftest::{SelfTest, SELFTEST_FILE};
use crate::signing::{self, SignError, VerifyingKey};
use crate::{Manifest, ModelError, Operators, Runtime, VersionEntry};

/// Which rule requires a signature (for the refusal's message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureRule {
    All,
    Manifest,
    Named,
    Risk(TrustedRisk),
}

/// What a version must prove before it loads. The default requires nothing beyond the
/// manifest pin and a clean scan.
#[derive(Clone)]
pub struct LoadPolicy {
    pub kek: Option<Arc<dyn KeyProvider>>,
    pub trusted_keys: Vec<VerifyingKey>,
    pub require_signature: bool,
    /// Risk levels whose models must be signed; the risk is the trusted one
    /// ([`TrustedRisk`]), never an unsigned manifest's word.
    pub require_signature_for_risk: Vec<Risk>,
    /// `[models] risk`: the operator's risk level per model, over any manifest.
    pub risk_pins: BTreeMap<String, Risk>,
    pub require_signature_for: Vec<String>,
    pub require_encryption: bool,
    pub require_encryption_for: Vec<String>,
    /// Scanner findings at or above this refuse the load.
    pub refuse_at: Severity,
}

impl Default for LoadPolicy {
    fn default() -> Self {
        LoadPolicy {
            kek: None,
            trusted_keys: Vec::new(),
            require_signature: false,
            require_signature_for_risk: Vec::new(),
            risk_pins: BTreeMap::new(),
            require_signature_for: Vec::new(),
            require_encryption: false,
            require_encryption_for: Vec::new(),
            refuse_at: Severity::High,
        }
    }
}

impl LoadPolicy {
    /// Must an unsigned version of this model be refused, and by which rule? The server's
    /// rules, tightened by the model's own manifest; without a signature the manifest's
    /// risk is unverified, so the risk rule sees the config's pin or `high`.
    pub fn signature_rule(&self, model: &str, manifest: &Manifest) -> Option<SignatureRule> {
        if self.require_signature {
            return Some(SignatureRule::All);
        }
        if manifest.require_signature {
            return Some(SignatureRule::Manifest);
        }
        if self.require_signature_for.iter().any(|m| m == model) {
            return Some(SignatureRule::Named);
        }
        let risk = TrustedRisk::unsigned(self.risk_pins.get(model).copied());
        risk.level
            .filter(|level| self.require_signature_for_risk.contains(level))
            .map(|_| SignatureRule::Risk(risk))
    }

    pub fn encryption_required(&self, model: &str, manifest: &Manifest) -> bool {
        self.require_encryption
            || manifest.encryption.as_deref() == Some("required")
            || self.require_encryption_for.iter().any(|m| m == model)
    }
}

fn refused(path: &Path, reason: &'static str, message: String) -> ModelError {
    ModelError::Refused {
        path: path.to_path_buf(),
        reason,
        message,
    }
}

impl From<SealError> for ModelError {
    fn from(e: SealError) -> ModelError {
        let reason = match &e {
            SealError::WrongKek { .. } => "sealed_wrong_kek",
            SealError::Tampered { .. } => "sealed_tampered",
            SealError::Io { .. } => "model_unreadable",
            _ => "sealed_unreadable",
        };
        let path = match &e {
            SealError::Io { path, .. }
            | SealError::Envelope { path, .. }
            | SealError::WrongKek { path, .. }
            | SealError::Tampered { path, .. } => path.clone(),
            _ => PathBuf::new(),
        };
        ModelError::Refused {
            path,
            reason,
            message: e.to_string(),
        }
    }
}

impl From<SignError> for ModelError {
    fn from(e: SignError) -> ModelError {
        let (reason, path) = match &e {
            SignError::Untrusted { path, .. } => ("signature_untrusted", path),
            SignError::Mismatch { path, .. } => ("signature_mismatch", path),
            SignError::Malformed { path, .. } => ("signature_invalid", path),
            SignError::Io { path, .. } | SignError::Key { path, .. } => ("signature_invalid", path),
        };
        // The error text already names the path.
        let message = e.to_string();
        let message = message
            .strip_prefix(&format!("{}: ", path.display()))
            .unwrap_or(&message)
            .to_string();
        ModelError::Refused {
            path: path.clone(),
            reason,
            message,
        }
    }
}

/// Every artifact file of one version, in memory, with its SHA-256.
pub struct Files {
    pub bytes: BTreeMap<String, Vec<u8>>,
    pub digests: BTreeMap<String, String>,
}

/// Read a plaintext version folder: regular files only, bounded in total (the signature is
/// not among them). `palisade models add|pin|seal` read their source with it too.
pub fn read_plain(dir: &Path, max_bytes: u64) -> Result<Files, ModelError> {
    let io = |p: &Path, e: std::io::Error| ModelError::Io {
        path: p.to_path_buf(),
        message: e.to_string(),
    };
    let mut files = Files {
        bytes: BTreeMap::new(),
        digests: BTreeMap::new(),
    };
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name == signing::SIGNATURE_FILE {
            continue;
        }
        let ft = entry.file_type().map_err(|e| io(&path, e))?;
        if !ft.is_file() {
            return Err(refused(
                &path,
                "unsafe_format",
                "not a regular file: a version folder holds files only (symbolic links and folders are refused)".into(),
            ));
        }
        let file = std::fs::File::open(&path).map_err(|e| io(&path, e))?;
        let len = file.metadata().map_err(|e| io(&path, e))?.len();
        total = total.saturating_add(len);
        if total > max_bytes {
            return Err(ModelError::Invalid {
                path,
                message: format!("the version's files exceed models.max_model_bytes = {max_bytes}"),
            });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io(&path, e))?;
        files
            .digests
            .insert(name.clone(), hex::encode(Sha256::digest(&bytes)));
        files.bytes.insert(name, bytes);
    }
    Ok(files)
}

/// Decrypt every file of a sealed version in memory. Anything else in the folder besides the
/// envelope, the sealed files and the signature is refused: it was not sealed.
fn read_sealed(
    dir: &Path,
    model: &str,
    version: &str,
    kek: Option<&dyn KeyProvider>,
    max_bytes: u64,
) -> Result<Files, ModelError> {
    let envelope = Envelope::read(dir)?;
    let envelope_path = dir.join(seal::ENVELOPE_FILE);
    if envelope.model != model || envelope.version != version {
        return Err(refused(
            &envelope_path,
            "sealed_tampered",
            format!(
                "sealed for {}@{}, found under {model}@{version}; a sealed version cannot be moved",
                envelope.model, envelope.version
            ),
        ));
    }
    let Some(kek) = kek else {
        return Err(refused(
            &envelope_path,
            "sealed_no_kek",
            "this version is sealed but no key-encryption key is configured; set models.kek".into(),
        ));
    };
    for entry in std::fs::read_dir(dir).map_err(|e| ModelError::Io {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        let sealed_member = name
            .strip_suffix(seal::SEALED_SUFFIX)
            .is_some_and(|n| envelope.files.contains_key(n));
        if !(sealed_member || name == seal::ENVELOPE_FILE || name == signing::SIGNATURE_FILE) {
            return Err(refused(
                &entry.path(),
                "sealed_tampered",
                "a file that was not sealed sits in a sealed version; remove it or seal the version again".into(),
            ));
        }
    }
    let mut files = Files {
        bytes: BTreeMap::new(),
        digests: BTreeMap::new(),
    };
    let mut budget = max_bytes;
    for name in envelope.files.keys() {
        let opened = seal::open_file(dir, &envelope, name, kek, budget)?;
        budget -= opened.bytes.len() as u64;
        files
            .digests
            .insert(name.clone(), hex::encode(opened.sha256));
        files.bytes.insert(name.clone(), opened.bytes);
    }
    Ok(files)
}

/// What a loaded version proved: shown by the admin plane, so an operator can say which
/// bytes, signed by whom, are serving.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    /// SHA-256 of the served model file (plaintext).
    pub sha256: String,
    /// Id of the trusted key whose signature verified, if the version is signed.
    pub signed_by: Option<String>,
    /// Whether the version was sealed (decrypted in memory at load).
    pub sealed: bool,
    /// Whether its signature also covers `model.toml`'s governance fields.
    pub governance_signed: bool,
}

/// What a repository loads its versions with.
#[derive(Clone, Copy)]
pub(crate) struct Loader<'a> {
    pub root: &'a Path,
    pub policy: &'a LoadPolicy,
    pub max_bytes: u64,
    /// The operators beyond tract's own that models may use.
    pub operators: &'a Operators,
}

/// Load one version through the whole pipeline.
pub(crate) fn load_version(
    from: &Loader<'_>,
    model: &str,
    version: &str,
    entry: &VersionEntry,
    manifest: &Manifest,
) -> Result<(Runtime, Provenance), ModelError> {
    let Loader {
        root,
        policy,
        max_bytes,
        operators,
    } = *from;
    let dir = root.join(model).join(version);
    let model_path = dir.join(&entry.file);

    // 1. Read, decrypting in memory when sealed.
    let sealed = seal::is_sealed(&dir);
    if !sealed && policy.encryption_required(model, manifest) {
        return Err(refused(
            &dir,
            "encryption_required",
            format!("{model} must be sealed (encryption = \"required\"); seal it with `palisade models seal`"),
        ));
    }
    let files = if sealed {
        read_sealed(&dir, model, version, policy.kek.as_deref(), max_bytes)?
    } else {
        read_plain(&dir, max_bytes)?
    };

    // 2. Verify: the manifest pin, then the signature over every file.
    let Some(actual) = files.digests.get(&entry.file) else {
        return Err(ModelError::Io {
            path: model_path,
            message: "missing: the manifest names this file but the version folder lacks it".into(),
        });
    };
    if *actual != entry.sha256 {
        return Err(ModelError::DigestMismatch {
            path: model_path,
            expected: entry.sha256.clone(),
            actual: actual.clone(),
        });
    }
    let provenance_sha = actual.clone();
    if let Some(pinned) = &entry.selftest_sha256 {
        let path = dir.join(SELFTEST_FILE);
        match files.digests.get(SELFTEST_FILE) {
            None => {
                return Err(ModelError::Io {
                    path,
                    message: "missing: the manifest pins self-test vectors (selftest_sha256) but the version folder lacks them".into(),
                })
            }
            Some(actual) if actual != pinned => {
                return Err(ModelError::DigestMismatch {
                    path,
                    expected: pinned.clone(),
                    actual: actual.clone(),
                })
            }
            Some(_) => {}
        }
    }
    let sig_path = dir.join(signing::SIGNATURE_FILE);
    let mut signed_by = None;
    let mut governance_signed = false;
    match signing::read_signature(&dir)? {
        Some(text) => {
            let signed = signing::verify(&sig_path, &text, &policy.trusted_keys)?;
            // A signature that lists the governance resource vouches for model.toml too,
            // and then the manifest must still say what was signed.
            let mut actual = files.digests.clone();
            governance_signed = signed.files.contains_key(signing::GOVERNANCE_RESOURCE);
            if governance_signed {
                actual.insert(
                    signing::GOVERNANCE_RESOURCE.to_string(),
                    manifest.governance_digest(),
                );
            }
            signing::check(&sig_path, &signed, &format!("{model}@{version}"), &actual)?;
            signed_by = Some(signed.key_id);
        }
        None => {
            if let Some(rule) = policy.signature_rule(model, manifest) {
                let why = match rule {
                    SignatureRule::All => "models.require_signature is on".to_string(),
                    SignatureRule::Manifest => "its model.toml sets require_signature".to_string(),
                    SignatureRule::Named => format!("models.require_signature_for names {model}"),
                    SignatureRule::Risk(risk) if risk.source == RiskSource::Unverified => format!(
                        "its risk counts as {} (model.toml is covered by no trusted signature and models.risk pins none for {model}) and models.require_signature_for_risk lists it",
                        risk.as_str()
                    ),
                    SignatureRule::Risk(risk) => format!(
                        "its risk is {} and models.require_signature_for_risk lists it",
                        risk.as_str()
                    ),
                };
                return Err(refused(
                    &sig_path,
                    "signature_required",
                    format!("{model} must be signed by a trusted key ({why}) and {model}@{version} has no model.sig; sign it with `palisade models sign`"),
                ));
            }
        }
    }

    // 3 + 4. Scan every file, then build from the verified bytes only.
    let mut runtime = build_version(&dir, &entry.file, &files.bytes, policy.refuse_at, operators)?;
    // What a call costs here decides where the gate runs it (its inference pool).
    runtime.measure_cost();
    Ok((
        runtime,
        Provenance {
            sha256: provenance_sha,
            signed_by,
            sealed,
            governance_signed,
        },
    ))
}

/// Steps 3 to 5 of a load, on a version's files in memory: every file is scanned (a finding
/// at `refuse_at` or above refuses the version; only data formats load), `served` is built,
/// and its `selftest.json`, if any, is run. `palisade models add|pin|seal` run the same
/// function, so they refuse what a load would.
pub fn build_version(
    dir: &Path,
    served: &str,
    files: &BTreeMap<String, Vec<u8>>,
    refuse_at: Severity,
    operators: &Operators,
) -> Result<Runtime, ModelError> {
    let model_path = dir.join(served);
    let Some(served_bytes) = files.get(served) else {
        return Err(ModelError::Io {
            path: model_path,
            message: "missing: the version has no such file".into(),
        });
    };
    for (name, bytes) in files {
        let label = dir.join(name).display().to_string();
        let report = scan::scan_bytes(&label, bytes, None, scan::Limits::default());
        if let Some(worst) = report.findings.first().filter(|f| f.severity >= refuse_at) {
            return Err(refused(
                &dir.join(name),
                "unsafe_artifact",
                format!(
                    "scanner finding {} ({}) at offset {}: {}",
                    worst.rule,
                    worst.severity.as_str(),
                    worst.offset,
                    worst.message
                ),
            ));
        }
        let code_bearing = !report.format.loadable() && report.format != Format::Unknown;
        if code_bearing {
            return Err(refused(
                &dir.join(name),
                "unsafe_format",
                format!(
                    "{:?} files can carry code and are not loaded; convert the model to ONNX or safetensors",
                    report.format
                ),
            ));
        }
        if name == served && report.format != Format::Onnx {
            return Err(ModelError::Invalid {
                path: model_path.clone(),
                message: "the served file must be an ONNX model (.onnx)".into(),
            });
        }
    }
    let mut proto = scan::onnx::decode(served_bytes).map_err(|message| ModelError::Invalid {
        path: model_path.clone(),
        message,
    })?;
    inline_external_data(&mut proto, files).map_err(|message| ModelError::Invalid {
        path: model_path.clone(),
        message,
    })?;
    let runtime = Runtime::from_proto(&model_path, &proto, operators)?;
    // 5. Self-test: the reference outputs the version carries must come out again.
    if let Some(vectors) = files.get(SELFTEST_FILE) {
        let path = dir.join(SELFTEST_FILE);
        SelfTest::parse(&path, vectors)?.run(&path, &runtime)?;
    }
    Ok(runtime)
}

/// Replace every external-data reference with the bytes it names, from the verified files.
fn inline_external_data(
    proto: &mut ModelProto,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<(), String> {
    let mut fill = |t: &mut TensorProto| -> Result<(), String> {
        let Some(r) = scan::onnx::external_ref(t)? else {
            return Ok(());
        };
        let data = files.get(r.location.as_str()).ok_or_else(|| {
            format!(
                "tensor '{}' reads external data from '{}', which is not a file of this version",
                r.tensor, r.location
            )
        })?;
        let start = usize::try_from(r.offset).map_err(|e| e.to_string())?;
        let end = match r.length {
            Some(n) => start.checked_add(usize::try_from(n).map_err(|e| e.to_string())?),
            None => Some(data.len()),
        }
        .filter(|&e| e <= data.len() && start <= e)
        .ok_or_else(|| {
            format!(
                "tensor '{}': external data range is outside '{}'",
                r.tensor, r.location
            )
        })?;
        t.raw_data = data[start..end].to_vec();
        t.external_data.clear();
        t.data_location = None;
        Ok(())
    };
    fn graph(
        g: &mut GraphProto,
        depth: usize,
        fill: &mut dyn FnMut(&mut TensorProto) -> Result<(), String>,
    ) -> Result<(), String> {
        if depth > 64 {
            return Err("subgraphs nested too deep".into());
        }
        for t in &mut g.initializer {
            fill(t)?;
        }
        for s in &mut g.sparse_initializer {
            for t in s.values.iter_mut().chain(s.indices.iter_mut()) {
                fill(t)?;
            }
        }
        for n in &mut g.node {
            node(n, depth, fill)?;
        }
        Ok(())
    }
    fn node(
        n: &mut NodeProto,
        depth: usize,
        fill: &mut dyn FnMut(&mut TensorProto) -> Result<(), String>,
    ) -> Result<(), String> {
        for a in &mut n.attribute {
            for t in a.t.iter_mut().chain(a.tensors.iter_mut()) {
                fill(t)?;
            }
            for g in a.g.iter_mut().chain(a.graphs.iter_mut()) {
                graph(g, depth + 1, fill)?;
            }
        }
        Ok(())
    }
    if let Some(g) = &mut proto.graph {
        graph(g, 0, &mut fill)?;
    }
    for f in &mut proto.functions {
        for n in &mut f.node {
            node(n, 0, &mut fill)?;
        }
    }
    Ok(())
}
