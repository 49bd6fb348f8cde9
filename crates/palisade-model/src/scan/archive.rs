//! Zip archives (PyTorch `.pt`/`.pth`/`.bin`, Keras `.keras`, plain `.zip`), read strictly.
//!
//! Why not a general zip library: the scanner must see what an attacker wrote, not a
//! sanitized view. A name like `../../.ssh/authorized_keys` (zip slip), a local header whose
//! name differs from the central directory's (each tool trusts a different one), a symlink
//! entry, or entries that overlap (zip bombs) are findings here, where a library would
//! quietly clean or follow them. Only the members the scanner reads are inflated, each under
//! a size cap.

use std::borrow::Cow;

use super::{Finding, Severity};

/// Limits for one archive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    /// Largest member inflated for scanning.
    pub max_member_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1 << 16,
            max_member_bytes: 1 << 30,
        }
    }
}

/// One archive member, as the central directory lists it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub method: u16,
    pub compressed: u64,
    pub uncompressed: u64,
    /// Offset of the member's data (after its local header).
    pub data_at: u64,
    pub encrypted: bool,
    pub symlink: bool,
}

/// The archive's entries and what was wrong with its structure.
#[derive(Debug, Default)]
pub struct Archive {
    pub entries: Vec<Entry>,
    pub findings: Vec<Finding>,
}

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

