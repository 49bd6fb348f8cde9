//! Encryption at rest: every artifact of a model version sealed under its own data key.
//!
//! Why chunked: models are gigabytes. Sealing streams through a fixed-size buffer, and each
//! chunk is its own AES-256-GCM message. What a chunk *is* goes into its associated data:
//! the model@version, the file name, the chunk index and whether it is the last one. So a
//! flipped byte, two chunks swapped, a chunk or file moved to another model@version, or a
//! file cut short at a chunk boundary each fail authentication instead of loading.
//!
//! Layout of one version folder after `palisade models seal`:
//! - `seal.json`: for each file, its data key wrapped by the key-encryption key (KEK), the
//!   KEK's id, the plaintext length, and the chunk size. The wrap binds the same context, so
//!   editing a length or moving an entry breaks the unwrap. Rotating the KEK rewrites only
//!   this file.
//! - `<file>.sealed`: `PALSEAL1`, the chunk size (u32 LE), 4 zero bytes, then the chunks,
//!   each `ciphertext || 16-byte tag`.
//!
//! Nonces are the chunk index and the last-chunk flag: unique because every file has a
//! fresh data key. Opening happens in memory only; plaintext never touches the disk.

mod keys;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use keys::{DataKey, KekSource, KeyProvider, LocalKek};

pub const ENVELOPE_FILE: &str = "seal.json";
pub const SEALED_SUFFIX: &str = ".sealed";
const FORMAT: &str = "palisade-seal/v1";
const MAGIC: &[u8; 8] = b"PALSEAL1";
const HEADER_LEN: usize = 16;
const TAG_LEN: usize = 16;
pub const DEFAULT_CHUNK: u32 = 1 << 20;
const MAX_ENVELOPE_BYTES: u64 = 1 << 20;
const MAX_FILES: usize = 4096;

/// Why sealing or opening failed. Each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{origin}: {message}")]
    Key { origin: String, message: String },
    #[error("{}: {message}", path.display())]
    Envelope { path: PathBuf, message: String },
    #[error(
        "{}: sealed under key-encryption key {sealed_with}, but the configured key is {configured}; configure the right KEK, or rewrap with `palisade models rotate-kek`",
        path.display()
    )]
    WrongKek {
        path: PathBuf,
        sealed_with: String,
        configured: String,
    },
    #[error("{}: {message}", path.display())]
    Tampered { path: PathBuf, message: String },
    #[error("cryptography failed: {0}")]
    Crypto(&'static str),
}

/// `seal.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub format: String,
    pub model: String,
    pub version: String,
    pub chunk_size: u32,
    pub files: BTreeMap<String, SealedFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SealedFile {
    pub kek_id: String,
    /// base64 of `nonce || wrapped key || tag`.
    pub wrapped_key: String,
    pub plaintext_bytes: u64,
}

impl Envelope {
    pub fn read(dir: &Path) -> Result<Envelope, SealError> {
        let path = dir.join(ENVELOPE_FILE);
        let bad = |message: String| SealError::Envelope {
            path: path.clone(),
            message,
        };
        let file = std::fs::File::open(&path).map_err(|e| bad(e.to_string()))?;
        let mut text = String::new();
        file.take(MAX_ENVELOPE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| bad(e.to_string()))?;
        if text.len() as u64 > MAX_ENVELOPE_BYTES {
            return Err(bad(format!("over the {MAX_ENVELOPE_BYTES}-byte limit")));
        }
        let env: Envelope = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if env.format != FORMAT {
            return Err(bad(format!("format '{}' is not {FORMAT}", env.format)));
        }
        if env.files.len() > MAX_FILES {
            return Err(bad(format!("more than {MAX_FILES} files")));
        }
        if env.chunk_size == 0 || env.chunk_size > 64 << 20 {
            return Err(bad("chunk_size must be between 1 byte and 64 MiB".into()));
        }
        for name in env.files.keys() {
            if !crate::valid_name(name) {
                return Err(bad(format!("file name '{name}' is not a plain file name")));
            }
        }
        Ok(env)
    }

