//! Files only their owner may read: API-key and token files, signing keys, sealing keys, the
//! audit log. Every crate that writes one goes through here, so the mode is right from the
//! first byte (a file is never created open and tightened after), a replaced file is never
//! seen half-written, and a file from outside is read with a bound.
//!
//! Why a crate of its own: the audit log, the gate, the model tools and the CLI all write
//! such files, and the ground-floor crates may not import each other; this one imports
//! nothing and sits below them all.
#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

/// Owner read and write; nobody else.
const PRIVATE_FILE: u32 = 0o600;
/// Owner only, for folders.
const PRIVATE_DIR: u32 = 0o700;

fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE);
    }
    options
}

/// Open `path` for reading and appending (`append`) or writing, creating it owner-only if
/// it does not exist (the audit log's segments, index and history).
pub fn open_private(path: &Path, append: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).create(true);
    if append {
        options.append(true);
    } else {
        options.write(true);
    }
    private(&mut options).open(path)
}

/// Create `path` holding `bytes`, owner-only, synced; fails if it exists (a key is never
/// overwritten by accident).
pub fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let mut file = private(&mut options).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Create or replace `path` with `bytes`, owner-only, through a temporary file and a rename:
/// a reader sees the old file or the new one, never half of one.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    let mut file = private(&mut options).open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Create `path` and the parents it lacks, owner-only. A folder that exists is left as it
/// is (it may be the operator's); see [`restrict_dir`].
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR);
    }
    builder.create(path)
}

/// Make an existing folder owner-only (the audit log's folders, whoever created them).
pub fn restrict_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_DIR))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Make a rename or a new file in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// True if group or others may read or write `path` (a private key should not be).
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Read a whole file, refusing one over `max` bytes (outside data is always bounded).
pub fn read_limited(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("over the {max}-byte limit"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_are_owner_only_and_never_overwritten_by_create() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("a.key");
        create_private(&key, b"secret").unwrap();
        assert_eq!(std::fs::read(&key).unwrap(), b"secret");
        assert!(create_private(&key, b"other").is_err());
        assert_eq!(std::fs::read(&key).unwrap(), b"secret");
        assert!(!readable_by_others(&key));
        #[cfg(unix)]
        assert_eq!(mode(&key), 0o600);

        write_private_atomic(&key, b"replaced").unwrap();
        assert_eq!(std::fs::read(&key).unwrap(), b"replaced");
        #[cfg(unix)]
        assert_eq!(mode(&key), 0o600);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let mut log = open_private(&dir.path().join("log"), true).unwrap();
        log.write_all(b"1\n").unwrap();
        drop(log);
        let mut log = open_private(&dir.path().join("log"), true).unwrap();
        log.write_all(b"2\n").unwrap();
        assert_eq!(std::fs::read(dir.path().join("log")).unwrap(), b"1\n2\n");
    }

    #[test]
    fn private_folders_are_created_owner_only_and_existing_ones_restricted_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_private_dir(&nested).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(mode(&nested), 0o700);
            assert_eq!(mode(&dir.path().join("a")), 0o700);
            std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o755)).unwrap();
            create_private_dir(&nested).unwrap();
            assert_eq!(mode(&nested), 0o755, "an existing folder is left as it is");
            restrict_dir(&nested).unwrap();
            assert_eq!(mode(&nested), 0o700);
        }
    }

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [7u8; 10]).unwrap();
        assert_eq!(read_limited(&path, 10).unwrap().len(), 10);
        let err = read_limited(&path, 9).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("9-byte limit"));
    }
}
