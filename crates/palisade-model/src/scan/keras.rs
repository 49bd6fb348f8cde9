//! Keras: `Lambda` layers carry marshalled Python bytecode that runs when the model loads.
//!
//! A `.keras` file is a zip whose `config.json` describes the layers; a legacy `.h5` file
//! keeps the same JSON in its `model_config` attribute. The JSON is parsed when there is a
//! `config.json`; in HDF5 the attribute is found by its bytes, because an HDF5 reader is a
//! large parser to expose to hostile files for one string (and HDF5 stores it contiguously).

use serde_json::Value;

use super::{Finding, Severity};

pub const HDF5_MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";

fn lambda(file: &str, offset: u64, layer: &str) -> Finding {
    Finding {
        rule: "keras.lambda-layer",
        severity: Severity::High,
        file: file.to_string(),
        offset,
        message: format!(
            "Lambda layer '{layer}' holds Python bytecode that runs when the model is loaded"
        ),
    }
}

/// A Keras `config.json` (from a `.keras` archive).
pub fn scan_config(file: &str, json: &[u8]) -> Vec<Finding> {
    let value: Value = match serde_json::from_slice(json) {
        Ok(v) => v,
        Err(e) => {
            return vec![Finding {
                rule: "keras.malformed",
                severity: Severity::Medium,
                file: file.to_string(),
                offset: 0,
                message: format!("config is not JSON: {e}"),
            }]
        }
    };
    let mut out = Vec::new();
    let mut stack = vec![&value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if map.get("class_name").and_then(Value::as_str) == Some("Lambda") {
                    let name = map
                        .get("config")
                        .and_then(|c| c.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    out.push(lambda(file, 0, name));
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// A legacy HDF5 (`.h5`) Keras model: look for Lambda layers in the stored JSON.
pub fn scan_hdf5(file: &str, data: &[u8]) -> Vec<Finding> {
    let mut out = Vec::new();
    for needle in [
        &b"\"class_name\": \"Lambda\""[..],
        b"\"class_name\":\"Lambda\"",
    ] {
        let mut from = 0;
        while let Some(i) = find(&data[from..], needle) {
            let at = from + i;
            // The layer name follows in its config: `"name": "..."`.
            let tail = &data[at..data.len().min(at + 512)];
            let name = find(tail, b"\"name\": \"")
                .map(|n| &tail[n + 9..])
                .and_then(|t| t.iter().position(|&b| b == b'"').map(|e| &t[..e]))
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_else(|| "?".into());
            out.push(lambda(file, at as u64, &name));
            from = at + needle.len();
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_layers_are_found_in_json_and_hdf5() {
        let config = br#"{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":{"name":"d"}},{"class_name":"Lambda","config":{"name":"evil","function":"4wEAAAAA"}}]}}"#;
        let f = scan_config("m.keras:config.json", config);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("'evil'"), "{}", f[0].message);
        assert!(scan_config("c", br#"{"class_name":"Dense"}"#).is_empty());
        assert_eq!(scan_config("c", b"{").len(), 1);

        let mut h5 = HDF5_MAGIC.to_vec();
        h5.extend_from_slice(
            b"\0\0junk{\"class_name\": \"Lambda\", \"config\": {\"name\": \"lam\"}}",
        );
        let f = scan_hdf5("m.h5", &h5);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("'lam'") && f[0].offset > 8);
    }
}