    fn write(&self, dir: &Path) -> Result<(), SealError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| SealError::Envelope {
            path: dir.join(ENVELOPE_FILE),
            message: e.to_string(),
        })?;
        write_atomic(&dir.join(ENVELOPE_FILE), format!("{text}\n").as_bytes())
    }

    /// Bound to each wrapped key: which file of which model@version, and its shape.
    fn wrap_context(&self, file: &str, plaintext_bytes: u64) -> Vec<u8> {
        format!(
            "{FORMAT}\0{}@{}\0{file}\0{}\0{plaintext_bytes}",
            self.model, self.version, self.chunk_size
        )
        .into_bytes()
    }
}

/// Is this version folder sealed?
pub fn is_sealed(dir: &Path) -> bool {
    dir.join(ENVELOPE_FILE).is_file()
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SealError + '_ {
    move |e| SealError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), SealError> {
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

fn chunk_aad(model: &str, version: &str, file: &str, index: u64, last: bool) -> Vec<u8> {
    let mut aad = format!("{FORMAT}\0{model}@{version}\0{file}\0").into_bytes();
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

fn chunk_nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[..8].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

fn data_key(dek: &DataKey) -> Result<LessSafeKey, SealError> {
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &dek[..]).map_err(|_| SealError::Crypto("bad key length"))?,
    ))
}

/// What sealing one file produced.
#[derive(Debug, Clone)]
pub struct SealedReport {
    pub file: String,
    pub plaintext_bytes: u64,
    pub sha256: String,
}

/// Seal every file of `src` into `dst` (a version folder) for `model@version`. Files are
/// streamed chunk by chunk; a signature (`model.sig`) is copied as it is (it is public).
pub fn seal_version(
    src: &Path,
    dst: &Path,
    model: &str,
    version: &str,
    kek: &dyn KeyProvider,
    chunk_size: u32,
) -> Result<Vec<SealedReport>, SealError> {
    if !crate::valid_name(model) || !crate::valid_name(version) {
        return Err(SealError::Envelope {
            path: dst.to_path_buf(),
            message: format!(
                "'{model}@{version}': names use letters, digits, '-', '_' and '.' only"
            ),
        });
    }
    // SRC is a version folder, or one file (sealed as the version's only file).
    let single = std::fs::symlink_metadata(src).map_err(io(src))?.is_file();
    let entries: Vec<(String, PathBuf, std::fs::FileType)> = if single {
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ft = std::fs::symlink_metadata(src).map_err(io(src))?.file_type();
        vec![(name, src.to_path_buf(), ft)]
    } else {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(src).map_err(io(src))? {
            let entry = entry.map_err(io(src))?;
            let ft = entry.file_type().map_err(io(&entry.path()))?;
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
                ft,
            ));
        }
        out
    };
    let mut names = Vec::new();
    let mut paths = BTreeMap::new();
    for (name, path, ft) in entries {
        let entry_path = path.clone();
        if !ft.is_file() {
            return Err(SealError::Io {
                path: entry_path,
                message: "not a regular file (folders and symbolic links are not sealed); flatten the version folder".into(),
            });
        }
        if !crate::valid_name(&name) || name.ends_with(SEALED_SUFFIX) || name == ENVELOPE_FILE {
            return Err(SealError::Io {
                path: entry_path,
                message:
                    "file names use letters, digits, '-', '_' and '.' and are not already sealed"
                        .into(),
            });
        }
        paths.insert(name.clone(), path);
        names.push(name);
    }
    names.sort();
    std::fs::create_dir_all(dst).map_err(io(dst))?;
    if is_sealed(dst) {
        return Err(SealError::Envelope {
            path: dst.join(ENVELOPE_FILE),
            message: "this version is already sealed; seal into a new version".into(),
        });
    }
    let mut envelope = Envelope {
        format: FORMAT.into(),
        model: model.into(),
        version: version.into(),
        chunk_size,
        files: BTreeMap::new(),
    };
    let mut reports = Vec::new();
    for name in names {
        let from = paths[&name].clone();
        if name == crate::signing::SIGNATURE_FILE {
            std::fs::copy(&from, dst.join(&name)).map_err(io(&from))?;
            continue;
        }
        let (sealed, report) = seal_file(&from, dst, &envelope, &name, kek)?;
        envelope.files.insert(name, sealed);
        reports.push(report);
    }
    envelope.write(dst)?;
    Ok(reports)
}

