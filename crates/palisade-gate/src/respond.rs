//! Stage `respond`: V2 response bodies, built from outputs `harden` has already passed.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use palisade_model::v2::{self, InferRequest, OutputTensor};
use palisade_model::{LoadedModel, Runtime, TValue, TVec, TensorSpec};
use serde_json::json;

use crate::refusal::{bytes_response, json_response, printable, Refusal};

/// A response whose body is in memory, so `record` can hash it before it is sent.
pub type Reply = Response<Bytes>;

pub fn live() -> Reply {
    json_response(StatusCode::OK, &json!({ "live": true }))
}

pub fn ready(is_ready: bool) -> Reply {
    let status = if is_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &json!({ "ready": is_ready }))
}

/// The answer to a health probe (see `routes::health_probe`).
pub fn health(probe: crate::routes::HealthProbe, is_ready: bool) -> Reply {
    match probe {
        crate::routes::HealthProbe::Live => live(),
        crate::routes::HealthProbe::Ready => ready(is_ready),
    }
}

pub fn server_metadata() -> Reply {
    json_response(
        StatusCode::OK,
        &json!({
            "name": "palisade",
            "version": env!("CARGO_PKG_VERSION"),
            "extensions": ["binary_tensor_data"],
        }),
    )
}

fn specs(list: &[TensorSpec]) -> serde_json::Value {
    list.iter()
        .map(|s| json!({ "name": s.name, "datatype": s.datatype.as_str(), "shape": s.shape }))
        .collect()
}

pub fn model_metadata(model: &LoadedModel, version: Option<&str>, runtime: &Runtime) -> Reply {
    let versions: Vec<&str> = match version {
        Some(v) => vec![v],
        None => model.version_names(),
    };
    json_response(
        StatusCode::OK,
        &json!({
            "name": model.name,
            "versions": versions,
            "platform": "onnx_tract",
            "inputs": specs(&runtime.inputs),
            "outputs": specs(&runtime.outputs),
        }),
    )
}

/// Triton's model configuration, as `tritonclient`'s `get_model_config` reads it: the
/// signature in Triton's terms (no batching dimension split out: `max_batch_size` 0).
pub fn model_config(model: &LoadedModel, runtime: &Runtime) -> Reply {
    let tensors = |list: &[TensorSpec]| -> serde_json::Value {
        list.iter()
            .map(|s| json!({ "name": s.name, "data_type": s.datatype.triton_config_name(), "dims": s.shape }))
            .collect()
    };
    json_response(
        StatusCode::OK,
        &json!({
            "name": model.name,
            "platform": "onnx_tract",
            "backend": "palisade",
            "max_batch_size": 0,
            "input": tensors(&runtime.inputs),
            "output": tensors(&runtime.outputs),
        }),
    )
}

/// Triton's repository index: one entry per version of each model the caller may see.
pub fn repository_index(models: &[std::sync::Arc<LoadedModel>]) -> Reply {
    let entries: Vec<serde_json::Value> = models
        .iter()
        .flat_map(|m| {
            m.version_names()
                .into_iter()
                .map(|v| json!({ "name": m.name, "version": v, "state": "READY", "reason": "" }))
        })
        .collect();
    json_response(StatusCode::OK, &serde_json::Value::Array(entries))
}

pub fn model_ready(model: &LoadedModel, version: &str) -> Reply {
    json_response(
        StatusCode::OK,
        &json!({ "name": model.name, "version": version, "ready": true }),
    )
}

/// Encode outputs: all of them in the model's order, or those the request names.
pub fn inference(
    model: &str,
    version: &str,
    request: &InferRequest,
    runtime: &Runtime,
    outputs: &TVec<TValue>,
) -> Result<Reply, Refusal> {
    let selected: Vec<OutputTensor<'_>> = match &request.outputs {
        None => runtime
            .outputs
            .iter()
            .zip(outputs.iter())
            .map(|(spec, t)| OutputTensor {
                name: &spec.name,
                tensor: t,
                binary: request.binary_output,
            })
            .collect(),
        Some(wanted) => {
            let mut list = Vec::with_capacity(wanted.len());
            for w in wanted {
                let ix = runtime
                    .outputs
                    .iter()
                    .position(|s| s.name == w.name)
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            runtime.outputs.iter().map(|s| s.name.as_str()).collect();
                        Refusal::BadRequest(format!(
                            "model '{model}' has no output '{}'; its outputs are: {}",
                            printable(&w.name),
                            known.join(", ")
                        ))
                    })?;
                list.push(OutputTensor {
                    name: &runtime.outputs[ix].name,
                    tensor: &outputs[ix],
                    binary: w.binary.unwrap_or(request.binary_output),
                });
            }
            list
        }
    };
    let encoded = v2::encode_response(model, version, request.id.as_deref(), &selected)
        .map_err(Refusal::Internal)?;
    let content_type = if encoded.json_len.is_some() {
        "application/octet-stream"
    } else {
        "application/json"
    };
    let mut reply = bytes_response(StatusCode::OK, content_type, Bytes::from(encoded.body));
    if let Some(n) = encoded.json_len {
        reply
            .headers_mut()
            .insert("inference-header-content-length", HeaderValue::from(n));
    }
    Ok(reply)
}