pub fn is_zip(data: &[u8]) -> bool {
    data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06")
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// Read the central directory and check every entry against its local header.
pub fn read(file: &str, data: &[u8], limits: Limits) -> Archive {
    let mut archive = Archive::default();
    let finding = |rule: &'static str, severity: Severity, offset: u64, message: String| Finding {
        rule,
        severity,
        file: file.to_string(),
        offset,
        message,
    };
    let malformed = |offset: u64, message: &str| {
        finding(
            "archive.malformed",
            Severity::Medium,
            offset,
            message.to_string(),
        )
    };
    // The end record is in the last 64 KiB + 22 bytes (its comment is at most 64 KiB).
    let search_from = data.len().saturating_sub(22 + 0xffff);
    let Some(eocd) = (search_from..data.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(data, i) == Some(EOCD))
    else {
        archive
            .findings
            .push(malformed(0, "no end-of-central-directory record"));
        return archive;
    };
    let (mut count, mut cd_at) = (
        u64::from(u16_at(data, eocd + 10).unwrap_or(0)),
        u64::from(u32_at(data, eocd + 16).unwrap_or(0)),
    );
    if count == 0xffff || cd_at == 0xffff_ffff {
        let zip64 = eocd
            .checked_sub(20)
            .filter(|&l| u32_at(data, l) == Some(ZIP64_LOCATOR))
            .and_then(|l| u64_at(data, l + 8))
            .and_then(|at| usize::try_from(at).ok())
            .filter(|&at| u32_at(data, at) == Some(ZIP64_EOCD));
        match zip64.and_then(|at| Some((u64_at(data, at + 32)?, u64_at(data, at + 48)?))) {
            Some((c, at)) => (count, cd_at) = (c, at),
            None => {
                archive.findings.push(malformed(
                    eocd as u64,
                    "zip64 markers without a zip64 end record",
                ));
                return archive;
            }
        }
    }
    if count > limits.max_entries as u64 {
        archive.findings.push(finding(
            "archive.too-many-entries",
            Severity::High,
            eocd as u64,
            format!("{count} entries, over the limit of {}", limits.max_entries),
        ));
        return archive;
    }
    let mut at = usize::try_from(cd_at).unwrap_or(usize::MAX);
    for _ in 0..count {
        if u32_at(data, at) != Some(CENTRAL) {
            archive.findings.push(malformed(
                at as u64,
                "central directory entry expected here",
            ));
            break;
        }
        let fields = (|| {
            Some((
                u16_at(data, at + 4)?,
                u16_at(data, at + 8)?,
                u16_at(data, at + 10)?,
                u64::from(u32_at(data, at + 20)?),
                u64::from(u32_at(data, at + 24)?),
                usize::from(u16_at(data, at + 28)?),
                usize::from(u16_at(data, at + 30)?),
                usize::from(u16_at(data, at + 32)?),
                u32_at(data, at + 38)?,
                u64::from(u32_at(data, at + 42)?),
            ))
        })();
        let Some((
            made_by,
            flags,
            method,
            mut compressed,
            mut uncompressed,
            n,
            m,
            k,
            attrs,
            mut local,
        )) = fields
        else {
            archive
                .findings
                .push(malformed(at as u64, "central directory entry is cut short"));
            break;
        };
        let (Some(raw_name), Some(extra)) = (
            data.get(at + 46..at + 46 + n),
            data.get(at + 46 + n..at + 46 + n + m),
        ) else {
            archive
                .findings
                .push(malformed(at as u64, "central directory entry is cut short"));
            break;
        };
        // Zip64 sizes and offset live in extra field 0x0001, in this order, when maxed out.
        let mut x = 0;
        while x + 4 <= extra.len() {
            let (id, len) = (
                u16_at(extra, x).unwrap_or(0),
                usize::from(u16_at(extra, x + 2).unwrap_or(0)),
            );
            if id == 1 {
                let mut f = x + 4;
                for v in [&mut uncompressed, &mut compressed, &mut local] {
                    if *v == 0xffff_ffff {
                        if let Some(wide) = u64_at(extra, f) {
                            *v = wide;
                            f += 8;
                        }
                    }
                }
            }
            x += 4 + len;
        }
        let name = String::from_utf8_lossy(raw_name).into_owned();
        let entry_at = at as u64;
        at += 46 + n + m + k;

        if let Some(why) = traversal(&name) {
            archive.findings.push(finding(
                "archive.path-traversal",
                Severity::Critical,
                entry_at,
                format!("member '{name}' {why}: extracting it writes outside the target folder (zip slip)"),
            ));
        }
        // Unix mode in the high 16 bits of the external attributes, when made on Unix.
        let symlink = made_by >> 8 == 3 && (attrs >> 16) & 0o170000 == 0o120000;
        if symlink {
            archive.findings.push(finding(
                "archive.symlink",
                Severity::High,
                entry_at,
                format!("member '{name}' is a symbolic link; extracting it can point reads or writes anywhere"),
            ));
        }
        let encrypted = flags & 1 != 0;
        // The local header repeats the name; tools disagree on which one to trust.
        let local_at = usize::try_from(local).unwrap_or(usize::MAX);
        let local_fields = (|| {
            if u32_at(data, local_at)? != LOCAL {
                return None;
            }
            let (ln, lm) = (
                usize::from(u16_at(data, local_at + 26)?),
                usize::from(u16_at(data, local_at + 28)?),
            );
            Some((
                data.get(local_at + 30..local_at + 30 + ln)?,
                local_at + 30 + ln + lm,
            ))
        })();
        let Some((local_name, data_at)) = local_fields else {
            archive.findings.push(malformed(
                entry_at,
                &format!("member '{name}': no local header where the directory points"),
            ));
            continue;
        };
        if local_name != raw_name {
            archive.findings.push(finding(
                "archive.name-mismatch",
                Severity::High,
                local,
                format!(
                    "member '{name}' is called '{}' in its local header; extractors disagree on which name wins",
                    String::from_utf8_lossy(local_name)
                ),
            ));
        }
        if (data_at as u64).saturating_add(compressed) > data.len() as u64 {
            archive.findings.push(malformed(
                data_at as u64,
                &format!("member '{name}' runs past the end of the archive"),
            ));
            continue;
        }
        archive.entries.push(Entry {
            name,
            method,
            compressed,
            uncompressed,
            data_at: data_at as u64,
            encrypted,
            symlink,
        });
    }
    // Members sharing bytes are how "overlapping" zip bombs multiply one payload.
    let mut spans: Vec<(u64, u64, &str)> = archive
        .entries
        .iter()
        .filter(|e| e.compressed > 0)
        .map(|e| (e.data_at, e.data_at + e.compressed, e.name.as_str()))
        .collect();
    spans.sort_unstable();
    if let Some(w) = spans.windows(2).find(|w| w[1].0 < w[0].1) {
        let f = finding(
            "archive.overlapping-entries",
            Severity::High,
            w[1].0,
            format!("members '{}' and '{}' share bytes", w[0].2, w[1].2),
        );
        archive.findings.push(f);
    }
    archive
}