fn seal_file(
    from: &Path,
    dst: &Path,
    envelope: &Envelope,
    name: &str,
    kek: &dyn KeyProvider,
) -> Result<(SealedFile, SealedReport), SealError> {
    let mut input = std::fs::File::open(from).map_err(io(from))?;
    let plaintext_bytes = input.metadata().map_err(io(from))?.len();
    let mut dek = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut dek[..]).map_err(|_| SealError::Crypto("no randomness"))?;
    let key = data_key(&dek)?;
    let out_path = dst.join(format!("{name}{SEALED_SUFFIX}"));
    let tmp = out_path.with_extension("tmp");
    let mut out =
        std::io::BufWriter::with_capacity(4 << 20, std::fs::File::create(&tmp).map_err(io(&tmp))?);
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&envelope.chunk_size.to_le_bytes());
    out.write_all(&header).map_err(io(&tmp))?;
    let chunk = envelope.chunk_size as usize;
    let mut buf = Zeroizing::new(vec![0u8; chunk + TAG_LEN]);
    let mut hasher = Sha256::new();
    let (mut index, mut done) = (0u64, 0u64);
    loop {
        let want = (plaintext_bytes - done).min(chunk as u64) as usize;
        input.read_exact(&mut buf[..want]).map_err(io(from))?;
        hasher.update(&buf[..want]);
        done += want as u64;
        let last = done == plaintext_bytes;
        let aad = chunk_aad(&envelope.model, &envelope.version, name, index, last);
        let tag = key
            .seal_in_place_separate_tag(chunk_nonce(index, last), Aad::from(&aad), &mut buf[..want])
            .map_err(|_| SealError::Crypto("sealing failed"))?;
        out.write_all(&buf[..want])
            .and_then(|()| out.write_all(tag.as_ref()))
            .map_err(io(&tmp))?;
        index += 1;
        if last {
            break;
        }
    }
    let file = out.into_inner().map_err(|e| SealError::Io {
        path: tmp.clone(),
        message: e.to_string(),
    })?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &out_path).map_err(io(&out_path))?;
    sync_dir(&out_path)?;
    let wrapped = kek.wrap(&dek, &envelope.wrap_context(name, plaintext_bytes))?;
    Ok((
        SealedFile {
            kek_id: kek.kek_id().to_string(),
            wrapped_key: base64::engine::general_purpose::STANDARD.encode(wrapped),
            plaintext_bytes,
        },
        SealedReport {
            file: name.to_string(),
            plaintext_bytes,
            sha256: hex::encode(hasher.finalize()),
        },
    ))
}

/// One opened file: plaintext (in memory only) and its SHA-256.
pub struct Opened {
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
}

fn unwrap_key(
    dir: &Path,
    envelope: &Envelope,
    name: &str,
    kek: &dyn KeyProvider,
) -> Result<DataKey, SealError> {
    let path = dir.join(ENVELOPE_FILE);
    let entry = envelope
        .files
        .get(name)
        .ok_or_else(|| SealError::Envelope {
            path: path.clone(),
            message: format!("no entry for '{name}'"),
        })?;
    if entry.kek_id != kek.kek_id() {
        return Err(SealError::WrongKek {
            path: dir.join(format!("{name}{SEALED_SUFFIX}")),
            sealed_with: entry.kek_id.clone(),
            configured: kek.kek_id().to_string(),
        });
    }
    let wrapped = base64::engine::general_purpose::STANDARD
        .decode(&entry.wrapped_key)
        .map_err(|_| SealError::Envelope {
            path: path.clone(),
            message: format!("files.{name}.wrapped_key is not base64"),
        })?;
    kek.unwrap(&wrapped, &envelope.wrap_context(name, entry.plaintext_bytes))
        .map_err(|_| SealError::Tampered {
            path,
            message: format!(
                "the data key of '{name}' does not unwrap for {}@{}: the entry was edited, or the file was moved here from another model or version",
                envelope.model, envelope.version
            ),
        })
}

