//! Reading a node's attributes, with errors that name the operator, the node and the attribute.
//!
//! Every length is checked against the others before a kernel is built, so a malformed model is
//! refused at load with the attribute at fault, never indexed out of bounds at the first call.

use tract_hir::internal::*;
use tract_onnx::pb::{tensor_proto::DataType, AttributeProto, NodeProto, TensorProto};

/// The most elements any one attribute may hold: a forest of 2^24 nodes is far past anything a
/// trainer exports, and the bound keeps a hostile model from asking for unbounded memory.
pub(crate) const MAX_ATTRIBUTE_LEN: usize = 1 << 24;

/// The elements of an int64, float or string tensor attribute.
pub(crate) enum TensorValues {
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    Strings(Vec<String>),
}

pub(crate) struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    pub(crate) fn new(node: &'a NodeProto) -> Attrs<'a> {
        Attrs { node }
    }

    pub(crate) fn fail<T>(&self, attr: &str, problem: impl std::fmt::Display) -> TractResult<T> {
        bail!(
            "{} node '{}', attribute '{attr}': {problem}",
            self.node.op_type,
            self.node_name()
        )
    }

    pub(crate) fn fail_node<T>(&self, problem: impl std::fmt::Display) -> TractResult<T> {
        bail!(
            "{} node '{}': {problem}",
            self.node.op_type,
            self.node_name()
        )
    }

    fn node_name(&self) -> &str {
        if self.node.name.is_empty() {
            self.node.output.first().map(String::as_str).unwrap_or("")
        } else {
            &self.node.name
        }
    }

    fn find(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    fn checked_len<T>(&self, name: &str, v: Vec<T>) -> TractResult<Vec<T>> {
        if v.len() > MAX_ATTRIBUTE_LEN {
            return self.fail(
                name,
                format!(
                    "{} elements, more than the {MAX_ATTRIBUTE_LEN} allowed",
                    v.len()
                ),
            );
        }
        Ok(v)
    }

    pub(crate) fn ints(&self, name: &str) -> TractResult<Option<Vec<i64>>> {
        match self.find(name) {
            None => Ok(None),
            Some(a) => Ok(Some(self.checked_len(name, a.ints.clone())?)),
        }
    }

    pub(crate) fn ints_or_empty(&self, name: &str) -> TractResult<Vec<i64>> {
        Ok(self.ints(name)?.unwrap_or_default())
    }

    pub(crate) fn floats(&self, name: &str) -> TractResult<Option<Vec<f32>>> {
        match self.find(name) {
            None => Ok(None),
            Some(a) => Ok(Some(self.checked_len(name, a.floats.clone())?)),
        }
    }

    pub(crate) fn strings(&self, name: &str) -> TractResult<Option<Vec<String>>> {
        let Some(a) = self.find(name) else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(a.strings.len().min(MAX_ATTRIBUTE_LEN));
        for s in &a.strings {
            match std::str::from_utf8(s) {
                Ok(s) => out.push(s.to_string()),
                Err(_) => return self.fail(name, "holds a string that is not UTF-8"),
            }
        }
        Ok(Some(self.checked_len(name, out)?))
    }

    pub(crate) fn int(&self, name: &str) -> TractResult<Option<i64>> {
        Ok(self.find(name).map(|a| a.i))
    }

    pub(crate) fn float(&self, name: &str) -> TractResult<Option<f32>> {
        Ok(self.find(name).map(|a| a.f))
    }

    pub(crate) fn string(&self, name: &str) -> TractResult<Option<String>> {
        match self.find(name) {
            None => Ok(None),
            Some(a) => match std::str::from_utf8(&a.s) {
                Ok(s) => Ok(Some(s.to_string())),
                Err(_) => self.fail(name, "is not UTF-8"),
            },
        }
    }

    /// A `*_as_tensor` attribute (opset 3): a float or double tensor, read as f64.
    pub(crate) fn tensor_f64(&self, name: &str) -> TractResult<Option<Vec<f64>>> {
        let Some(a) = self.find(name) else {
            return Ok(None);
        };
        let Some(t) = a.t.as_ref() else {
            return self.fail(name, "is not a tensor");
        };
        let values = self.tensor_values_f64(name, t)?;
        Ok(Some(self.checked_len(name, values)?))
    }

    fn tensor_values_f64(&self, name: &str, t: &TensorProto) -> TractResult<Vec<f64>> {
        let raw = &t.raw_data;
        match DataType::try_from(t.data_type) {
            Ok(DataType::Float) if !raw.is_empty() => {
                if !raw.len().is_multiple_of(4) {
                    return self.fail(name, "raw float data is not a whole number of floats");
                }
                Ok(raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
                    .collect())
            }
            Ok(DataType::Float) => Ok(t.float_data.iter().map(|v| *v as f64).collect()),
            Ok(DataType::Double) if !raw.is_empty() => {
                if !raw.len().is_multiple_of(8) {
                    return self.fail(name, "raw double data is not a whole number of doubles");
                }
                Ok(raw
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect())
            }
            Ok(DataType::Double) => Ok(t.double_data.clone()),
            _ => self.fail(
                name,
                format!("has tensor type {}, expected float or double", t.data_type),
            ),
        }
    }

    /// An int64, float or string tensor attribute (LabelEncoder opset 4's keys and values).
    pub(crate) fn tensor_values(&self, name: &str) -> TractResult<Option<TensorValues>> {
        let Some(a) = self.find(name) else {
            return Ok(None);
        };
        let Some(t) = a.t.as_ref() else {
            return self.fail(name, "is not a tensor");
        };
        let raw = &t.raw_data;
        let values = match DataType::try_from(t.data_type) {
            Ok(DataType::Int64) if !raw.is_empty() => {
                if !raw.len().is_multiple_of(8) {
                    return self.fail(name, "raw int64 data is not a whole number of int64s");
                }
                TensorValues::Ints(
                    raw.chunks_exact(8)
                        .map(|b| {
                            i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                        })
                        .collect(),
                )
            }
            Ok(DataType::Int64) => TensorValues::Ints(t.int64_data.clone()),
            Ok(DataType::Float) => TensorValues::Floats(
                self.tensor_values_f64(name, t)?
                    .into_iter()
                    .map(|v| v as f32)
                    .collect(),
            ),
            Ok(DataType::String) => {
                let mut out = Vec::with_capacity(t.string_data.len());
                for s in &t.string_data {
                    match std::str::from_utf8(s) {
                        Ok(s) => out.push(s.to_string()),
                        Err(_) => return self.fail(name, "holds a string that is not UTF-8"),
                    }
                }
                TensorValues::Strings(out)
            }
            _ => {
                return self.fail(
                    name,
                    format!(
                        "has tensor type {}; int64, float and string tensors are served",
                        t.data_type
                    ),
                )
            }
        };
        let len = match &values {
            TensorValues::Ints(v) => v.len(),
            TensorValues::Floats(v) => v.len(),
            TensorValues::Strings(v) => v.len(),
        };
        if len > MAX_ATTRIBUTE_LEN {
            return self.fail(
                name,
                format!("{len} elements, more than the {MAX_ATTRIBUTE_LEN} allowed"),
            );
        }
        Ok(Some(values))
    }

    /// A uint8 tensor attribute (TreeEnsemble's `nodes_modes`).
    pub(crate) fn tensor_u8(&self, name: &str) -> TractResult<Option<Vec<u8>>> {
        let Some(a) = self.find(name) else {
            return Ok(None);
        };
        let Some(t) = a.t.as_ref() else {
            return self.fail(name, "is not a tensor");
        };
        let values: Vec<u8> = match DataType::try_from(t.data_type) {
            Ok(DataType::Uint8) if !t.raw_data.is_empty() => t.raw_data.clone(),
            Ok(DataType::Uint8) => t
                .int32_data
                .iter()
                .map(|v| {
                    u8::try_from(*v).or_else(|_| self.fail(name, format!("{v} is not a uint8")))
                })
                .collect::<TractResult<_>>()?,
            _ => {
                return self.fail(
                    name,
                    format!("has tensor type {}, expected uint8", t.data_type),
                )
            }
        };
        Ok(Some(self.checked_len(name, values)?))
    }

    /// Floats from `name`, or from `name_as_tensor` when the exporter wrote doubles.
    pub(crate) fn reals(&self, name: &str) -> TractResult<Option<Vec<f64>>> {
        let plain = self.floats(name)?;
        let tensor = self.tensor_f64(&format!("{name}_as_tensor"))?;
        match (plain, tensor) {
            (Some(_), Some(_)) => self.fail(
                name,
                format!("both '{name}' and '{name}_as_tensor' are set; keep one"),
            ),
            (Some(p), None) => Ok(Some(p.into_iter().map(|v| v as f64).collect())),
            (None, t) => Ok(t),
        }
    }

    /// Checks that an attribute has the length another one fixes.
    pub(crate) fn same_len(
        &self,
        name: &str,
        len: usize,
        other: &str,
        other_len: usize,
    ) -> TractResult<()> {
        if len != other_len {
            return self.fail(
                name,
                format!("has {len} elements but '{other}' has {other_len}"),
            );
        }
        Ok(())
    }
}
