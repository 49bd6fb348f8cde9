//! Self-test vectors: inputs and the outputs a reference runtime gave for them, in a version's
//! `selftest.json`, run at every load. A runtime bug, a corrupted artifact or weights altered
//! and re-pinned then refuse the version (`self_test_failed`, naming the output and the first
//! differing element) before any caller sees an answer.
//!
//! The file sits in the version folder, so a version's signature covers it, and the manifest
//! may pin its SHA-256 (`selftest_sha256`). Tensors are written as in V2 requests
//! (`{"name", "datatype", "shape", "data"}`), so an export script writes them from its
//! onnxruntime run with `json.dump`:
//!
//! ```json
//! {"tolerance": {"absolute": 1e-5, "relative": 1e-4},
//!  "cases": [{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}],
//!             "outputs": [{"name": "label", "datatype": "INT64", "shape": [1], "data": [0]}]}]}
//! ```

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use tract_onnx::prelude::*;

use crate::v2::{self, DecodeLimits};
use crate::{ModelError, Runtime};

/// The file's name in a version folder.
pub const SELFTEST_FILE: &str = "selftest.json";

const MAX_SELFTEST_BYTES: usize = 4 << 20;
const MAX_CASES: usize = 64;
const LIMITS: DecodeLimits = DecodeLimits {
    max_tensor_elements: 1 << 20,
    max_json_depth: 16,
};

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Floats may differ by `absolute + relative × |expected|`.
    pub absolute: f64,
    pub relative: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            absolute: 1e-5,
            relative: 1e-4,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    description: String,
    #[serde(default)]
    tolerance: Option<Tolerance>,
    cases: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    inputs: Vec<Value>,
    outputs: Vec<Value>,
}

struct Case {
    inputs: Vec<v2::InputTensor>,
    outputs: Vec<v2::InputTensor>,
}

/// A parsed `selftest.json`.
pub struct SelfTest {
    tolerance: Tolerance,
    cases: Vec<Case>,
}

fn invalid(path: &Path, message: String) -> ModelError {
    ModelError::Invalid {
        path: path.to_path_buf(),
        message: format!("{message} (see docs/supply-chain.md, self-test vectors)"),
    }
}

fn tensors(path: &Path, at: &str, items: Vec<Value>) -> Result<Vec<v2::InputTensor>, ModelError> {
    let body = serde_json::to_vec(&serde_json::json!({ "inputs": items }))
        .map_err(|e| invalid(path, format!("{at}: {e}")))?;
    v2::decode_request(&body, None, LIMITS)
        .map(|r| r.inputs)
        .map_err(|e| {
            invalid(
                path,
                format!("{at}: {}", e.message.replace("inputs[", "tensor [")),
            )
        })
}

impl SelfTest {
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<SelfTest, ModelError> {
        if bytes.len() > MAX_SELFTEST_BYTES {
            return Err(invalid(
                path,
                format!("over {MAX_SELFTEST_BYTES} bytes; keep a few representative rows"),
            ));
        }
        let raw: RawFile = serde_json::from_slice(bytes)
            .map_err(|e| invalid(path, format!("not a self-test file: {e}")))?;
        let _ = raw.description;
        if raw.cases.is_empty() || raw.cases.len() > MAX_CASES {
            return Err(invalid(
                path,
                format!(
                    "`cases` must hold 1 to {MAX_CASES} cases, it holds {}",
                    raw.cases.len()
                ),
            ));
        }
        let tolerance = raw.tolerance.unwrap_or_default();
        let sane = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if !sane(tolerance.absolute) || !sane(tolerance.relative) {
            return Err(invalid(
                path,
                "`tolerance.absolute` and `tolerance.relative` must be between 0 and 1".into(),
            ));
        }
        let mut cases = Vec::with_capacity(raw.cases.len());
        for (i, case) in raw.cases.into_iter().enumerate() {
            if case.outputs.is_empty() {
                return Err(invalid(
                    path,
                    format!("cases[{i}].outputs is empty: a case must expect something"),
                ));
            }
            cases.push(Case {
                inputs: tensors(path, &format!("cases[{i}].inputs"), case.inputs)?,
                outputs: tensors(path, &format!("cases[{i}].outputs"), case.outputs)?,
            });
        }
        Ok(SelfTest { tolerance, cases })
    }

