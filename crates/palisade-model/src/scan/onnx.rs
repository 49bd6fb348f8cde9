//! ONNX: where tensor data comes from, and which operator sets the graph needs.
//!
//! An ONNX file may keep tensors in "external data" files named by a path string. A runtime
//! that joins that string to the model folder reads whatever it points at: `/etc/shadow`,
//! `../../other-tenant/model.bin`, or a symlink planted next to the model. And an operator
//! from a domain other than the standard ones runs only with a custom-operator library,
//! which is native code shipped beside the model. Both are findings; the file is otherwise
//! data, decoded by the same protobuf reader the runtime uses.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto};
use tract_onnx::prelude::Framework;

use super::{Finding, Severity};

/// Operator-set domains the standard defines (the empty string is `ai.onnx`).
const STANDARD_DOMAINS: &[&str] = &[
    "",
    "ai.onnx",
    "ai.onnx.ml",
    "ai.onnx.training",
    "ai.onnx.preview.training",
];

/// Deepest nesting of subgraphs (`If`, `Loop`, `Scan` bodies) walked.
const MAX_GRAPH_DEPTH: usize = 64;

/// One tensor whose bytes live in another file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalRef {
    pub tensor: String,
    pub location: String,
    pub offset: u64,
    pub length: Option<u64>,
}

/// Decode a model with the runtime's own protobuf reader.
pub fn decode(data: &[u8]) -> Result<ModelProto, String> {
    tract_onnx::onnx()
        .proto_model_for_read(&mut &data[..])
        .map_err(|e| format!("not a readable ONNX model: {e}"))
}

/// Every external-data reference in the model, subgraphs and functions included.
pub fn external_refs(model: &ModelProto) -> Result<Vec<ExternalRef>, String> {
    let mut refs = Vec::new();
    let mut visit = |t: &TensorProto| -> Result<(), String> {
        refs.extend(external_ref(t)?);
        Ok(())
    };
    if let Some(g) = &model.graph {
        walk_tensors(g, 0, &mut visit)?;
    }
    for f in &model.functions {
        for n in &f.node {
            walk_node_tensors(n, 0, &mut visit)?;
        }
    }
    Ok(refs)
}

/// The external-data reference of one tensor, if its data lives in another file.
pub fn external_ref(t: &TensorProto) -> Result<Option<ExternalRef>, String> {
    if t.data_location != Some(1) && t.external_data.is_empty() {
        return Ok(None);
    }
    let mut location = None;
    let (mut offset, mut length) = (0u64, None);
    for kv in &t.external_data {
        let number = || {
            kv.value.parse::<u64>().map_err(|_| {
                format!(
                    "tensor '{}': external_data {} '{}' is not a number",
                    t.name, kv.key, kv.value
                )
            })
        };
        match kv.key.as_str() {
            "location" => location = Some(kv.value.clone()),
            "offset" => offset = number()?,
            "length" => length = Some(number()?),
            _ => {}
        }
    }
    let location =
        location.ok_or_else(|| format!("tensor '{}': external data without a location", t.name))?;
    Ok(Some(ExternalRef {
        tensor: t.name.clone(),
        location,
        offset,
        length,
    }))
}

fn walk_tensors(
    g: &GraphProto,
    depth: usize,
    visit: &mut dyn FnMut(&TensorProto) -> Result<(), String>,
) -> Result<(), String> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(format!("subgraphs nested deeper than {MAX_GRAPH_DEPTH}"));
    }
    for t in &g.initializer {
        visit(t)?;
    }
    for s in &g.sparse_initializer {
        for t in s.values.iter().chain(s.indices.iter()) {
            visit(t)?;
        }
    }
    for n in &g.node {
        walk_node_tensors(n, depth, visit)?;
    }
    Ok(())
}

fn walk_node_tensors(
    n: &NodeProto,
    depth: usize,
    visit: &mut dyn FnMut(&TensorProto) -> Result<(), String>,
) -> Result<(), String> {
    for a in &n.attribute {
        for t in a.t.iter().chain(&a.tensors) {
            visit(t)?;
        }
        for g in a.g.iter().chain(&a.graphs) {
            walk_tensors(g, depth + 1, visit)?;
        }
    }
    Ok(())
}

