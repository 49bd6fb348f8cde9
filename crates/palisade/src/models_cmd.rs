//! `palisade models scan|seal|rotate-kek|sign|verify|keygen`: thin shells over
//! `palisade_model::{scan, seal, signing}`, which the server's load pipeline uses too.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use palisade_model::scan::{self, Report, Severity};
use palisade_model::seal::{self, KekSource, KeyProvider, LocalKek};
use palisade_model::signing::{self, SigningKey, VerifyingKey};
use serde_json::json;

use crate::model_versions;

#[derive(Clone, Copy, ValueEnum)]
pub enum ScanFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FailOn {
    Low,
    Medium,
    High,
    Critical,
}

impl FailOn {
    fn severity(self) -> Severity {
        match self {
            FailOn::Low => Severity::Low,
            FailOn::Medium => Severity::Medium,
            FailOn::High => Severity::High,
            FailOn::Critical => Severity::Critical,
        }
    }
}

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Scan model files without loading them. Exit 0: nothing at or above --fail-on;
    /// 1: something is; 2: usage or I/O error.
    Scan {
        /// A file, or a folder scanned recursively (symbolic links reported, not followed).
        path: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: ScanFormat,
        #[arg(long, value_enum, default_value = "high")]
        fail_on: FailOn,
    },
    /// Check SRC (a version folder or one .onnx file) as a load would, copy it into
    /// REPO/MODEL/VERSION and pin it in REPO/MODEL/model.toml.
    Add {
        src: PathBuf,
        #[arg(long)]
        repo: PathBuf,
        #[arg(long)]
        model: String,
        #[arg(long)]
        version: String,
        /// Self-test vectors to carry as the version's selftest.json: inputs and the
        /// outputs a reference run gave (see docs/supply-chain.md). Checked now, run at
        /// every load.
        #[arg(long)]
        selftest: Option<PathBuf>,
    },
    /// Check a plaintext version folder REPO/MODEL/VERSION as a load would and pin its
    /// served file (and its selftest.json) in REPO/MODEL/model.toml.
    Pin {
        dir: PathBuf,
        /// Self-test vectors to write into DIR as selftest.json and pin (checked first).
        #[arg(long)]
        selftest: Option<PathBuf>,
    },
    /// Check SRC as a load would, encrypt every file into REPO/MODEL/VERSION (chunked
    /// AES-256-GCM, a fresh data key per file wrapped by the KEK), and pin the served file.
    Seal {
        src: PathBuf,
        #[arg(long)]
        model: String,
        #[arg(long)]
        version: String,
        #[arg(long)]
        repo: PathBuf,
        /// Key-encryption key: `file:PATH` or `env:NAME` (default: env:PALISADE_MODEL_KEK,
        /// when that variable is set).
        #[arg(long)]
        kek: Option<String>,
        /// Plaintext bytes per chunk.
        #[arg(long, default_value_t = seal::DEFAULT_CHUNK)]
        chunk_size: u32,
    },
    /// Rewrap every data key in REPO from the old KEK to the new one (data is not touched).
    RotateKek {
        #[arg(long)]
        repo: PathBuf,
        #[arg(long)]
        old: String,
        #[arg(long)]
        new: String,
    },
    /// Sign a version folder: a DSSE/in-toto manifest of every file's SHA-256 in DIR/model.sig.
    Sign {
        dir: PathBuf,
        /// Ed25519 private key (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
        /// Model and version signed for (default: DIR's parent folder and DIR's name).
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        version: Option<String>,
        /// For a sealed folder: the KEK to read the plaintext digests with.
        #[arg(long)]
        kek: Option<String>,
        /// Self-test vectors to write into DIR as selftest.json (checked first) before
        /// signing, so the signature covers them.
        #[arg(long)]
        selftest: Option<PathBuf>,
    },
    /// Verify DIR/model.sig against trusted public keys and the files in DIR.
    Verify {
        dir: PathBuf,
        /// Trusted Ed25519 public key (SPKI PEM); repeatable.
        #[arg(long = "trusted-key", required = true)]
        trusted_keys: Vec<PathBuf>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        kek: Option<String>,
    },
    /// Make a key: a key-encryption key (`--kek PATH`) or a signing key pair
    /// (`--signing-key PATH`, public key at PATH.pub). Files are created 0600, never overwritten.
    Keygen {
        #[arg(
            long,
            conflicts_with = "signing_key",
            required_unless_present = "signing_key"
        )]
        kek: Option<PathBuf>,
        #[arg(long)]
        signing_key: Option<PathBuf>,
    },
}