    /// Runs every case; the first difference refuses the version.
    pub fn run(&self, path: &Path, runtime: &Runtime) -> Result<(), ModelError> {
        let failed = |message: String| ModelError::Refused {
            path: path.to_path_buf(),
            reason: "self_test_failed",
            message,
        };
        for (i, case) in self.cases.iter().enumerate() {
            let inputs = v2::bind_inputs(
                "self-test",
                case.inputs.clone(),
                &runtime.inputs,
                runtime.missing_values,
            )
            .map_err(|e| invalid(path, format!("cases[{i}].inputs: {}", e.message)))?;
            let outputs = runtime
                .run(inputs)
                .map_err(|e| failed(format!("case {i}: the model did not run: {e}")))?;
            for expected in &case.outputs {
                let Some(k) = runtime.outputs.iter().position(|o| o.name == expected.name) else {
                    return Err(invalid(
                        path,
                        format!(
                            "cases[{i}] expects output '{}', which the model does not have",
                            expected.name
                        ),
                    ));
                };
                compare(&outputs[k], &expected.tensor, self.tolerance).map_err(|what| {
                    failed(format!("case {i}, output '{}': {what}", expected.name))
                })?;
            }
        }
        Ok(())
    }
}

/// The first difference between `got` and `want`, described.
fn compare(got: &Tensor, want: &Tensor, tol: Tolerance) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!(
            "shape {:?}, expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    let floats = |g: Vec<f64>, w: Vec<f64>| -> Result<(), String> {
        for (j, (g, w)) in g.iter().zip(&w).enumerate() {
            let ok = (g - w).abs() <= tol.absolute + tol.relative * w.abs();
            if !ok || g.is_nan() != w.is_nan() {
                return Err(format!(
                    "element {j} is {g}, expected {w} (tolerance {} + {} × |expected|)",
                    tol.absolute, tol.relative
                ));
            }
        }
        Ok(())
    };
    let as_f64 = |t: &Tensor| -> Result<Vec<f64>, String> {
        let c = t.cast_to::<f64>().map_err(|e| e.to_string())?;
        let v = c
            .try_as_plain_ram()
            .and_then(|r| r.as_slice::<f64>().map(|s| s.to_vec()))
            .map_err(|e| e.to_string())?;
        Ok(v)
    };
    match (got.datum_type(), want.datum_type()) {
        (g, w) if g.is_float() && w.is_float() => floats(as_f64(got)?, as_f64(want)?),
        (DatumType::String, DatumType::String) => {
            let g = got
                .try_as_plain_ram()
                .and_then(|r| r.as_slice::<String>().map(|s| s.to_vec()))
                .map_err(|e| e.to_string())?;
            let w = want
                .try_as_plain_ram()
                .and_then(|r| r.as_slice::<String>().map(|s| s.to_vec()))
                .map_err(|e| e.to_string())?;
            match g.iter().zip(&w).position(|(a, b)| a != b) {
                Some(j) => Err(format!("element {j} is {:?}, expected {:?}", g[j], w[j])),
                None => Ok(()),
            }
        }
        (g, w)
            if !g.is_float()
                && !w.is_float()
                && g != DatumType::String
                && w != DatumType::String =>
        {
            let (gv, wv) = (as_f64(got)?, as_f64(want)?);
            match gv.iter().zip(&wv).position(|(a, b)| a != b) {
                Some(j) => Err(format!("element {j} is {}, expected {}", gv[j], wv[j])),
                None => Ok(()),
            }
        }
        (g, w) => Err(format!("datatype {g:?}, expected {w:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_files_name_the_field() {
        let p = Path::new("v/selftest.json");
        for (text, want) in [
            ("{}", "cases"),
            (r#"{"cases": []}"#, "1 to 64"),
            (
                r#"{"cases": [{"inputs": [], "outputs": []}]}"#,
                "outputs is empty",
            ),
            (
                r#"{"tolerance": {"absolute": 5, "relative": 0}, "cases": [{"inputs": [], "outputs": [1]}]}"#,
                "between 0 and 1",
            ),
            (
                r#"{"cases": [{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1]}], "outputs": [{"name": "y", "datatype": "FP32", "shape": [1], "data": [1]}]}]}"#,
                "cases[0].inputs",
            ),
        ] {
            let e = SelfTest::parse(p, text.as_bytes())
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn comparison_names_the_first_difference() {
        let t = |v: &[f32]| Tensor::from_shape(&[v.len()], v).unwrap();
        let tol = Tolerance::default();
        assert!(compare(&t(&[1.0, 2.0]), &t(&[1.0, 2.000001]), tol).is_ok());
        let e = compare(&t(&[1.0, 2.5]), &t(&[1.0, 2.0]), tol).unwrap_err();
        assert!(e.contains("element 1 is 2.5, expected 2"), "{e}");
        let i = |v: &[i64]| Tensor::from_shape(&[v.len()], v).unwrap();
        assert!(compare(&i(&[0, 1, 1]), &i(&[0, 1, 0]), tol)
            .unwrap_err()
            .contains("element 2"));
        assert!(compare(&i(&[0]), &t(&[0.0]), tol)
            .unwrap_err()
            .contains("datatype"));
    }
}
