//! safetensors: an 8-byte little-endian header length, a JSON header, then raw tensor bytes.
//!
//! The format is safe by design (no code), so what can go wrong is the header lying: a
//! length that makes a loader allocate gigabytes, offsets that point outside the file or
//! into another tensor (two names aliasing one buffer), or a shape whose element count does
//! not match the bytes it claims. Loaders differ in how they handle each; the scanner
//! refuses them all, as the reference implementation does.

use serde_json::Value;

use super::{Finding, Severity};

/// The reference implementation's cap on the JSON header.
pub const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;
/// Most tensors in one file.
pub const MAX_TENSORS: usize = 1 << 20;

/// Bytes per element of each dtype the format defines (sub-byte types are refused).
fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" | "C64" => 8,
        _ => return None,
    })
}

/// One tensor as the header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub begin: u64,
    pub end: u64,
}

/// Parse the header; `Err` is the finding that makes the file unusable.
pub fn read_header(file: &str, data: &[u8]) -> Result<Vec<TensorEntry>, Finding> {
    let finding = |rule: &'static str, offset: u64, message: String| Finding {
        rule,
        severity: Severity::High,
        file: file.to_string(),
        offset,
        message,
    };
    let malformed =
        |offset: u64, message: String| finding("safetensors.malformed-header", offset, message);
    let Some(len_bytes) = data.get(..8) else {
        return Err(malformed(0, "shorter than the 8-byte header length".into()));
    };
    let mut len = [0u8; 8];
    len.copy_from_slice(len_bytes);
    let header_len = u64::from_le_bytes(len);
    if header_len > MAX_HEADER_BYTES {
        return Err(finding(
            "safetensors.oversize-header",
            0,
            format!("header claims {header_len} bytes, over the {MAX_HEADER_BYTES}-byte limit"),
        ));
    }
    let data_start = 8 + header_len;
    if data_start > data.len() as u64 {
        return Err(malformed(
            0,
            format!(
                "header claims {header_len} bytes but the file has {}",
                data.len().saturating_sub(8)
            ),
        ));
    }
    let header = &data[8..data_start as usize];
    if header.first() != Some(&b'{') {
        return Err(malformed(8, "header does not start with '{'".into()));
    }
    let parsed: serde_json::Map<String, Value> = serde_json::from_slice(header)
        .map_err(|e| malformed(8, format!("header is not a JSON object: {e}")))?;
    if parsed.len() > MAX_TENSORS {
        return Err(malformed(8, format!("more than {MAX_TENSORS} tensors")));
    }
    let data_len = data.len() as u64 - data_start;
    let mut tensors = Vec::with_capacity(parsed.len());
    for (name, value) in parsed {
        if name == "__metadata__" {
            let all_strings = value
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string));
            if !all_strings {
                return Err(malformed(
                    8,
                    "__metadata__ must map strings to strings".into(),
                ));
            }
            continue;
        }
        let entry = tensor_entry(&name, &value).map_err(|m| malformed(8, m))?;
        let size = dtype_size(&entry.dtype).ok_or_else(|| {
            malformed(
                8,
                format!("tensor '{name}': unknown dtype '{}'", entry.dtype),
            )
        })?;
        if entry.begin > entry.end || entry.end > data_len {
            return Err(finding(
                "safetensors.offset-out-of-range",
                data_start + entry.begin.min(data_len),
                format!(
                    "tensor '{name}': data_offsets [{}, {}] outside the {data_len} data bytes",
                    entry.begin, entry.end
                ),
            ));
        }
        let expected = entry
            .shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d));
        if expected != Some(entry.end - entry.begin) {
            return Err(finding(
                "safetensors.shape-mismatch",
                data_start + entry.begin,
                format!(
                    "tensor '{name}': {} of shape {:?} needs {} bytes but its offsets span {}",
                    entry.dtype,
                    entry.shape,
                    expected.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string()),
                    entry.end - entry.begin
                ),
            ));
        }
        tensors.push(entry);
    }
    // Tensors must tile the data exactly: no overlap (aliasing) and no hidden gaps.
    tensors.sort_by_key(|t| (t.begin, t.end));
    let mut cursor = 0u64;
    for t in &tensors {
        if t.begin < cursor {
            return Err(finding(
                "safetensors.overlapping-tensors",
                data_start + t.begin,
                format!(
                    "tensor '{}' starts at {} inside the previous tensor (ends at {cursor})",
                    t.name, t.begin
                ),
            ));
        }
        if t.begin > cursor {
            return Err(malformed(
                data_start + cursor,
                format!(
                    "{} unreferenced bytes before tensor '{}'",
                    t.begin - cursor,
                    t.name
                ),
            ));
        }
        cursor = t.end;
    }
    if cursor != data_len {
        return Err(malformed(
            data_start + cursor,
            format!(
                "{} bytes after the last tensor belong to none",
                data_len - cursor
            ),
        ));
    }
    Ok(tensors)
}