/// Every (domain, operator, node) the model uses, subgraphs and functions included.
fn operators(model: &ModelProto) -> Vec<(String, String, String)> {
    fn graph(g: &GraphProto, depth: usize, out: &mut Vec<(String, String, String)>) {
        if depth > MAX_GRAPH_DEPTH {
            return;
        }
        for n in &g.node {
            out.push((n.domain.clone(), n.op_type.clone(), n.name.clone()));
            for a in &n.attribute {
                for sub in a.g.iter().chain(&a.graphs) {
                    graph(sub, depth + 1, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    if let Some(g) = &model.graph {
        graph(g, 0, &mut out);
    }
    for f in &model.functions {
        for n in &f.node {
            out.push((n.domain.clone(), n.op_type.clone(), n.name.clone()));
        }
    }
    out
}

/// Why an external-data location may leave the model folder, if it may.
pub fn location_escapes(location: &str, dir: Option<&Path>) -> Option<String> {
    if location.is_empty() || location.contains('\0') {
        return Some("is empty or holds a NUL byte".into());
    }
    let b = location.as_bytes();
    if location.starts_with('/') || location.starts_with('\\') || (b.len() >= 2 && b[1] == b':') {
        return Some("is an absolute path".into());
    }
    if location.split(['/', '\\']).any(|p| p == "..") {
        return Some("climbs out of the model folder with '..'".into());
    }
    let dir = dir?;
    // Each component on disk: a symlink anywhere on the way can point outside.
    let mut at = dir.to_path_buf();
    for part in location
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
    {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Some(format!("goes through the symbolic link '{}'", at.display()));
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Scanner entry point. `dir` is the folder the model sits in, when it is on disk.
pub fn scan(file: &str, data: &[u8], dir: Option<&Path>) -> Vec<Finding> {
    let finding = |rule: &'static str, severity: Severity, message: String| Finding {
        rule,
        severity,
        file: file.to_string(),
        offset: 0,
        message,
    };
    // Unreadable is not harmless: what cannot be checked fails closed.
    let model = match decode(data) {
        Ok(m) => m,
        Err(e) => return vec![finding("onnx.malformed", Severity::High, e)],
    };
    // Protobuf decodes an empty file (and some noise) as an all-default message.
    let empty =
        |g: &GraphProto| g.node.is_empty() && g.output.is_empty() && g.initializer.is_empty();
    if model.graph.as_ref().is_none_or(empty) {
        return vec![finding(
            "onnx.no-graph",
            Severity::High,
            format!(
                "holds no graph ({} bytes): not an ONNX model, or an empty or truncated one",
                data.len()
            ),
        )];
    }
    let mut findings = Vec::new();
    match external_refs(&model) {
        Ok(refs) => {
            for r in refs {
                if let Some(why) = location_escapes(&r.location, dir) {
                    findings.push(finding(
                        "onnx.external-data-escape",
                        Severity::Critical,
                        format!(
                            "tensor '{}' reads external data from '{}', which {why}",
                            r.tensor, r.location
                        ),
                    ));
                } else if let Some(dir) = dir {
                    if !dir.join(&r.location).is_file() {
                        findings.push(finding(
                            "onnx.external-data-missing",
                            Severity::Medium,
                            format!(
                                "tensor '{}' reads external data from '{}', which does not exist",
                                r.tensor, r.location
                            ),
                        ));
                    }
                }
            }
        }
        Err(e) => findings.push(finding("onnx.malformed", Severity::High, e)),
    }
    let local_functions: HashSet<(String, String)> = model
        .functions
        .iter()
        .map(|f| {
            (
                f.domain.clone().unwrap_or_default(),
                f.name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let mut custom: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (domain, op, node) in operators(&model) {
        let standard = STANDARD_DOMAINS.contains(&domain.as_str());
        if !standard && !local_functions.contains(&(domain.clone(), op.clone())) {
            custom.entry(domain).or_insert((op, node));
        }
    }
    for (domain, (op, node)) in custom {
        findings.push(finding(
            "onnx.custom-domain",
            Severity::Medium,
            format!(
                "node '{node}' uses operator '{op}' from domain '{domain}', which runs only with a custom-operator library (native code)"
            ),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{OperatorSetIdProto, StringStringEntryProto};

    fn encode(model: &ModelProto) -> Vec<u8> {
        use prost::Message;
        model.encode_to_vec()
    }

    fn model_with_external(location: &str) -> ModelProto {
        let t = TensorProto {
            name: "w".into(),
            dims: vec![4],
            data_type: 1,
            data_location: Some(1),
            external_data: vec![StringStringEntryProto {
                key: "location".into(),
                value: location.into(),
            }],
            ..Default::default()
        };
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(GraphProto {
                initializer: vec![t],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn rules(data: &[u8], dir: Option<&Path>) -> Vec<&'static str> {
        scan("m.onnx", data, dir).iter().map(|f| f.rule).collect()
    }

    #[test]
    fn external_data_leaving_the_folder_is_critical() {
        for bad in ["../../etc/passwd", "/etc/shadow", "a/../../b", "C:\\x"] {
            assert_eq!(
                rules(&encode(&model_with_external(bad)), None),
                ["onnx.external-data-escape"],
                "{bad}"
            );
        }
        assert!(rules(&encode(&model_with_external("weights.bin")), None).is_empty());
    }

    #[test]
    fn symlinks_and_missing_files_are_found_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("weights.bin"), [0u8; 16]).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.bin")).unwrap();
        let data = encode(&model_with_external("weights.bin"));
        assert!(rules(&data, Some(dir.path())).is_empty());
        #[cfg(unix)]
        assert_eq!(
            rules(&encode(&model_with_external("link.bin")), Some(dir.path())),
            ["onnx.external-data-escape"]
        );
        assert_eq!(
            rules(&encode(&model_with_external("gone.bin")), Some(dir.path())),
            ["onnx.external-data-missing"]
        );
    }

    #[test]
    fn custom_domains_are_flagged_once_each() {
        let mut m = model_with_external("w.bin");
        let g = m.graph.as_mut().unwrap();
        g.initializer.clear();
        for (domain, op) in [
            ("com.microsoft", "FusedMatMul"),
            ("com.microsoft", "Gelu"),
            ("ai.onnx.ml", "TreeEnsembleRegressor"),
        ] {
            g.node.push(NodeProto {
                domain: domain.into(),
                op_type: op.into(),
                ..Default::default()
            });
        }
        let findings = scan("m.onnx", &encode(&m), None);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].rule, "onnx.custom-domain");
        assert!(findings[0].message.contains("com.microsoft"));
        assert_eq!(rules(b"\xff\xff\xff", None), ["onnx.malformed"]);
    }
}
