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
pub mod signing;
pub mod v2;

pub use datatype::DataType;
pub use error::ModelError;
pub use load::{LoadPolicy, Provenance};
pub use manifest::{Manifest, VersionEntry};
pub use repository::{LoadedModel, Repository};
pub use runtime::{Runtime, TensorSpec};

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