fn tensor_entry(name: &str, value: &Value) -> Result<TensorEntry, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("tensor '{name}' is not an object"))?;
    let dtype = obj
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("tensor '{name}': missing dtype"))?;
    let shape = obj
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("tensor '{name}': missing shape"))?;
    if shape.len() > 64 {
        return Err(format!("tensor '{name}': more than 64 dimensions"));
    }
    let shape = shape
        .iter()
        .map(|d| {
            d.as_u64()
                .ok_or_else(|| format!("tensor '{name}': shape holds a non-integer"))
        })
        .collect::<Result<Vec<u64>, String>>()?;
    let offsets = obj
        .get("data_offsets")
        .and_then(Value::as_array)
        .filter(|o| o.len() == 2)
        .ok_or_else(|| format!("tensor '{name}': data_offsets must be [begin, end]"))?;
    let (Some(begin), Some(end)) = (offsets[0].as_u64(), offsets[1].as_u64()) else {
        return Err(format!("tensor '{name}': data_offsets must be integers"));
    };
    Ok(TensorEntry {
        name: name.to_string(),
        dtype: dtype.to_string(),
        shape,
        begin,
        end,
    })
}

/// Scanner entry point: a well-formed file has no findings.
pub fn scan(file: &str, data: &[u8]) -> Vec<Finding> {
    match read_header(file, data) {
        Ok(_) => Vec::new(),
        Err(f) => vec![f],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data_len: usize) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.resize(out.len() + data_len, 0);
        out
    }

    fn rule(data: &[u8]) -> Option<&'static str> {
        scan("t.safetensors", data).first().map(|f| f.rule)
    }

    #[test]
    fn well_formed_files_pass() {
        let h = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"I64","shape":[],"data_offsets":[24,32]}}"#;
        assert_eq!(rule(&file(h, 32)), None);
        let entries = read_header("t", &file(h, 32)).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            rule(&file("{}", 0)),
            None,
            "an empty file of tensors is fine"
        );
    }

    #[test]
    fn lying_headers_are_refused() {
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert_eq!(rule(&huge), Some("safetensors.oversize-header"));
        assert_eq!(rule(b"\x05\0\0"), Some("safetensors.malformed-header"));
        assert_eq!(
            rule(&file("[1,2]", 0)),
            Some("safetensors.malformed-header")
        );
        assert_eq!(
            rule(&file("{\"a\":", 0)),
            Some("safetensors.malformed-header")
        );
        let out = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        assert_eq!(rule(&file(out, 8)), Some("safetensors.offset-out-of-range"));
        let backwards = r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#;
        assert_eq!(
            rule(&file(backwards, 8)),
            Some("safetensors.offset-out-of-range")
        );
        let overlap = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
        assert_eq!(
            rule(&file(overlap, 12)),
            Some("safetensors.overlapping-tensors")
        );
        let mismatch = r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
        assert_eq!(rule(&file(mismatch, 8)), Some("safetensors.shape-mismatch"));
        let overflow =
            r#"{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#;
        assert_eq!(rule(&file(overflow, 8)), Some("safetensors.shape-mismatch"));
        let gap = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}"#;
        assert_eq!(rule(&file(gap, 8)), Some("safetensors.malformed-header"));
        let dtype = r#"{"a":{"dtype":"F4","shape":[4],"data_offsets":[0,4]}}"#;
        assert_eq!(rule(&file(dtype, 4)), Some("safetensors.malformed-header"));
    }
}