/// Writes the checked version's self-test vectors into its (plaintext) folder.
fn write_selftest(dir: &Path, checked: &model_versions::CheckedVersion) -> Result<()> {
    use palisade_model::selftest::SELFTEST_FILE;
    if let Some(bytes) = checked.files.bytes.get(SELFTEST_FILE) {
        let path = dir.join(SELFTEST_FILE);
        if std::fs::read(&path).ok().as_ref() != Some(bytes) {
            std::fs::write(&path, bytes).with_context(|| path.display().to_string())?;
            println!(
                "self-test vectors written to {} (they pass)",
                path.display()
            );
        }
    }
    Ok(())
}

/// Where `seal` finds the key-encryption key when `--kek` is not given.
const DEFAULT_KEK_ENV: &str = "PALISADE_MODEL_KEK";

pub fn run(command: ModelsCommand) -> Result<ExitCode> {
    match command {
        ModelsCommand::Scan {
            path,
            format,
            fail_on,
        } => Ok(scan_cmd(&path, format, fail_on.severity())),
        ModelsCommand::Seal {
            src,
            model,
            version,
            repo,
            kek,
            chunk_size,
        } => {
            let kek = match kek {
                Some(k) => k,
                None if std::env::var_os(DEFAULT_KEK_ENV).is_some() => format!("env:{DEFAULT_KEK_ENV}"),
                None => bail!("name the key-encryption key: --kek file:PATH or --kek env:NAME (or set {DEFAULT_KEK_ENV})"),
            };
            seal_cmd(&src, &model, &version, &repo, &kek, chunk_size)
        }
        ModelsCommand::Add {
            src,
            repo,
            model,
            version,
            selftest,
        } => {
            model_versions::add(&src, &repo, &model, &version, selftest.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Pin { dir, selftest } => {
            if seal::is_sealed(&dir) {
                bail!(
                    "{}: sealed; `palisade models seal` pins sealed versions",
                    dir.display()
                );
            }
            let (manifest, version) = manifest_beside(&dir)?;
            let checked = model_versions::check(&dir, selftest.as_deref())?;
            write_selftest(&dir, &checked)?;
            model_versions::pin(
                &manifest,
                &version,
                &checked.served,
                checked.sha256(),
                checked.selftest_sha256(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::RotateKek { repo, old, new } => rotate(&repo, &old, &new),
        ModelsCommand::Sign {
            dir,
            key,
            model,
            version,
            kek,
            selftest,
        } => {
            if let Some(reference) = &selftest {
                if seal::is_sealed(&dir) {
                    bail!("{}: sealed; put the self-test vectors in the source folder and seal it again", dir.display());
                }
                let checked = model_versions::check(&dir, Some(reference))?;
                write_selftest(&dir, &checked)?;
            }
            let subject = subject(&dir, model, version)?;
            let mut digests = digests(&dir, &subject, kek.as_deref())?;
            match governance(&dir)? {
                Some(digest) => {
                    digests.insert(signing::GOVERNANCE_RESOURCE.to_string(), digest);
                    println!("the signature covers model.toml's governance fields (risk, owner, personal_data, require_signature, encryption)");
                }
                None => eprintln!(
                    "warning: no model.toml beside {}: the signature covers the files only, and a manifest's risk stays unverified",
                    dir.display()
                ),
            }
            let key = SigningKey::read(&key)?;
            let bundle = signing::sign(&subject, &digests, &key);
            std::fs::write(dir.join(signing::SIGNATURE_FILE), bundle).with_context(|| {
                format!("writing {}", dir.join(signing::SIGNATURE_FILE).display())
            })?;
            println!(
                "signed {subject}: {} files, key {}",
                digests.len(),
                key.public().id
            );
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Verify {
            dir,
            trusted_keys,
            model,
            version,
            kek,
        } => {
            let subject = subject(&dir, model, version)?;
            let trusted = trusted_keys
                .iter()
                .map(|p| VerifyingKey::read(p))
                .collect::<Result<Vec<_>, _>>()?;
            let sig_path = dir.join(signing::SIGNATURE_FILE);
            let Some(text) = signing::read_signature(&dir)? else {
                println!("FAIL {}: no signature", sig_path.display());
                return Ok(ExitCode::FAILURE);
            };
            let outcome = signing::verify(&sig_path, &text, &trusted).and_then(|signed| {
                let io = |e: anyhow::Error| signing::SignError::Io {
                    path: dir.clone(),
                    message: format!("{e:#}"),
                };
                let mut actual = digests(&dir, &subject, kek.as_deref()).map_err(io)?;
                if signed.files.contains_key(signing::GOVERNANCE_RESOURCE) {
                    let digest = governance(&dir).map_err(io)?.unwrap_or_default();
                    actual.insert(signing::GOVERNANCE_RESOURCE.to_string(), digest);
                }
                signing::check(&sig_path, &signed, &subject, &actual).map(|()| signed)
            });
            match outcome {
                Ok(signed) => {
                    println!(
                        "ok {subject}: {} files signed by {}",
                        signed.files.len(),
                        signed.key_id
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("FAIL {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        ModelsCommand::Keygen { kek, signing_key } => {
            if let Some(path) = kek {
                write_secret(&path, LocalKek::generate_text()?.as_bytes())?;
                let id = LocalKek::load(&KekSource::File(path.clone()))?
                    .kek_id()
                    .to_string();
                println!("key-encryption key {id} written to {}", path.display());
            } else if let Some(path) = signing_key {
                let (private, public) = SigningKey::generate().map_err(anyhow::Error::msg)?;
                let pub_path = PathBuf::from(format!("{}.pub", path.display()));
                write_secret(&path, private.as_bytes())?;
                std::fs::write(&pub_path, &public)
                    .with_context(|| format!("writing {}", pub_path.display()))?;
                let id = VerifyingKey::parse_pem(&public)
                    .map_err(anyhow::Error::msg)?
                    .id;
                println!(
                    "signing key written to {} (public key {}, id {id})",
                    path.display(),
                    pub_path.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Create a file only its owner can read; refuse to overwrite.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    palisade_files::create_private(path, bytes).with_context(|| {
        format!(
            "creating {} (an existing key is never overwritten)",
            path.display()
        )
    })
}

fn load_kek(spec: &str) -> Result<LocalKek> {
    let source = KekSource::parse(spec).map_err(anyhow::Error::msg)?;
    Ok(LocalKek::load(&source)?)
}

/// `model@version`, from the flags or from `<repo>/<model>/<version>`.
fn subject(dir: &Path, model: Option<String>, version: Option<String>) -> Result<String> {
    let abs = std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?;
    let name = |p: Option<&Path>| {
        p.and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
    };
    let version = version.or_else(|| name(Some(&abs)));
    let model = model.or_else(|| name(abs.parent()));
    match (model, version) {
        (Some(m), Some(v)) if palisade_model::valid_name(&m) && palisade_model::valid_name(&v) => {
            Ok(format!("{m}@{v}"))
        }
        _ => bail!(
            "cannot tell the model and version from {}; pass --model and --version",
            dir.display()
        ),
    }
}

/// `REPO/MODEL/model.toml` for the version folder `REPO/MODEL/VERSION`, and VERSION.
fn manifest_beside(dir: &Path) -> Result<(PathBuf, String)> {
    let abs = std::fs::canonicalize(dir).with_context(|| dir.display().to_string())?;
    let version = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|v| palisade_model::valid_name(v));
    match (abs.parent(), version) {
        (Some(model), Some(version)) => Ok((model.join("model.toml"), version)),
        _ => bail!(
            "{}: not a version folder (REPO/MODEL/VERSION)",
            dir.display()
        ),
    }
}

/// The governance digest of DIR's model's manifest (`DIR/../model.toml`), if there is one.
fn governance(dir: &Path) -> Result<Option<String>> {
    // A folder not named like a version (signed with --model/--version) has no manifest.
    let Ok((path, _)) = manifest_beside(dir) else {
        return Ok(None);
    };
    if !path.is_file() {
        return Ok(None);
    }
    let manifest = palisade_model::Manifest::read(&path)?;
    Ok(Some(manifest.governance_digest()))
}

/// Plaintext digests of a version folder, decrypting in memory when it is sealed.
fn digests(dir: &Path, subject: &str, kek: Option<&str>) -> Result<BTreeMap<String, String>> {
    if !seal::is_sealed(dir) {
        return Ok(signing::digest_dir(dir)?);
    }
    let Some(spec) = kek else {
        bail!(
            "{} is sealed: pass --kek to read its plaintext digests",
            dir.display()
        );
    };
    let kek = load_kek(spec)?;
    let envelope = seal::Envelope::read(dir)?;
    if format!("{}@{}", envelope.model, envelope.version) != subject {
        bail!(
            "{} is sealed for {}@{}, not {subject}",
            dir.display(),
            envelope.model,
            envelope.version
        );
    }
    let mut out = BTreeMap::new();
    for name in envelope.files.keys() {
        let opened = seal::open_file(dir, &envelope, name, &kek, u64::MAX)?;
        out.insert(name.clone(), hex::encode(opened.sha256));
    }
    Ok(out)
}

fn seal_cmd(
    src: &Path,
    model: &str,
    version: &str,
    repo: &Path,
    kek: &str,
    chunk_size: u32,
) -> Result<ExitCode> {
    if chunk_size == 0 || chunk_size > 64 << 20 {
        bail!("--chunk-size must be between 1 byte and 64 MiB");
    }
    let kek = load_kek(kek)?;
    // Refuse to seal what the server would refuse to load: the load's own scan and build.
    let checked = model_versions::check(src, None).context("not sealed")?;
    let dst = repo.join(model).join(version);
    let sealed = seal::seal_version(src, &dst, model, version, &kek, chunk_size)?;
    for r in &sealed {
        println!(
            "sealed {} ({} bytes, sha256 {})",
            r.file, r.plaintext_bytes, r.sha256
        );
    }
    model_versions::pin(
        &repo.join(model).join("model.toml"),
        version,
        &checked.served,
        checked.sha256(),
        checked.selftest_sha256(),
    )?;
    println!(
        "{model}@{version} sealed under {} in {}",
        kek.kek_id(),
        dst.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn rotate(repo: &Path, old: &str, new: &str) -> Result<ExitCode> {
    let (old, new) = (load_kek(old)?, load_kek(new)?);
    let (mut versions, mut keys) = (0, 0);
    let mut models: Vec<PathBuf> = std::fs::read_dir(repo)
        .with_context(|| repo.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    models.sort();
    for model in models {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&model)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| seal::is_sealed(p))
            .collect();
        dirs.sort();
        for dir in dirs {
            let n = seal::rotate_version(&dir, &old, &new)
                .with_context(|| format!("rotating {}", dir.display()))?;
            versions += 1;
            keys += n;
        }
    }
    println!(
        "{keys} data keys in {versions} sealed versions rewrapped from {} to {}",
        old.kek_id(),
        new.kek_id()
    );
    Ok(ExitCode::SUCCESS)
}

fn scan_cmd(path: &Path, format: ScanFormat, fail_on: Severity) -> ExitCode {
    let reports = match scan::scan_path(path, scan::Limits::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let out = match format {
        ScanFormat::Text => text(&reports),
        ScanFormat::Json => format!(
            "{:#}\n",
            json!({ "files": reports, "summary": summary(&reports) })
        ),
        ScanFormat::Sarif => format!("{:#}\n", sarif(&reports)),
    };
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(out.as_bytes()).is_err() {
        return ExitCode::from(2);
    }
    let failed = reports
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| f.severity >= fail_on);
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn summary(reports: &[Report]) -> serde_json::Value {
    let mut counts = BTreeMap::new();
    for f in reports.iter().flat_map(|r| &r.findings) {
        *counts.entry(f.severity.as_str()).or_insert(0u64) += 1;
    }
    json!({ "files": reports.len(), "findings": counts })
}

fn text(reports: &[Report]) -> String {
    let mut out = String::new();
    let mut total = 0;
    for r in reports {
        for f in &r.findings {
            total += 1;
            out.push_str(&format!(
                "{:<8} {:<30} {}@{}  {}\n",
                f.severity.as_str().to_uppercase(),
                f.rule,
                f.file,
                f.offset,
                f.message
            ));
        }
    }
    out.push_str(&format!(
        "{} files scanned, {total} findings {}\n",
        reports.len(),
        summary(reports)["findings"]
    ));
    out
}

/// SARIF 2.1.0, as code-scanning dashboards read it.
fn sarif(reports: &[Report]) -> serde_json::Value {
    let mut rules = BTreeMap::new();
    let mut results = Vec::new();
    for r in reports {
        for f in &r.findings {
            rules.entry(f.rule).or_insert_with(|| {
                json!({ "id": f.rule, "shortDescription": { "text": f.rule.replace(['.', '-'], " ") } })
            });
            let level = match f.severity {
                Severity::Critical | Severity::High => "error",
                Severity::Medium => "warning",
                Severity::Low => "note",
            };
            let member = f.file.strip_prefix(&format!("{}:", r.file));
            results.push(json!({
                "ruleId": f.rule,
                "level": level,
                "message": { "text": f.message },
                "locations": [{ "physicalLocation": {
                    "artifactLocation": { "uri": r.file },
                    "region": { "byteOffset": f.offset },
                }}],
                "properties": { "severity": f.severity.as_str(), "member": member },
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "palisade",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}