/// Why a member name escapes the extraction folder, if it does.
fn traversal(name: &str) -> Option<&'static str> {
    if name.contains('\0') {
        return Some("contains a NUL byte");
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Some("is an absolute path");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some("starts with a drive letter");
    }
    if name.split(['/', '\\']).any(|part| part == "..") {
        return Some("climbs out with '..'");
    }
    None
}

/// The uncompressed bytes of one member, or why they cannot be had.
pub fn member<'a>(data: &'a [u8], entry: &Entry, limits: Limits) -> Result<Cow<'a, [u8]>, String> {
    if entry.encrypted {
        return Err("encrypted; its content cannot be checked".into());
    }
    if entry.uncompressed > limits.max_member_bytes {
        return Err(format!(
            "{} bytes uncompressed, over the scanner's {}-byte limit",
            entry.uncompressed, limits.max_member_bytes
        ));
    }
    let start = usize::try_from(entry.data_at).map_err(|e| e.to_string())?;
    let end = start
        .checked_add(usize::try_from(entry.compressed).map_err(|e| e.to_string())?)
        .filter(|&e| e <= data.len())
        .ok_or("runs past the end of the archive")?;
    let raw = &data[start..end];
    match entry.method {
        0 => Ok(Cow::Borrowed(raw)),
        8 => miniz_oxide::inflate::decompress_to_vec_with_limit(
            raw,
            usize::try_from(limits.max_member_bytes).unwrap_or(usize::MAX),
        )
        .map(Cow::Owned)
        .map_err(|e| format!("does not inflate: {:?}", e.status)),
        m => Err(format!(
            "compression method {m} is not supported by the scanner"
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stored (uncompressed) zip, local names optionally different from central ones.
    pub(crate) fn zip(members: &[(&str, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (central_name, local_name, body) in members {
            let offset = out.len() as u32;
            out.extend_from_slice(&LOCAL.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&0u32.to_le_bytes()); // crc (unchecked)
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(local_name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(local_name.as_bytes());
            out.extend_from_slice(body);
            central.extend_from_slice(&CENTRAL.to_le_bytes());
            central.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&0u32.to_le_bytes());
            central.extend_from_slice(&(body.len() as u32).to_le_bytes());
            central.extend_from_slice(&(body.len() as u32).to_le_bytes());
            central.extend_from_slice(&(central_name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 8]);
            central.extend_from_slice(&(0o100644u32 << 16).to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(central_name.as_bytes());
        }
        let cd_at = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&EOCD.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_at.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn rules(data: &[u8]) -> Vec<&'static str> {
        read("t.zip", data, Limits::default())
            .findings
            .iter()
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn plain_archive_reads_back() {
        let z = zip(&[
            ("a/data.pkl", "a/data.pkl", b"hello"),
            ("a/version", "a/version", b"3"),
        ]);
        let archive = read("t.zip", &z, Limits::default());
        assert!(archive.findings.is_empty(), "{:?}", archive.findings);
        assert_eq!(archive.entries.len(), 2);
        let body = member(&z, &archive.entries[0], Limits::default()).unwrap();
        assert_eq!(&*body, b"hello");
    }

    #[test]
    fn zip_slip_and_name_tricks_are_found() {
        for name in [
            "../../etc/cron.d/x",
            "/etc/passwd",
            "a\\..\\..\\x",
            "C:/x",
            "ok/../../x",
        ] {
            assert_eq!(
                rules(&zip(&[(name, name, b"x")])),
                ["archive.path-traversal"],
                "{name}"
            );
        }
        assert_eq!(
            rules(&zip(&[("a/data.pkl", "a/other.pkl", b"x")])),
            ["archive.name-mismatch"]
        );
        assert_eq!(rules(b"PK\x03\x04 not really"), ["archive.malformed"]);
    }

    #[test]
    fn cut_archives_are_malformed_not_panics() {
        // Every prefix of a valid archive lacks its end record, so each one must be reported
        // as malformed (an archive the scanner cannot read is never passed as clean).
        let z = zip(&[("a", "a", b"hello world")]);
        assert!(rules(&z).is_empty());
        for cut in 0..z.len() {
            let found = rules(&z[..cut]);
            assert!(
                found.contains(&"archive.malformed"),
                "cut at {cut}: {found:?}"
            );
            assert!(read("t.zip", &z[..cut], Limits::default())
                .entries
                .is_empty());
        }
    }
}