/// Decrypt one sealed file of the version folder `dir` in memory, hashing as it goes.
/// `max_bytes` bounds the plaintext.
pub fn open_file(
    dir: &Path,
    envelope: &Envelope,
    name: &str,
    kek: &dyn KeyProvider,
    max_bytes: u64,
) -> Result<Opened, SealError> {
    let path = dir.join(format!("{name}{SEALED_SUFFIX}"));
    let dek = unwrap_key(dir, envelope, name, kek)?;
    let key = data_key(&dek)?;
    let expected = envelope.files[name].plaintext_bytes;
    let tampered = |message: String| SealError::Tampered {
        path: path.clone(),
        message,
    };
    if expected > max_bytes {
        return Err(tampered(format!(
            "{expected} bytes, over models.max_model_bytes = {max_bytes}"
        )));
    }
    let chunk = envelope.chunk_size as u64;
    let chunks = expected.div_ceil(chunk).max(1);
    let sealed_len = HEADER_LEN as u64 + expected + chunks * TAG_LEN as u64;
    let mut file = std::fs::File::open(&path).map_err(io(&path))?;
    let actual_len = file.metadata().map_err(io(&path))?.len();
    if actual_len != sealed_len {
        return Err(tampered(format!(
            "{actual_len} bytes where {sealed_len} were sealed: the file was truncated or extended"
        )));
    }
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header).map_err(io(&path))?;
    if &header[..8] != MAGIC || header[8..12] != envelope.chunk_size.to_le_bytes() {
        return Err(tampered(
            "not a sealed file of this envelope (bad header)".into(),
        ));
    }
    // Two stages in step: this thread reads and decrypts chunk by chunk, a second hashes
    // each chunk once it is plaintext. One buffer: each chunk is read in after the
    // plaintext so far and decrypted onto its final place (over the previous tags).
    let mut buf = vec![0u8; expected as usize + TAG_LEN];
    let (tx, rx) = std::sync::mpsc::sync_channel::<&[u8]>(64);
    let outcome = std::thread::scope(|scope| {
        let hasher = scope.spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in rx {
                hasher.update(chunk);
            }
            hasher.finalize()
        });
        let mut rest: &mut [u8] = &mut buf[..];
        let mut decrypted = 0usize;
        for index in 0..chunks {
            let plain = (expected - index * chunk).min(chunk) as usize;
            let last = index + 1 == chunks;
            file.read_exact(&mut rest[..plain + TAG_LEN])
                .map_err(io(&path))?;
            let aad = chunk_aad(&envelope.model, &envelope.version, name, index, last);
            key.open_in_place(chunk_nonce(index, last), Aad::from(&aad), &mut rest[..plain + TAG_LEN])
                .map_err(|_| {
                    tampered(format!(
                        "chunk {index} of {chunks} fails authentication: the file was modified, its chunks reordered or cut, or it belongs to another model@version"
                    ))
                })?;
            let (done, tail) = std::mem::take(&mut rest).split_at_mut(plain);
            if tx.send(done).is_err() {
                return Err(SealError::Crypto("hashing stopped"));
            }
            rest = tail;
            decrypted += plain;
        }
        drop(tx);
        let digest = hasher
            .join()
            .map_err(|_| SealError::Crypto("hashing failed"))?;
        Ok((decrypted, digest))
    });
    let (decrypted, digest) = outcome?;
    buf.truncate(decrypted);
    Ok(Opened {
        bytes: buf,
        sha256: digest.into(),
    })
}

/// Rewrap every data key of the version folder `dir` from `old` to `new`. Data is not
/// touched. Entries already under `new` are left as they are, so an interrupted rotation
/// can be run again.
pub fn rotate_version(
    dir: &Path,
    old: &dyn KeyProvider,
    new: &dyn KeyProvider,
) -> Result<usize, SealError> {
    let mut envelope = Envelope::read(dir)?;
    let mut rewrapped = 0;
    let names: Vec<String> = envelope.files.keys().cloned().collect();
    for name in names {
        if envelope.files[&name].kek_id == new.kek_id() {
            continue;
        }
        let dek = unwrap_key(dir, &envelope, &name, old)?;
        let context = envelope.wrap_context(&name, envelope.files[&name].plaintext_bytes);
        let wrapped = new.wrap(&dek, &context)?;
        if let Some(entry) = envelope.files.get_mut(&name) {
            entry.kek_id = new.kek_id().to_string();
            entry.wrapped_key = base64::engine::general_purpose::STANDARD.encode(wrapped);
        }
        rewrapped += 1;
    }
    if rewrapped > 0 {
        envelope.write(dir)?;
    }
    Ok(rewrapped)
}

#[cfg(test)]
mod tests;
