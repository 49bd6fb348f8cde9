//! Stage `respond`: V2 response bodies. Output hardening (top-k, rounding, PII) will sit
//! between inference and [`inference`].

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
