//! Models on the ground floor: the repository on disk, manifests that pin every version's
//! digest, the tract runtime, and the Open Inference Protocol (V2) tensor codecs.
//!
//! Why loading is strict: everything that can be wrong with a model (digest, operators
//! the runtime lacks, shapes it cannot plan) is found at load, so a loaded model never fails
//! for those reasons at its first call.
#![forbid(unsafe_code)]

mod datatype;
mod error;
mod load;
mod manifest;
mod repository;
mod runtime;
pub mod scan;
pub mod seal;
pub mod selftest;
pub mod signing;
pub mod v2;

pub use datatype::DataType;
pub use error::ModelError;
pub use load::{build_version, read_plain, Files, LoadPolicy, Provenance, SignatureRule};
pub use manifest::{Manifest, Risk, RiskSource, TrustedRisk, VersionEntry, PERSONAL_DATA};
pub use repository::{LoadedModel, Repository};
pub use runtime::{Cost, Operators, RunError, Runtime, TensorSpec};

/// Re-exported so callers can build and read tensors without naming tract themselves.
pub use tract_onnx::prelude::{TValue, TVec, Tensor};

/// Model and version names: what may appear in a URL path and a file name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Rewrite every element of a string (BYTES) tensor; tensors of other types pass through.
pub fn rewrite_strings<E>(
    value: TValue,
    mut f: impl FnMut(&mut String) -> Result<(), E>,
) -> Result<TValue, E> {
    use tract_onnx::prelude::{DatumType, IntoTValue, IntoTensor};
    if value.datum_type() != DatumType::String {
        return Ok(value);
    }
    let mut tensor = value.into_tensor();
    if let Ok(mut view) = tensor.try_as_plain_ram_mut() {
        if let Ok(strings) = view.as_slice_mut::<String>() {
            for s in strings {
                f(s)?;
            }
        }
    }
    Ok(tensor.into_tvalue())
}

#[cfg(test)]
pub(crate) mod tests {
    /// The ai.onnx.ml operators, as the gate hands them in (a dev-dependency here).
    pub const ONNX_ML: crate::Operators = crate::Operators {
        register: palisade_onnx_ml::register,
        after_run: palisade_onnx_ml::clear_upper_vector_state,
        zipmap_classes: palisade_onnx_ml::zipmap_classes,
        after_plan: palisade_onnx_ml::replace_slow_standard_ops,
    };
}
