//! Stage `inspect`: decode the request body against the model's signature. Nothing reaches
//! the runtime that does not match the model's input names, datatypes and shapes, or that
//! exceeds the element and nesting limits.

use bytes::Bytes;
use http::{header, HeaderMap};
use palisade_model::v2::{self, DecodeError, DecodeLimits, InferRequest};
use palisade_model::{Runtime, TValue, TVec};

use crate::refusal::Refusal;

const HEADER_LENGTH: &str = "inference-header-content-length";

impl From<DecodeError> for Refusal {
    fn from(e: DecodeError) -> Refusal {
        if e.status == 413 {
            Refusal::TooLarge(e.message)
        } else {
            Refusal::BadRequest(e.message)
        }
    }
}

pub fn infer_request(
    headers: &HeaderMap,
    body: &Bytes,
    limits: DecodeLimits,
) -> Result<InferRequest, Refusal> {
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        if !enc.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(Refusal::UnsupportedMediaType(
                "compressed request bodies are not accepted; send the body uncompressed".into(),
            ));
        }
    }
    let json_len = match headers.get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    Refusal::BadRequest(
                        "Inference-Header-Content-Length must be a non-negative integer".into(),
                    )
                })?,
        ),
    };
    Ok(v2::decode_request(body, json_len, limits)?)
}

pub fn bind(
    model: &str,
    request: &mut InferRequest,
    runtime: &Runtime,
) -> Result<TVec<TValue>, Refusal> {
    let inputs = std::mem::take(&mut request.inputs);
    Ok(v2::bind_inputs(
        model,
        inputs,
        &runtime.inputs,
        runtime.missing_values,
    )?)
}
