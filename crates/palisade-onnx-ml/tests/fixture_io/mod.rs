//! Tensors as the fixtures and the bench's job files write them (JSON: `name`, `dtype`,
//! `shape`, and base64 little-endian `data` or string `values`). Shared by
//! `tests/reference.rs` and `examples/time_models.rs`.

use base64::Engine;
use serde_json::Value;
use tract_onnx::prelude::*;

pub fn bytes(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

pub fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

pub fn tensor(i: &Value) -> Tensor {
    let shape = shape(&i["shape"]);
    if i["dtype"] == "string" {
        let values: Vec<String> = i["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        return tract_ndarray::ArrayD::from_shape_vec(shape, values)
            .unwrap()
            .into_tensor();
    }
    let raw = bytes(&i["data"]);
    match i["dtype"].as_str().unwrap() {
        "f32" => Tensor::from_shape(
            &shape,
            &raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect::<Vec<_>>(),
        ),
        "f64" => Tensor::from_shape(
            &shape,
            &raw.chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .collect::<Vec<_>>(),
        ),
        "i64" => Tensor::from_shape(
            &shape,
            &raw.chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect::<Vec<_>>(),
        ),
        other => panic!("dtype {other}"),
    }
    .unwrap()
}
